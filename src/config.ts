// Settings of `flyte-webhook serve` from three sources, one table (src/settings.ts):
// command-line flags over environment variables over a JSON config file (`--config` or
// FLYTE_WEBHOOK_CONFIG) over defaults. A bad value stops the process with a message naming
// the setting as its source spells it (exit 2), before anything listens.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Protocol } from "./controlplane/client.ts";
import { EndpointFilterError, type EndpointGroup, resolveEnabledEndpoints } from "./endpoints.ts";
import type { ImageBuilderSetting } from "./image/builders.ts";
import { taskAllowlist } from "./allowlist.ts";
import { secretsFrom } from "./connectors/secrets.ts";
import { HookConfigError, hooksFromOptions, readHooksFile } from "./hooks/definitions.ts";
import { parseApiKeys } from "./local/auth.ts";
import { DEFAULT_WINDOW_MS } from "./ops/rate-limit.ts";
import { DEFAULTS, type FlyteWebhookOptions } from "./options.ts";
import { ConfigError, flagOf, integer, LOG_LEVELS, SETTINGS, type SettingKey, type SettingValues } from "./settings.ts";

export { ConfigError } from "./settings.ts";

export interface LocalPlaneConfig {
  addr: string;
  /** SQLite file, or ":memory:". */
  dbPath: string;
  /** Where the plane keeps its files (the generated API key, downloads): beside the database. */
  dataDir: string;
  /** Unset: a generated key kept in the data directory. */
  apiKeys: Array<{ token: string; subject: string }> | undefined;
  catalogPath: string;
  /** `FLYTE_LOCAL_CALLBACK_SECRET`; unset: generated and kept in the data directory. */
  callbackSecret: string | undefined;
  /** `FLYTE_LOCAL_SECRETS_DIR`: one file per secret, as Kubernetes mounts them. */
  secretsDir: string | undefined;
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
  /** Bound on finishing in-flight requests at shutdown. */
  shutdownTimeoutMs: number;
  /** How the source of a setting named it (`--port`, `PORT`, `app.json: port`), for later messages. */
  nameOf(key: SettingKey): string;
}

type Env = Record<string, string | undefined>;

export interface ConfigSources {
  env: Env;
  /** Command-line arguments after the command (`--port 9000 ...`). */
  args?: string[];
  cwd?: string;
}

/** Rate limits `flyte-webhook serve` applies unless told otherwise. */
export const SERVE_RATE_LIMITS = { perIp: 1200, perCredential: 600 } as const;

const CONFIG_ENV = "FLYTE_WEBHOOK_CONFIG";

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

const KEYS = Object.keys(SETTINGS) as SettingKey[];

