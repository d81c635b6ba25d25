// Environment → validated settings for `flyte-webhook serve`. A bad value stops the
// process with a message naming the variable (exit 2), before anything listens.
import { dirname, resolve } from "node:path";
import type { Protocol } from "./controlplane/client.ts";
import { EndpointFilterError, resolveEnabledEndpoints } from "./endpoints.ts";
import { DEFAULTS, type FlyteWebhookOptions } from "./options.ts";
import { parseApiKeys } from "./local/auth.ts";
import { type ImageBuilderSetting, parseImageBuilder } from "./image/builders.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}

export interface LocalPlaneConfig {
  addr: string;
  /** SQLite file, or ":memory:". */
  dbPath: string;
  /** Where the plane keeps its files (the generated API key, downloads): beside the database. */
  dataDir: string;
  /** Unset: a generated key kept in the data directory. */
  apiKeys: Array<{ token: string; subject: string }> | undefined;
  catalogPath: string;
  /** `FLYTE_LOCAL_SECRETS_DIR`: one file per secret, as Kubernetes mounts them. */
  secretsDir: string | undefined;
  /** `FLYTE_LOCAL_IMAGE_BUILDER`: the tool image builds run; unset: builds fail saying so. */
  imageBuilder: ImageBuilderSetting | undefined;
  /** `FLYTE_LOCAL_PREFETCH_ROOTS`: where prefetched models may be written; default `<data dir>/prefetch`. */
  prefetchRoots: string[] | undefined;
  /** `HF_ENDPOINT`: the Hugging Face Hub model prefetches download from. */
  hfEndpoint: string | undefined;
}

export interface ServeConfig {
  port: number;
  host: string;
  logLevel: string;
  /** Gateway options; `controlPlane.endpoint` is empty when the embedded plane is used. */
  gateway: FlyteWebhookOptions;
  /** Set when FLYTE_ENDPOINT is not: the embedded control plane to start. */
  local: LocalPlaneConfig | undefined;
}

type Env = Record<string, string | undefined>;

const PROTOCOLS: readonly Protocol[] = ["connect", "grpc", "grpc-web"];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function list(env: Env, key: string): string[] | undefined {
  const value = env[key];
  if (value === undefined || value.trim() === "") return undefined;
  return value.split(",").map((item) => item.trim()).filter(Boolean);
}

