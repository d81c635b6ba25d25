// createFlyteWebhookApp: the gateway as a Fastify instance. It wires the one error
// handler, request ids, OpenAPI + /docs + /redoc, and the route plugin of each group; routes of
// endpoints that are not enabled are never registered, so they are neither served nor
// documented.
import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { fastify, LogController } from "fastify";
import appRoutes from "../routes/app.ts";
import buildRoutes from "../routes/build.ts";
import coreRoutes from "../routes/core.ts";
import hookRoutes from "../routes/hooks.ts";
import prefetchRoutes from "../routes/prefetch.ts";
import runRoutes from "../routes/run.ts";
import taskRoutes from "../routes/task.ts";
import triggerRoutes from "../routes/trigger.ts";
import { appAllowlist, taskAllowlist, triggerAllowlist } from "./allowlist.ts";
import { ControlPlane } from "./controlplane/client.ts";
import { secretsFrom } from "./connectors/secrets.ts";
import { consoleBase } from "./controlplane/console.ts";
import { registerDocPages, registerOpenApi } from "./docs.ts";
import { resolveEnabledEndpoints } from "./endpoints.ts";
import { ErrorBody, handleFrameworkError, installErrorHandling } from "./errors.ts";
import type { App, Gateway } from "./gateway.ts";
import { hooksFromOptions } from "./hooks/definitions.ts";
import { loggerOption } from "./logging.ts";
import { installOperations } from "./ops/index.ts";
import { GatewayMetrics } from "./ops/metrics.ts";
import { DEFAULTS, type FlyteWebhookOptions } from "./options.ts";

/** Request ids we accept from callers: short, printable, no separators that break logs. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createFlyteWebhookApp(options: FlyteWebhookOptions): App {
  const name = options.name ?? DEFAULTS.name;
  // Throws on both lists set or unknown names, before anything is started.
  const enabled = resolveEnabledEndpoints({ endpointGroups: options.endpointGroups, endpoints: options.endpoints });
  const cp = options.controlPlane;
  if (!cp?.endpoint) throw new TypeError("controlPlane.endpoint is required (e.g. http://127.0.0.1:8089)");
  const metrics = options.metrics === false ? undefined : new GatewayMetrics();
  const controlPlane = new ControlPlane({
    endpoint: cp.endpoint,
    protocol: cp.protocol ?? DEFAULTS.protocol,
    org: cp.org ?? DEFAULTS.org,
    project: cp.project ?? DEFAULTS.project,
    domain: cp.domain ?? DEFAULTS.domain,
    deadlineMs: cp.deadlineMs ?? DEFAULTS.deadlineMs,
    interceptors: metrics ? [metrics.interceptor] : [],
  });

  const server = fastify({
    ...loggerOption(options.logger),
    bodyLimit: options.bodyLimit ?? DEFAULTS.bodyLimit,
    // Any of Fastify's trustProxy forms; the cast only picks the constructor overload.
    trustProxy: (options.trustProxy ?? false) as boolean,
    // One access line per request comes from the operations layer instead.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 256 },
    frameworkErrors: handleFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const closing = new AbortController();
  const gateway: Gateway = {
    name,
    controlPlane,
    enabled,
    allowTask: taskAllowlist(options.taskAllowlist),
    allowApp: appAllowlist(options.appAllowlist),
    allowTrigger: triggerAllowlist(options.triggerAllowlist),
    consoleBase: consoleBase(options.consoleUrl, cp.endpoint),
    abortReason: DEFAULTS.abortReason,
    appCall: {
      timeoutMs: options.appCall?.timeoutMs ?? DEFAULTS.appCallTimeoutMs,
      maxResponseBytes: options.appCall?.maxResponseBytes ?? DEFAULTS.appCallMaxBytes,
      forwardAuthorization: options.appCall?.forwardAuthorization ?? true,
    },
    appWaitMs: options.appWaitMs ?? DEFAULTS.appWaitMs,
    runWaitMaxS: options.runWaitMaxS ?? DEFAULTS.runWaitMaxS,
    events: {
      heartbeatMs: options.events?.heartbeatMs ?? DEFAULTS.eventsHeartbeatS * 1000,
      maxMs: options.events?.maxMs ?? DEFAULTS.eventsMaxS * 1000,
    },
    closing: closing.signal,
    rateLimits: { byIp: undefined, byCredential: () => undefined },
    root: server,
  };
  // Throws on a hook that cannot work (bad field, task not allowed, secret missing), before anything is started.
  const secrets = options.secrets ?? secretsFrom({ env: process.env });
  const hooks = hooksFromOptions(options.hooks, { allowTask: gateway.allowTask, secrets });
  server.decorate("gateway", gateway);
  server.decorateRequest("credentials", null as never);
  server.addSchema(ErrorBody);
  // `curl -X POST -H 'content-type: application/json'` with no data means "no body", not a
  // malformed one; any other body goes to Fastify's own parser (prototype-poisoning checks).
  const parseJson = server.getDefaultJsonParser("error", "error");
  server.removeContentTypeParser("application/json");
  server.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) =>
    body === "" ? done(null, undefined) : parseJson(request, body as string, done),
  );
  server.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
  // Before in-flight requests are waited for: long waits and event streams end now.
  server.addHook("preClose", (done) => {
    closing.abort();
    done();
  });
  server.addHook("onClose", async () => controlPlane.close());
  const title = options.title ?? `Flyte Webhook: ${name}`;
  registerOpenApi(server, {
    title,
    description: options.description ?? DEFAULTS.description,
    version: options.version ?? DEFAULTS.version,
  });

  // The root scope serves only the liveness check (`route` puts it there):
  // probes need no security headers, limits, logs or metrics, and must stay cheap. Every
  // other route lives in the `api` scope, with the operations layer.
  server.register(async function api(app: App) {
    installErrorHandling(app);
    gateway.rateLimits = installOperations(app, {
      metrics,
      metricsToken: options.metrics ? options.metrics.token : undefined,
      rateLimit: options.rateLimit,
      corsOrigins: options.corsOrigins,
      maxEventLoopDelayMs: options.maxEventLoopDelayMs ?? DEFAULTS.maxEventLoopDelayMs,
      retryAfterS: DEFAULTS.retryAfterS,
    });

    registerDocPages(app, title);

    app.register(coreRoutes);
    app.register(taskRoutes);
    app.register(runRoutes);
    app.register(buildRoutes);
    app.register(prefetchRoutes);
    app.register(appRoutes);
    app.register(triggerRoutes);
    app.register(hookRoutes, { hooks, secrets });
  });
  return server;
}