function parseFlags(args: string[]): { flags: Record<string, unknown>; configFile: string | undefined } {
  const options: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" } };
  for (const key of KEYS) options[flagOf(key).slice(2)] = { type: SETTINGS[key].boolean ? "boolean" : "string" };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false, allowNegative: true }));
  } catch (err) {
    throw new ConfigError("command line", (err as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
  const flags: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = values[flagOf(key).slice(2)];
    if (value !== undefined) flags[key] = value;
  }
  return { flags, configFile: values.config as string | undefined };
}

function readConfigFile(path: string, name: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const reason = err instanceof SyntaxError ? `not valid JSON: ${err.message}` : `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    throw new ConfigError(name, reason);
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) throw new ConfigError(name, "expected a JSON object of settings");
  for (const key of Object.keys(data)) {
    if (!(KEYS as string[]).includes(key)) throw new ConfigError(name, `unknown setting "${key}"; settings are: ${KEYS.join(", ")}`);
  }
  return data as Record<string, unknown>;
}

/** Every setting's value from the first source that has it, checked; and how that source named it. */
function readSettings({ env, args = [], cwd = process.cwd() }: ConfigSources) {
  const { flags, configFile } = parseFlags(args);
  const filePath = configFile ?? (env[CONFIG_ENV] || undefined);
  const fileName = configFile ? "--config" : CONFIG_ENV;
  const file = filePath ? readConfigFile(resolve(cwd, filePath), `${fileName} ${filePath}`) : {};

  const values: SettingValues = {};
  const names = new Map<SettingKey, string>();
  /** Which source a setting came from: 0 flag, 1 env, 2 file. */
  const rank = new Map<SettingKey, number>();
  for (const key of KEYS) {
    const setting = SETTINGS[key];
    const sources: Array<[unknown, string]> = [
      [flags[key], flagOf(key)],
      [env[setting.env] === "" ? undefined : env[setting.env], setting.env],
      [file[key] === null ? undefined : file[key], `${filePath}: ${key}`],
    ];
    const index = sources.findIndex(([value]) => value !== undefined);
    if (index < 0) continue;
    const [value, name] = sources[index]!;
    (values as Record<string, unknown>)[key] = setting.parse(value, name);
    names.set(key, name);
    rank.set(key, index);
  }
  const nameOf = (key: SettingKey) => names.get(key) ?? SETTINGS[key].env;

  // The endpoint filter is one choice made in two forms: the higher source wins, and both
  // in one source is a mistake.
  if (values.endpointGroups && values.endpoints) {
    const groups = rank.get("endpointGroups")!;
    const endpoints = rank.get("endpoints")!;
    if (groups === endpoints) {
      throw new ConfigError(nameOf("endpointGroups"), `cannot be set together with ${nameOf("endpoints")}: use one or the other`);
    }
    delete values[groups < endpoints ? "endpoints" : "endpointGroups"];
  }
  return { values, nameOf, cwd };
}

export function loadConfig(sources: ConfigSources): ServeConfig {
  const { values: v, nameOf, cwd } = readSettings(sources);
  try {
    resolveEnabledEndpoints({ endpointGroups: v.endpointGroups, endpoints: v.endpoints });
  } catch (err) {
    if (err instanceof EndpointFilterError) throw new ConfigError(nameOf(v.endpoints ? "endpoints" : "endpointGroups"), err.message);
    throw err;
  }
  const remote = v.endpoint ? normalizeEndpoint(v.endpoint, v.insecure ?? false, nameOf("endpoint")) : undefined;

  let local: LocalPlaneConfig | undefined;
  if (!remote) {
    // ":memory:" is SQLite's name for a database without a file, not a path.
    const dbPath = v.localDb === ":memory:" ? ":memory:" : resolve(cwd, v.localDb ?? ".flyte-webhook/flyte.db");
    local = {
      addr: v.localAddr ?? "127.0.0.1:8089",
      dbPath,
      dataDir: dbPath === ":memory:" ? resolve(cwd, ".flyte-webhook") : dirname(dbPath),
      apiKeys: apiKeysSetting(v.localApiKeys, nameOf("localApiKeys")),
      callbackSecret: v.localCallbackSecret,
      catalogPath: resolve(cwd, v.localCatalog ?? new URL("../examples/catalog.json", import.meta.url).pathname),
      secretsDir: v.localSecretsDir ? resolve(cwd, v.localSecretsDir) : undefined,
      imageBuilder: v.localImageBuilder,
      hfEndpoint: v.hfEndpoint,
      prefetchRoots: v.localPrefetchRoots?.map((dir) => resolve(cwd, dir)),
    };
  }

  // Hooks read their secrets from FLYTE_SECRET_<NAME> variables, then FLYTE_WEBHOOK_SECRETS_DIR.
  const secrets = secretsFrom({ env: sources.env, dir: v.secretsDir ? resolve(cwd, v.secretsDir) : undefined });
  let hooks;
  if (v.hooks) {
    try {
      hooks = readHooksFile(resolve(cwd, v.hooks));
      hooksFromOptions(hooks, { allowTask: taskAllowlist(v.taskAllowlist), secrets });
    } catch (err) {
      if (err instanceof HookConfigError) throw new ConfigError(`${nameOf("hooks")} ${v.hooks}`, err.message);
      throw err;
    }
  }

  return {
    port: v.port ?? 8080,
    host: v.host ?? "127.0.0.1",
    logLevel: v.logLevel ?? "info",
    local,
    shutdownTimeoutMs: v.shutdownTimeoutMs ?? 10_000,
    nameOf,
    gateway: {
      name: v.name ?? DEFAULTS.name,
      title: v.title,
      description: v.description,
      endpointGroups: v.endpointGroups,
      endpoints: v.endpoints,
      taskAllowlist: v.taskAllowlist,
      appAllowlist: v.appAllowlist,
      triggerAllowlist: v.triggerAllowlist,
      consoleUrl: v.consoleUrl,
      hooks,
      secrets,
      appCall: {
        timeoutMs: v.appCallTimeoutMs ?? DEFAULTS.appCallTimeoutMs,
        maxResponseBytes: v.appCallMaxBytes ?? DEFAULTS.appCallMaxBytes,
        // On unless turned off: the app usually checks the same credentials.
        forwardAuthorization: v.appCallForwardAuth ?? true,
      },
      appWaitMs: v.appWaitTimeoutMs ?? DEFAULTS.appWaitMs,
      runWaitMaxS: v.runWaitMaxS ?? DEFAULTS.runWaitMaxS,
      events: { heartbeatMs: (v.eventsHeartbeatS ?? DEFAULTS.eventsHeartbeatS) * 1000, maxMs: (v.eventsMaxS ?? DEFAULTS.eventsMaxS) * 1000 },
      bodyLimit: v.bodyLimit ?? DEFAULTS.bodyLimit,
      corsOrigins: v.corsOrigins,
      trustProxy: v.trustProxy ?? false,
      maxEventLoopDelayMs: v.maxEventLoopDelayMs ?? DEFAULTS.maxEventLoopDelayMs,
      metrics: v.metrics === false ? false : { token: v.metricsToken },
      rateLimit: {
        windowMs: v.rateLimitWindowMs ?? DEFAULT_WINDOW_MS,
        perIp: v.rateLimitPerIp ?? SERVE_RATE_LIMITS.perIp,
        perCredential: v.rateLimitPerCredential ?? SERVE_RATE_LIMITS.perCredential,
        groups: v.rateLimitGroups as Partial<Record<EndpointGroup, number>> | undefined,
        redisUrl: v.redisUrl,
      },
      controlPlane: {
        endpoint: remote ?? "",
        protocol: (v.protocol ?? DEFAULTS.protocol) as Protocol,
        org: v.org ?? DEFAULTS.org,
        project: v.project ?? DEFAULTS.project,
        domain: v.domain ?? DEFAULTS.domain,
        deadlineMs: v.deadlineMs ?? DEFAULTS.deadlineMs,
      },
    },
  };
}

/** The environment alone (what the container and most deployments use). */
export const configFromEnv = (env: Env, cwd = process.cwd()): ServeConfig => loadConfig({ env, cwd });

/** `token=subject,...`, or undefined when unset. */
function apiKeysSetting(value: string | undefined, name: string): Array<{ token: string; subject: string }> | undefined {
  if (!value) return undefined;
  let keys;
  try {
    keys = parseApiKeys(value);
  } catch (err) {
    // The message must not echo the value: it holds tokens.
    throw new ConfigError(name, (err as Error).message);
  }
  if (keys.length === 0) throw new ConfigError(name, "holds no token=subject entry");
  return keys;
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
  const port = flag >= 0 ? integer(0, 65535)(args[flag + 1], "--port") : env.PORT ? integer(0, 65535)(env.PORT, "PORT") : 8000;
  const host = env.HOST || "127.0.0.1";
  const logLevel = env.LOG_LEVEL || "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError("LOG_LEVEL", `expected one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  return {
    addr: `${host.includes(":") ? `[${host}]` : host}:${port}`,
    logLevel,
    secretsDir: env.FLYTE_LOCAL_SECRETS_DIR ? resolve(cwd, env.FLYTE_LOCAL_SECRETS_DIR) : undefined,
    apiKeys: apiKeysSetting(env.FLYTE_CONNECTOR_API_KEYS, "FLYTE_CONNECTOR_API_KEYS"),
  };
}
