// What every route plugin shares: the control-plane client, the enabled endpoints, the
// allow-lists and the console base, decorated once on the app; and `route`, which puts
// an endpoint of the catalogue on the app only when it is enabled, with the auth hook,
// tags and error responses every endpoint has.
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
} from "fastify";
import type { Allow, TaskRef, TriggerRef } from "./allowlist.ts";
import type { AppCallSettings } from "./app-call.ts";
import { requireCredentials } from "./auth.ts";
import type { ControlPlane } from "./controlplane/client.ts";
import { endpoint, type EndpointName } from "./endpoints.ts";
import { ErrorRef } from "./errors.ts";

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
const PROTECTED_ERRORS = { 401: ErrorRef, 403: ErrorRef, 502: ErrorRef, 503: ErrorRef, 504: ErrorRef };

export function route<S extends FastifySchema>(app: App, name: EndpointName, options: EndpointRouteOptions<S>): void {
  if (!app.gateway.enabled.has(name)) return;
  const e = endpoint(name);
  const schema = options.schema as FastifySchema & { response?: Record<string, unknown> };
  app.route({
    ...options,
    method: e.method,
    url: e.path,
    ...(e.public ? {} : { onRequest: requireCredentials }),
    schema: {
      ...schema,
      operationId: name,
      summary: e.summary,
      tags: [e.group],
      ...(e.public ? {} : { security: [{ bearerAuth: [] }] }),
      response: { ...(e.public ? {} : PROTECTED_ERRORS), 400: ErrorRef, ...schema.response },
    },
  } as never);
}