function integer(env: Env, key: string, fallback: number, min: number, max: number): number {
  const value = env[key];
  if (value === undefined || value === "") return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(key, `expected a whole number from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

/** `token=subject,...`, or undefined when unset. */
function apiKeysSetting(env: Env, key: string): Array<{ token: string; subject: string }> | undefined {
  const value = env[key];
  if (!value) return undefined;
  let keys;
  try {
    keys = parseApiKeys(value);
  } catch (err) {
    // The message must not echo the value: it holds tokens.
    throw new ConfigError(key, (err as Error).message);
  }
  if (keys.length === 0) throw new ConfigError(key, "holds no token=subject entry");
  return keys;
}

function bool(env: Env, key: string): boolean {
  const value = (env[key] ?? "").toLowerCase();
  if (["", "0", "false", "no", "off"].includes(value)) return false;
  if (["1", "true", "yes", "on"].includes(value)) return true;
  throw new ConfigError(key, `expected true or false, got "${env[key]}"`);
}

/**
 * The forms flyte-sdk accepts: `http(s)://host[:port]`, `dns:///host:port`, `host:port`.
 * The last two are https unless insecure is set.
 */
export function normalizeEndpoint(value: string, insecure: boolean, setting = "FLYTE_ENDPOINT"): string {
  const scheme = insecure ? "http" : "https";
  const text = value.trim().replace(/^dns:\/\/\//, "");
  const candidate = /^https?:\/\//i.test(text) ? text : `${scheme}://${text}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new ConfigError(setting, `expected http(s)://host[:port], dns:///host:port or host:port, got "${value}"`);
  }
  if (!url.hostname || url.username || url.password || url.search || url.hash) {
    throw new ConfigError(setting, `expected a plain URL with host and optional port, got "${value}"`);
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

function url(env: Env, key: string): string | undefined {
  const value = env[key];
  if (!value) return undefined;
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
  } catch {
    throw new ConfigError(key, `expected an http(s) URL, got "${value}"`);
  }
  return value;
}

function imageBuilder(env: Env): ImageBuilderSetting | undefined {
  const value = env.FLYTE_LOCAL_IMAGE_BUILDER;
  if (!value) return undefined;
  try {
    return parseImageBuilder(value);
  } catch (err) {
    throw new ConfigError("FLYTE_LOCAL_IMAGE_BUILDER", (err as Error).message);
  }
}

export function configFromEnv(env: Env, cwd = process.cwd()): ServeConfig {
  const endpointGroups = list(env, "FLYTE_WEBHOOK_ENDPOINT_GROUPS");
  const endpoints = list(env, "FLYTE_WEBHOOK_ENDPOINTS");
  if (endpointGroups && endpoints) {
    throw new ConfigError("FLYTE_WEBHOOK_ENDPOINT_GROUPS", "cannot be set together with FLYTE_WEBHOOK_ENDPOINTS: use one or the other");
  }
  try {
    resolveEnabledEndpoints({ endpointGroups, endpoints });
  } catch (err) {
    if (err instanceof EndpointFilterError) throw new ConfigError(endpoints ? "FLYTE_WEBHOOK_ENDPOINTS" : "FLYTE_WEBHOOK_ENDPOINT_GROUPS", err.message);
    throw err;
  }
  const protocol = (env.FLYTE_PROTOCOL || DEFAULTS.protocol) as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new ConfigError("FLYTE_PROTOCOL", `expected one of ${PROTOCOLS.join(", ")}, got "${protocol}"`);
  const logLevel = env.LOG_LEVEL || "info";
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError("LOG_LEVEL", `expected one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  const insecure = bool(env, "FLYTE_INSECURE");
  const remote = env.FLYTE_ENDPOINT ? normalizeEndpoint(env.FLYTE_ENDPOINT, insecure) : undefined;

  let local: LocalPlaneConfig | undefined;
  if (!remote) {
    const addr = env.FLYTE_LOCAL_ADDR || "127.0.0.1:8089";
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(addr) || Number(addr.split(":").pop()) > 65535) {
      throw new ConfigError("FLYTE_LOCAL_ADDR", `expected host:port, got "${addr}"`);
    }
    const apiKeys = apiKeysSetting(env, "FLYTE_LOCAL_API_KEYS");
    // ":memory:" is SQLite's name for a database without a file, not a path.
    const dbPath = env.FLYTE_LOCAL_DB === ":memory:" ? ":memory:" : resolve(cwd, env.FLYTE_LOCAL_DB || ".flyte-webhook/flyte.db");
    local = {
      addr,
      dbPath,
      dataDir: dbPath === ":memory:" ? resolve(cwd, ".flyte-webhook") : dirname(dbPath),
      apiKeys,
      catalogPath: resolve(cwd, env.FLYTE_LOCAL_CATALOG || new URL("../examples/catalog.json", import.meta.url).pathname),
      secretsDir: env.FLYTE_LOCAL_SECRETS_DIR ? resolve(cwd, env.FLYTE_LOCAL_SECRETS_DIR) : undefined,
      imageBuilder: imageBuilder(env),
      hfEndpoint: url(env, "HF_ENDPOINT"),
      prefetchRoots: list(env, "FLYTE_LOCAL_PREFETCH_ROOTS")?.map((dir) => resolve(cwd, dir)),
    };
  }

  return {
    port: integer(env, "PORT", 8080, 0, 65535),
    host: env.HOST || "127.0.0.1",
    logLevel,
    local,
    gateway: {
      name: env.FLYTE_WEBHOOK_NAME || DEFAULTS.name,
      title: env.FLYTE_WEBHOOK_TITLE || undefined,
      description: env.FLYTE_WEBHOOK_DESCRIPTION || undefined,
      endpointGroups,
      endpoints,
      taskAllowlist: list(env, "FLYTE_WEBHOOK_TASK_ALLOWLIST"),
      appAllowlist: list(env, "FLYTE_WEBHOOK_APP_ALLOWLIST"),
      triggerAllowlist: list(env, "FLYTE_WEBHOOK_TRIGGER_ALLOWLIST"),
      consoleUrl: url(env, "FLYTE_CONSOLE_URL"),
      appCall: {
        timeoutMs: integer(env, "FLYTE_WEBHOOK_APP_CALL_TIMEOUT_MS", DEFAULTS.appCallTimeoutMs, 1, 600_000),
        maxResponseBytes: integer(env, "FLYTE_WEBHOOK_APP_CALL_MAX_BYTES", DEFAULTS.appCallMaxBytes, 1, 1024 * 1024 * 1024),
        // On unless turned off: the app usually checks the same credentials.
        forwardAuthorization: env.FLYTE_WEBHOOK_APP_CALL_FORWARD_AUTH ? bool(env, "FLYTE_WEBHOOK_APP_CALL_FORWARD_AUTH") : true,
      },
      appWaitMs: integer(env, "FLYTE_WEBHOOK_APP_WAIT_TIMEOUT_MS", DEFAULTS.appWaitMs, 1, 3_600_000),
      controlPlane: {
        endpoint: remote ?? "",
        protocol,
        org: env.FLYTE_ORG ?? DEFAULTS.org,
        project: env.FLYTE_PROJECT || DEFAULTS.project,
        domain: env.FLYTE_DOMAIN || DEFAULTS.domain,
        deadlineMs: integer(env, "FLYTE_DEADLINE_MS", DEFAULTS.deadlineMs, 1, 600_000),
      },
    },
  };
}

export interface ConnectorConfig {
  addr: string;
  logLevel: string;
  secretsDir: string | undefined;
  apiKeys: Array<{ token: string; subject: string }> | undefined;
}

/** `flyte-webhook connector [--port N]`: PORT (default 8000, as Flyte connectors listen), HOST, secrets, keys. */
export function connectorConfigFromEnv(env: Env, args: readonly string[] = [], cwd = process.cwd()): ConnectorConfig {
  const flag = args.indexOf("--port");
  if (flag >= 0 && args[flag + 1] === undefined) throw new ConfigError("--port", "needs a port number");
  const port = integer(flag >= 0 ? { PORT: args[flag + 1] } : env, "PORT", 8000, 0, 65535);
  const host = env.HOST || "127.0.0.1";
  const logLevel = env.LOG_LEVEL || "info";
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError("LOG_LEVEL", `expected one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  const apiKeys = apiKeysSetting(env, "FLYTE_CONNECTOR_API_KEYS");
  return {
    addr: `${host.includes(":") ? `[${host}]` : host}:${port}`,
    logLevel,
    secretsDir: env.FLYTE_LOCAL_SECRETS_DIR ? resolve(cwd, env.FLYTE_LOCAL_SECRETS_DIR) : undefined,
    apiKeys,
  };
}
