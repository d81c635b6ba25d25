#!/usr/bin/env node
// flyte-webhook serve [--flag value ...]   gateway (+ the embedded control plane when FLYTE_ENDPOINT is unset)
// flyte-webhook control-plane               the embedded control plane alone, on FLYTE_LOCAL_ADDR
// flyte-webhook connector [--port N]        the webhook connector as flyteidl2 connector services, on PORT (8000)
// Settings: flags > environment > JSON config file (--config) > defaults; see README.md.
import { join } from "node:path";
import { pino } from "pino";
import { createFlyteWebhookApp } from "./app.ts";
import { ConfigError, connectorConfigFromEnv, type LocalPlaneConfig, loadConfig } from "./config.ts";
import { startConnectorServer } from "./connectors/service.ts";
import { secretsFrom } from "./connectors/secrets.ts";
import { localApiKey } from "./local/auth.ts";
import { CatalogError, readCatalog } from "./local/catalog.ts";
import { type LocalControlPlane, startLocalControlPlane } from "./local/server.ts";
import { type Closable, closeOnSignals, gatewayPart } from "./shutdown.ts";
import { flagOf, SETTINGS } from "./settings.ts";

const USAGE = [
  "usage: flyte-webhook [serve | control-plane] [--config file.json] [--flag value ...]",
  "       flyte-webhook connector [--port N]   (PORT, HOST, FLYTE_LOCAL_SECRETS_DIR, FLYTE_CONNECTOR_API_KEYS)",
  "",
  "Each setting is a flag, an environment variable and a key of the JSON config file;",
  "flags win over the environment, the environment over the file. Settings:",
  "",
  ...Object.values(SETTINGS).map((s) => `  ${`${flagOf(s.key)}${s.boolean ? "" : " ..."}`.padEnd(34)} ${s.env.padEnd(40)} ${s.help.replaceAll("`", "")}`),
  "",
  "See README.md for defaults and examples.",
].join("\n");

function fail(message: string): never {
  process.stderr.write(`flyte-webhook: ${message}\n`);
  process.exit(2);
}

async function startPlane(local: LocalPlaneConfig, org: string, project: string, domain: string, logLevel: string) {
  const log = pino({ level: logLevel, name: "control-plane" });
  let apiKeys = local.apiKeys;
  let generated: string | undefined;
  if (!apiKeys) {
    const key = localApiKey(join(local.dataDir, "api-key"));
    apiKeys = [{ token: key.token, subject: "local-user" }];
    generated = key.token;
  }
  const { tasks: catalog, apps, triggers } = readCatalog(local.catalogPath, { org, project, domain });
  const secrets = secretsFrom({ env: process.env, dir: local.secretsDir });
  const plane = await startLocalControlPlane({
    addr: local.addr,
    dbPath: local.dbPath,
    dataDir: local.dataDir,
    apiKeys,
    catalog,
    apps,
    triggers,
    logger: log,
    secrets,
    org,
    imageBuilder: local.imageBuilder,
    hfPrefetch: { endpoint: local.hfEndpoint, roots: local.prefetchRoots },
    callbacks: { secret: local.callbackSecret },
  });
  log.info({ url: plane.url, db: local.dbPath, catalog: local.catalogPath }, "embedded control plane listening");
  // Where receivers find the key to verify completion callbacks with; never the key itself.
  if (plane.callbackSecretFile) log.info({ file: plane.callbackSecretFile }, "completion callbacks are signed with the key kept in this file");
  return { plane, generated };
}

function printToken(token: string, gatewayUrl: string, keyFile: string) {
  // Straight to the terminal, not through the logger: tokens never enter log lines.
  process.stdout.write(
    `\nflyte-webhook: local API key (kept in ${keyFile}):\n\n` +
      `  export TOKEN=${token}\n` +
      `  curl -H "Authorization: Bearer $TOKEN" ${gatewayUrl}/me\n\n`,
  );
}

async function serveConnector(args: string[]) {
  let config;
  try {
    config = connectorConfigFromEnv(process.env, args);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const log = pino({ level: config.logLevel, name: "connector" });
  const secrets = secretsFrom({ env: process.env, dir: config.secretsDir });
  let server;
  try {
    server = await startConnectorServer({ addr: config.addr, secrets, logger: log, apiKeys: config.apiKeys });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") fail(`PORT: ${config.addr} is already in use`);
    throw err;
  }
  log.info({ url: server.url, auth: config.apiKeys ? "bearer" : "none" }, "webhook connector listening");
  const connector = server;
  closeOnSignals([{ name: "connector", close: () => connector.close() }], { timeoutMs: 10_000, log });
}

async function main() {
  const [first, ...rest] = process.argv.slice(2);
  // A leading flag means `serve`: `flyte-webhook --port 9000` works as well.
  const command = first === undefined || (first.startsWith("--") && first !== "--help") ? "serve" : first;
  const args = first === undefined || command !== first ? process.argv.slice(2) : rest;
  if (command === "-h" || command === "--help" || args.includes("--help")) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === "connector") return serveConnector(args);
  if (command !== "serve" && command !== "control-plane") fail(`unknown command "${command}"\n${USAGE}`);

  let config;
  try {
    config = loadConfig({ env: process.env, args });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const { org = "", project = "flytesnacks", domain = "development" } = config.gateway.controlPlane;
  const closers: Closable[] = [];
  let plane: LocalControlPlane | undefined;
  let generated: string | undefined;

  if (command === "control-plane" && !config.local) fail("control-plane: unset FLYTE_ENDPOINT to run the embedded control plane");
  if (config.local) {
    try {
      ({ plane, generated } = await startPlane(config.local, org, project, domain, config.logLevel));
    } catch (err) {
      if (err instanceof CatalogError) fail(`${config.nameOf("localCatalog")}: ${err.message}`);
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") fail(`${config.nameOf("localAddr")}: ${config.local.addr} is already in use`);
      throw err;
    }
    closers.push({ name: "control plane", close: () => plane!.close() });
  }

  let gatewayUrl: string | undefined;
  if (command === "serve") {
    const app = createFlyteWebhookApp({
      ...config.gateway,
      controlPlane: { ...config.gateway.controlPlane, endpoint: config.gateway.controlPlane.endpoint || plane!.url },
      logger: { level: config.logLevel },
    });
    try {
      await app.listen({ port: config.port, host: config.host });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") fail(`${config.nameOf("port")}: ${config.host}:${config.port} is already in use`);
      throw err;
    }
    closers.unshift(gatewayPart(app));
    const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host;
    const address = app.server.address();
    gatewayUrl = `http://${host}:${typeof address === "object" && address ? address.port : config.port}`;
  }
  if (generated && config.local) printToken(generated, gatewayUrl ?? plane!.url, join(config.local.dataDir, "api-key"));

  closeOnSignals(closers, { timeoutMs: config.shutdownTimeoutMs, log: pino({ level: config.logLevel, name: "shutdown" }) });
}

main().catch((err) => {
  process.stderr.write(`flyte-webhook: failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
