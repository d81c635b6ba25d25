// Every setting of `flyte-webhook serve`, described once: its key in a JSON config file,
// its environment variable, its command-line flag (the key in kebab case), its default and
// how a value is checked. src/config.ts reads the three sources through this table, and
// the README's configuration table lists the same rows.
import { ENDPOINT_GROUPS } from "./endpoints.ts";
import { type ImageBuilderSetting, parseImageBuilder } from "./image/builders.ts";
import { callbackSecretProblem } from "./local/callback-signing.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}

/**
 * Checks one value. `value` is a string from the environment or a flag, or any JSON value
 * from the config file; `name` is how the source calls the setting, for messages.
 */
type Parse<T> = (value: unknown, name: string) => T;

export interface Setting<T = unknown> {
  key: string;
  env: string;
  help: string;
  /** Default as the README shows it; the value itself is applied in config.ts. */
  shown: string;
  parse: Parse<T>;
  /** The value holds credentials: never echoed in a message. */
  secret?: boolean;
  /** A switch: `--insecure` / `--no-insecure` on the command line. */
  boolean?: boolean;
}

export const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const show = (value: unknown) => JSON.stringify(value);

function text(value: unknown, name: string): string {
  if (typeof value !== "string") throw new ConfigError(name, `expected a string, got ${show(value)}`);
  return value;
}

const str: Parse<string> = text;

