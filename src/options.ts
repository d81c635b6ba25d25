// Options of createFlyteWebhookApp and their defaults (those of the reference app).
import type { SecretSource } from "./connectors/secrets.ts";
import type { Protocol } from "./controlplane/client.ts";
import type { HookDefinitions } from "./hooks/definitions.ts";
import type { LoggerSetting } from "./logging.ts";
import type { RateLimitOptions } from "./ops/rate-limit.ts";

export interface ControlPlaneOptions {
  /** Control plane base URL, e.g. `https://my-org.example.com` or `http://127.0.0.1:8089`. */
  endpoint: string;
  /** Wire protocol; flyte-sdk speaks Connect. */
  protocol?: Protocol;
  /** Organization put in every identifier (default empty). */
  org?: string;
  /** Project and domain runs are created in (defaults `flytesnacks`, `development`). */
  project?: string;
  domain?: string;
  /** Deadline of each control-plane call in milliseconds (default 30 000). */
  deadlineMs?: number;
}

export interface FlyteWebhookOptions {
  /** App name; the app endpoints refuse to target it (default `flyte-webhook`). */
  name?: string;
  /** OpenAPI title (default "Flyte Webhook: {name}"). */
  title?: string;
  description?: string;
  version?: string;
  /** Groups to serve (`all`, `core`, `task`, `run`, …). Not together with `endpoints`. */
  endpointGroups?: string[];
  /** Endpoints to serve, by name. Not together with `endpointGroups`. */
  endpoints?: string[];
  /** `domain/project/name`, `project/name` or `name`. Unset: every task. */
  taskAllowlist?: string[];
  /** App names. Unset: every app. */
  appAllowlist?: string[];
  /** `task_name/trigger_name` or `trigger_name`. Unset: every trigger. */
  triggerAllowlist?: string[];
  controlPlane: ControlPlaneOptions;
  /** Console base for run links; default the control plane's scheme and host. */
  consoleUrl?: string;
  /** `false` for silence, pino options, or a logger instance. Default: info to stdout. */
  logger?: LoggerSetting;
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  bodyLimit?: number;
  /** call_app: deadline (default 30 s), response size cap (default 10 MiB), Authorization forwarding (default on). */
  appCall?: { timeoutMs?: number; maxResponseBytes?: number; forwardAuthorization?: boolean };
  /** How long activate/deactivate with `wait=true` wait for the app's new state (default 120 s). */
  appWaitMs?: number;
  /** `run_task` with `wait=true`: the largest `timeout` a caller may ask for, in seconds (default 300). */
  runWaitMaxS?: number;
  /** `/run/{name}/events`: heartbeat interval (default 15 s) and longest stream (default 1 h), in milliseconds. */
  events?: { heartbeatMs?: number; maxMs?: number };
  /** Rate limits per client address and per credential; unset: no limits. */
  rateLimit?: RateLimitOptions;
  /** Origins allowed by CORS (`*` for any); unset: CORS off. */
  corsOrigins?: string[];
  /** `/metrics`: `false` to serve none; `token` for a scraper token of its own (default: the endpoints' auth). */
  metrics?: false | { token?: string };
  /** Mean event-loop delay in ms past which requests get 503 + Retry-After (default 1000; 0: never). */
  maxEventLoopDelayMs?: number;
  /** Fastify's trustProxy: whose X-Forwarded-For to believe for the client address (default none). */
  trustProxy?: boolean | number | string[];
  /** Signed inbound webhooks served at `POST /hooks/{hook}`, by hook name (the `hooks` object of a hooks file). */
  hooks?: HookDefinitions;
  /** Where hooks find their signing secrets and service credentials, by name (default: `FLYTE_SECRET_<NAME>` variables). */
  secrets?: SecretSource;
}

export const DEFAULTS = {
  name: "flyte-webhook",
  description: "A webhook service for Flyte operations",
  version: "1.0.0",
  protocol: "connect" as Protocol,
  org: "",
  project: "flytesnacks",
  domain: "development",
  deadlineMs: 30_000,
  bodyLimit: 1024 * 1024,
  maxEventLoopDelayMs: 1000,
  retryAfterS: 10,
  abortReason: "Aborted via webhook API",
  appCallTimeoutMs: 30_000,
  appCallMaxBytes: 10 * 1024 * 1024,
  appWaitMs: 120_000,
  runWaitMaxS: 300,
  runWaitDefaultS: 60,
  eventsHeartbeatS: 15,
  eventsMaxS: 3600,
} as const;
