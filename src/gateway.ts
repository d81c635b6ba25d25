// What every route plugin shares: the control-plane client, the enabled endpoints, the
// allow-lists and the console base, decorated once on the app; and `route`, which puts
// an endpoint of the catalogue on the app only when it is enabled, with the auth hook,
// rate limits, audit flag, tags and described error responses every endpoint has.
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifySchema,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteOptions,
  FastifyRequest,
  FastifyReply,
} from "fastify";
import type { Allow, TaskRef, TriggerRef } from "./allowlist.ts";
import type { AppCallSettings } from "./app-call.ts";
import { requireCredentials } from "./auth.ts";
import type { ControlPlane } from "./controlplane/client.ts";
import { endpoint, type EndpointName } from "./endpoints.ts";
import { ErrorRef, errorResponse } from "./errors.ts";
import type { RateLimitHooks } from "./ops/rate-limit.ts";

export interface Gateway {
  name: string;
  controlPlane: ControlPlane;
  enabled: ReadonlySet<EndpointName>;
  allowTask: Allow<TaskRef>;
  allowApp: Allow<string>;
  allowTrigger: Allow<TriggerRef>;
  /** Console base URL for links (`…/v2/domain/…`). */
  consoleBase: string;
  abortReason: string;
  appCall: AppCallSettings;
  /** Deadline of activate/deactivate with `wait=true`, in milliseconds. */
  appWaitMs: number;
  /** `run_task` with `wait=true`: the largest timeout, in seconds. */
  runWaitMaxS: number;
  /** Run event streams: heartbeat interval and longest life, in milliseconds. */
  events: { heartbeatMs: number; maxMs: number };
  /** Aborted when the app starts closing: waits answer and event streams end, so shutdown is not held up. */
  closing: AbortSignal;
  /** Rate-limit hooks for protected endpoints (none when no limit is configured). */
  rateLimits: RateLimitHooks;
  /** The app's root scope, outside the operations layer: the liveness check is served there. */
  root: App;
}

declare module "fastify" {
  interface FastifyInstance {
    gateway: Gateway;
  }
}

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

type EndpointRouteOptions<S extends FastifySchema> = Omit<
  RouteOptions<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, RouteGenericInterface, unknown, S, TypeBoxTypeProvider>,
  "method" | "url"
>;

/** Error statuses every protected endpoint can answer with. */
const PROTECTED_ERRORS = [401, 403, 429, 502, 503, 504];

/**
 * Served from the root scope, where no security headers, limits, access lines or metrics
 * cost anything: probes need none of them. Other public endpoints (signed inbound hooks,
 * say) stay in the operations layer with the rest.
 */
const LIVENESS: EndpointName = "health";

/**
 * The liveness check goes to the root scope; every other route to the plugin's own scope,
 * inside the operations layer. Every POST endpoint of the catalogue changes state (run,
 * abort, activate, deactivate, call, build, prefetch): those get an audit line. Requests
 * are rate limited per client address, and on protected endpoints per credential after
 * the credential check.
 */
export function route<S extends FastifySchema>(app: App, name: EndpointName, options: EndpointRouteOptions<S>): void {
  if (!app.gateway.enabled.has(name)) return;
  const e = endpoint(name);
  const schema = options.schema as FastifySchema & { response?: Record<string, unknown> };
  const errors = [400, ...(e.public ? [] : PROTECTED_ERRORS), ...(e.method === "POST" ? [413] : [])];
  const response: Record<string, unknown> = Object.fromEntries(errors.map((status) => [status, errorResponse(status)]));
  for (const [status, value] of Object.entries(schema.response ?? {})) {
    response[status] = value === ErrorRef ? errorResponse(Number(status)) : value;
  }
  // The success answer is described by the endpoint's summary unless it says more itself.
  const ok = response[200] as { description?: string } | undefined;
  if (ok && !ok.description) response[200] = { ...ok, description: e.summary };
  const { byIp, byCredential } = app.gateway.rateLimits;
  const hooks = name === LIVENESS ? [] : e.public ? [byIp] : [byIp, requireCredentials, byCredential(e.group)];
  const onRequest = hooks.filter((hook) => hook !== undefined);
  (name === LIVENESS ? app.gateway.root : app).route({
    ...options,
    method: e.method,
    url: e.path,
    ...(onRequest.length > 0 ? { onRequest } : {}),
    config: { ...options.config, endpoint: name, audit: e.method === "POST" },
    schema: {
      ...schema,
      operationId: name,
      summary: e.summary,
      tags: [e.group],
      ...(e.public ? {} : { security: [{ bearerAuth: [] }] }),
      response,
    },
  } as never);
}

/** preValidation of endpoints whose JSON body is optional, as in the reference: none is the same as `{}`. */
export async function noBodyIsEmptyObject(request: FastifyRequest): Promise<void> {
  // Only a missing body: a JSON `null` is a body, and not an object.
  if (request.body === undefined) request.body = {};
}

/**
 * Aborts when the client goes away before its answer is complete, or the gateway starts
 * closing: what long requests (waits, event streams) stop on.
 */
export function requestSignal(app: App, reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  const res = reply.raw;
  const { closing } = app.gateway;
  // Closing the server waits for connections to go idle, and one that answers after closing
  // began would then stay open for the client's keep-alive: it ends with its answer.
  const lastAnswer = () => {
    if (!res.headersSent) res.shouldKeepAlive = false;
    else {
      const socket = res.socket; // detached from the response by the time it has finished
      res.once("finish", () => socket?.end());
    }
  };
  closing.addEventListener("abort", lastAnswer, { once: true });
  res.once("close", () => {
    closing.removeEventListener("abort", lastAnswer);
    if (!res.writableFinished) gone.abort();
  });
  return AbortSignal.any([gone.signal, closing]);
}