export const integer =
  (min: number, max: number): Parse<number> =>
  (value, name) => {
    const n = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${typeof value === "string" ? `"${value}"` : show(value)}`);
    }
    return n;
  };

const bool: Parse<boolean> = (value, name) => {
  if (typeof value === "boolean") return value;
  const word = typeof value === "string" ? value.toLowerCase() : "";
  if (["0", "false", "no", "off"].includes(word)) return false;
  if (["1", "true", "yes", "on"].includes(word)) return true;
  throw new ConfigError(name, `expected true or false, got ${typeof value === "string" ? `"${value}"` : show(value)}`);
};

const list: Parse<string[]> = (value, name) => {
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value.map((item) => item.trim()).filter(Boolean);
  if (typeof value === "string") return value.split(",").map((item) => item.trim()).filter(Boolean);
  throw new ConfigError(name, `expected a comma list or an array of strings, got ${show(value)}`);
};

const oneOf =
  <T extends string>(choices: readonly T[]): Parse<T> =>
  (value, name) => {
    if (typeof value === "string" && (choices as readonly string[]).includes(value)) return value as T;
    throw new ConfigError(name, `expected one of ${choices.join(", ")}, got ${typeof value === "string" ? `"${value}"` : show(value)}`);
  };

const httpUrl: Parse<string> = (value, name) => {
  const given = text(value, name);
  try {
    const parsed = new URL(given);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
  } catch {
    throw new ConfigError(name, `expected an http(s) URL, got "${given}"`);
  }
  return given;
};

const hostPort: Parse<string> = (value, name) => {
  const addr = text(value, name);
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(addr) || Number(addr.split(":").pop()) > 65535) {
    throw new ConfigError(name, `expected host:port, got "${addr}"`);
  }
  return addr;
};

const redisUrl: Parse<string> = (value, name) => {
  const given = text(value, name);
  let ok = false;
  try {
    ok = ["redis:", "rediss:"].includes(new URL(given).protocol);
  } catch {
    // not a URL
  }
  // The URL may hold a password: never echoed.
  if (!ok) throw new ConfigError(name, "expected a redis:// or rediss:// URL");
  return given;
};

/** `task=60,run=1200` or `{"task": 60}`: per-group request limits. */
const groupLimits: Parse<Record<string, number>> = (value, name) => {
  const entries: Array<[string, unknown]> =
    typeof value === "string"
      ? value
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean)
          .map((item) => {
            const eq = item.indexOf("=");
            if (eq <= 0) throw new ConfigError(name, `entries must look like group=limit, got "${item}"`);
            return [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
          })
      : value && typeof value === "object" && !Array.isArray(value)
        ? Object.entries(value)
        : (() => {
            throw new ConfigError(name, `expected group=limit,... or an object, got ${show(value)}`);
          })();
  const limits: Record<string, number> = {};
  for (const [group, limit] of entries) {
    if (!(ENDPOINT_GROUPS as readonly string[]).includes(group)) {
      throw new ConfigError(name, `unknown endpoint group "${group}"; valid groups are: ${ENDPOINT_GROUPS.join(", ")}`);
    }
    limits[group] = integer(0, 1_000_000_000)(limit, `${name} (${group})`);
  }
  return limits;
};

/** Fastify's trustProxy: true/false, a hop count, or a list of addresses and CIDR ranges. */
const trustProxy: Parse<boolean | number | string[]> = (value, name) => {
  if (typeof value === "boolean" || typeof value === "number") return typeof value === "number" ? integer(0, 100)(value, name) : value;
  if (typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  if (typeof value === "string" && /^\d+$/.test(value)) return integer(0, 100)(value, name);
  const addresses = list(value, name);
  if (addresses.some((a) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(a))) {
    throw new ConfigError(name, `expected true, false, a hop count or a list of addresses/CIDR ranges, got ${show(value)}`);
  }
  return addresses;
};

const imageBuilder: Parse<ImageBuilderSetting> = (value, name) => {
  try {
    return parseImageBuilder(text(value, name));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(name, (err as Error).message);
  }
};

/** A Standard Webhooks `whsec_` secret; the value is never repeated in the message. */
const callbackSecret: Parse<string> = (value, name) => {
  const given = text(value, name);
  const problem = callbackSecretProblem(given);
  if (problem) throw new ConfigError(name, problem);
  return given.trim();
};

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const PROTOCOLS = ["connect", "grpc", "grpc-web"] as const;

/** Builds a row; the type of `parse` carries through to the loaded values. */
const row = <T>(key: string, env: string, shown: string, help: string, parse: Parse<T>, extra: Partial<Setting<T>> = {}): Setting<T> => ({
  key,
  env,
  shown,
  help,
  parse,
  ...extra,
});

export const SETTINGS = {
  port: row("port", "PORT", "`8080`", "gateway port", integer(0, 65535)),
  host: row("host", "HOST", "`127.0.0.1` (`0.0.0.0` in the container)", "gateway address", str),
  logLevel: row("logLevel", "LOG_LEVEL", "`info`", "`fatal error warn info debug trace silent`", oneOf(LOG_LEVELS)),
  name: row("name", "FLYTE_WEBHOOK_NAME", "`flyte-webhook`", "the app's name (app endpoints refuse to target it)", str),
  title: row("title", "FLYTE_WEBHOOK_TITLE", "`Flyte Webhook: {name}`", "OpenAPI title", str),
  description: row("description", "FLYTE_WEBHOOK_DESCRIPTION", "`A webhook service for Flyte operations`", "OpenAPI description", str),
  endpointGroups: row("endpointGroups", "FLYTE_WEBHOOK_ENDPOINT_GROUPS", "all", "comma list of `all core task run app trigger build prefetch hooks`", list),
  endpoints: row("endpoints", "FLYTE_WEBHOOK_ENDPOINTS", "all", "comma list of endpoint names; not together with the groups", list),
  taskAllowlist: row("taskAllowlist", "FLYTE_WEBHOOK_TASK_ALLOWLIST", "every task", "comma list of `domain/project/name`, `project/name` or `name`", list),
  appAllowlist: row("appAllowlist", "FLYTE_WEBHOOK_APP_ALLOWLIST", "every app", "comma list of app names", list),
  triggerAllowlist: row("triggerAllowlist", "FLYTE_WEBHOOK_TRIGGER_ALLOWLIST", "every trigger", "comma list of `task/trigger` or `trigger`", list),
  endpoint: row("endpoint", "FLYTE_ENDPOINT", "unset: embedded plane", "remote control plane: `https://host`, `dns:///host:port` or `host:port`", str),
  insecure: row("insecure", "FLYTE_INSECURE", "`false`", "plain HTTP for the `dns:///` and `host:port` forms", bool, { boolean: true }),
  protocol: row("protocol", "FLYTE_PROTOCOL", "`connect`", "`connect`, `grpc` or `grpc-web` (all over HTTP/2)", oneOf(PROTOCOLS)),
  deadlineMs: row("deadlineMs", "FLYTE_DEADLINE_MS", "`30000`", "deadline of each control-plane call", integer(1, 600_000)),
  org: row("org", "FLYTE_ORG", "empty", "organization put in every identifier", str),
  project: row("project", "FLYTE_PROJECT", "`flytesnacks`", "project runs are created in", str),
  domain: row("domain", "FLYTE_DOMAIN", "`development`", "domain runs are created in", str),
  consoleUrl: row("consoleUrl", "FLYTE_CONSOLE_URL", "the endpoint's scheme and host", "base of the run links", httpUrl),
  localAddr: row("localAddr", "FLYTE_LOCAL_ADDR", "`127.0.0.1:8089`", "embedded plane address", hostPort),
  localDb: row("localDb", "FLYTE_LOCAL_DB", "`./.flyte-webhook/flyte.db`", "embedded plane's SQLite file (the API key file sits beside it)", str),
  localApiKeys: row("localApiKeys", "FLYTE_LOCAL_API_KEYS", "generated", "`token=subject,...`; unset: one key is generated, kept in `api-key` (mode 0600) and printed at start", str, { secret: true }),
  localCallbackSecret: row("localCallbackSecret", "FLYTE_LOCAL_CALLBACK_SECRET", "generated", "`whsec_…` key that signs completion callbacks (Standard Webhooks); unset: generated once and kept in `callback-secret` (mode 0600) beside the database", callbackSecret, { secret: true }),
  localCatalog: row("localCatalog", "FLYTE_LOCAL_CATALOG", "`examples/catalog.json`", "tasks to deploy into the embedded plane at start", str),
  localSecretsDir: row("localSecretsDir", "FLYTE_LOCAL_SECRETS_DIR", "unset", "directory with one file per secret (as Kubernetes mounts a Secret), for `{secrets.NAME}`; `FLYTE_SECRET_<NAME>` variables win over it", str),
  localImageBuilder: row("localImageBuilder", "FLYTE_LOCAL_IMAGE_BUILDER", "unset: image builds fail saying so", "`docker`, `podman` or `buildah` (on `PATH`), a path to one of them, or `tool=/path/to/executable`", imageBuilder),
  hfEndpoint: row("hfEndpoint", "HF_ENDPOINT", "`https://huggingface.co`", "Hugging Face Hub that model prefetches download from", httpUrl),
  localPrefetchRoots: row("localPrefetchRoots", "FLYTE_LOCAL_PREFETCH_ROOTS", "`<data dir>/prefetch`", "comma list of directories prefetched models may be written under", list),
  appCallTimeoutMs: row("appCallTimeoutMs", "FLYTE_WEBHOOK_APP_CALL_TIMEOUT_MS", "`30000`", "`call_app`: deadline of the call to the app (504 past it)", integer(1, 600_000)),
  appCallMaxBytes: row("appCallMaxBytes", "FLYTE_WEBHOOK_APP_CALL_MAX_BYTES", "`10485760` (10 MiB)", "`call_app`: largest answer taken from the app (502 past it)", integer(1, 1024 ** 3)),
  appCallForwardAuth: row("appCallForwardAuth", "FLYTE_WEBHOOK_APP_CALL_FORWARD_AUTH", "`true`", "`call_app`: send the caller's `Authorization` to the app", bool, { boolean: true }),
  appWaitTimeoutMs: row("appWaitTimeoutMs", "FLYTE_WEBHOOK_APP_WAIT_TIMEOUT_MS", "`120000`", "activate/deactivate with `wait=true`: how long to wait for the new state (504 past it)", integer(1, 3_600_000)),
  runWaitMaxS: row("runWaitMaxS", "FLYTE_WEBHOOK_RUN_WAIT_MAX_S", "`300`", "`run_task` with `wait=true`: the largest `timeout` a caller may ask for, in seconds", integer(1, 3600)),
  eventsHeartbeatS: row("eventsHeartbeatS", "FLYTE_WEBHOOK_EVENTS_HEARTBEAT_S", "`15`", "`/run/{name}/events`: seconds between heartbeat comments, so proxies keep the stream open", integer(1, 600)),
  eventsMaxS: row("eventsMaxS", "FLYTE_WEBHOOK_EVENTS_MAX_S", "`3600`", "`/run/{name}/events`: longest a stream stays open (it then ends; clients reconnect)", integer(1, 86_400)),
  bodyLimit: row("bodyLimit", "FLYTE_WEBHOOK_BODY_LIMIT", "`1048576` (1 MiB)", "largest request body in bytes; larger: 413", integer(1, 1024 ** 3)),
  corsOrigins: row("corsOrigins", "FLYTE_WEBHOOK_CORS_ORIGINS", "unset: CORS off", "comma list of origins allowed to call from a browser, or `*`", list),
  trustProxy: row("trustProxy", "FLYTE_WEBHOOK_TRUST_PROXY", "`false`", "believe `X-Forwarded-For` from: `true`, a hop count, or a comma list of addresses/CIDRs", trustProxy),
  rateLimitWindowMs: row("rateLimitWindowMs", "FLYTE_WEBHOOK_RATE_LIMIT_WINDOW_MS", "`60000`", "length of a rate-limit window", integer(1, 86_400_000)),
  rateLimitPerIp: row("rateLimitPerIp", "FLYTE_WEBHOOK_RATE_LIMIT_PER_IP", "`1200`", "requests per window from one client address to protected endpoints; `0`: no limit", integer(0, 1_000_000_000)),
  rateLimitPerCredential: row("rateLimitPerCredential", "FLYTE_WEBHOOK_RATE_LIMIT_PER_CREDENTIAL", "`600`", "requests per window with one credential, per endpoint group; `0`: no limit", integer(0, 1_000_000_000)),
  rateLimitGroups: row("rateLimitGroups", "FLYTE_WEBHOOK_RATE_LIMIT_GROUPS", "unset", "per-group credential limits, e.g. `task=60,run=1200`", groupLimits),
  redisUrl: row("redisUrl", "REDIS_URL", "unset: in-process counters", "Redis shared by replicas for rate-limit counters", redisUrl, { secret: true }),
  metrics: row("metrics", "FLYTE_WEBHOOK_METRICS", "`true`", "serve Prometheus metrics at `/metrics`", bool, { boolean: true }),
  metricsToken: row("metricsToken", "FLYTE_WEBHOOK_METRICS_TOKEN", "unset: the endpoints' auth", "bearer token for `/metrics` instead of control-plane credentials", str, { secret: true }),
  maxEventLoopDelayMs: row("maxEventLoopDelayMs", "FLYTE_WEBHOOK_MAX_EVENT_LOOP_DELAY_MS", "`1000`", "mean event-loop delay past which requests get 503 + `Retry-After`; `0`: never", integer(0, 60_000)),
  hooks: row("hooks", "FLYTE_WEBHOOK_HOOKS", "unset: no hooks", "JSON file of signed inbound webhooks served at `POST /hooks/{hook}` (see Signed inbound webhooks)", str),
  secretsDir: row("secretsDir", "FLYTE_WEBHOOK_SECRETS_DIR", "unset", "directory with one file per secret (a mounted Kubernetes Secret) for the hooks' signing secrets and service credentials; `FLYTE_SECRET_<NAME>` variables win over it", str),
  shutdownTimeoutMs: row("shutdownTimeoutMs", "FLYTE_WEBHOOK_SHUTDOWN_TIMEOUT_MS", "`10000`", "on SIGTERM/SIGINT, how long in-flight requests may take before the process exits", integer(0, 600_000)),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type SettingValues = { [K in SettingKey]?: ReturnType<(typeof SETTINGS)[K]["parse"]> };
