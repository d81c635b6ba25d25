// createFlyteWebhookApp: the gateway as a Fastify instance. It wires the one error
// handler, request ids, OpenAPI + /docs, and the route plugin of each group; routes of
// endpoints that are not enabled are never registered, so they are neither served nor
// documented.
import { randomUUID } from "node:crypto";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { fastify } from "fastify";
import coreRoutes from "../routes/core.ts";
import runRoutes from "../routes/run.ts";
import taskRoutes from "../routes/task.ts";
import { appAllowlist, taskAllowlist, triggerAllowlist } from "./allowlist.ts";
import { ControlPlane } from "./controlplane/client.ts";
import { consoleBase } from "./controlplane/console.ts";
import { type EndpointGroup, GROUP_DESCRIPTIONS, resolveEnabledEndpoints } from "./endpoints.ts";
import { ErrorBody, handleFrameworkError, installErrorHandling } from "./errors.ts";
import type { App, Gateway } from "./gateway.ts";
import { loggerOption } from "./logging.ts";
import { DEFAULTS, type FlyteWebhookOptions } from "./options.ts";

/** Request ids we accept from callers: short, printable, no separators that break logs. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createFlyteWebhookApp(options: FlyteWebhookOptions): App {
  const name = options.name ?? DEFAULTS.name;
  // Throws on both lists set or unknown names, before anything is started.
  const enabled = resolveEnabledEndpoints({ endpointGroups: options.endpointGroups, endpoints: options.endpoints });
  const cp = options.controlPlane;
  if (!cp?.endpoint) throw new TypeError("controlPlane.endpoint is required (e.g. http://127.0.0.1:8089)");
  const controlPlane = new ControlPlane({
    endpoint: cp.endpoint,
    protocol: cp.protocol ?? DEFAULTS.protocol,
    org: cp.org ?? DEFAULTS.org,
    project: cp.project ?? DEFAULTS.project,
    domain: cp.domain ?? DEFAULTS.domain,
    deadlineMs: cp.deadlineMs ?? DEFAULTS.deadlineMs,
  });

  const app = fastify({
    ...loggerOption(options.logger),
    bodyLimit: options.bodyLimit ?? DEFAULTS.bodyLimit,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 256 },
    frameworkErrors: handleFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const gateway: Gateway = {
    name,
    controlPlane,
    enabled,
    allowTask: taskAllowlist(options.taskAllowlist),
    allowApp: appAllowlist(options.appAllowlist),
    allowTrigger: triggerAllowlist(options.triggerAllowlist),
    consoleBase: consoleBase(options.consoleUrl, cp.endpoint),
    abortReason: DEFAULTS.abortReason,
  };
  app.decorate("gateway", gateway);
  app.decorateRequest("credentials", null as never);
  app.addSchema(ErrorBody);
  installErrorHandling(app);
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  app.addHook("onClose", async () => controlPlane.close());

  // Tags of the groups that actually have a route, collected as routes are added, so a
  // group whose endpoints are enabled but not (yet) served is not documented.
  const tags: Array<{ name: string; description: string }> = [];
  app.addHook("onRoute", (routeOptions) => {
    const group = (routeOptions.schema?.tags as EndpointGroup[] | undefined)?.[0];
    if (group && GROUP_DESCRIPTIONS[group] && !tags.some((t) => t.name === group)) {
      tags.push({ name: group, description: GROUP_DESCRIPTIONS[group] });
    }
  });
  app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: options.title ?? `Flyte Webhook: ${name}`,
        description: options.description ?? DEFAULTS.description,
        version: options.version ?? DEFAULTS.version,
      },
      components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "Flyte API key" } } },
      tags,
    },
    refResolver: { buildLocalReference: (json) => String(json.$id) },
  });
  app.register(fastifySwaggerUi, { routePrefix: "/docs", uiConfig: { persistAuthorization: true } });
  app.register(async (docs) => {
    docs.get("/openapi.json", { schema: { hide: true } }, async () => docs.swagger());
  });

  app.register(coreRoutes);
  app.register(taskRoutes);
  app.register(runRoutes);
  return app;
}
