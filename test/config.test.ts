// One table of settings, three sources: flags over environment over config file over defaults.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";
import { flagOf, SETTINGS } from "../src/settings.ts";

const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}
const thrown = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("did not throw");
};

describe("precedence: flags > environment > config file > defaults", () => {
  const config = file("all.json", { port: 7001, project: "from-file", domain: "from-file", logLevel: "debug", endpointGroups: ["core"] });

  it("each setting comes from the highest source that has it", () => {
    const c = loadConfig({ env: { PORT: "7002", FLYTE_PROJECT: "from-env" }, args: ["--config", config, "--port", "7003"] });
    expect(c.port).toBe(7003);
    expect(c.gateway.controlPlane).toMatchObject({ project: "from-env", domain: "from-file" });
    expect(c.logLevel).toBe("debug");
    expect(c.gateway.endpointGroups).toEqual(["core"]);
    expect(c.host).toBe("127.0.0.1"); // default
    expect(c.nameOf("port")).toBe("--port");
    expect(c.nameOf("project")).toBe("FLYTE_PROJECT");
    expect(c.nameOf("domain")).toBe(`${config}: domain`);
  });

  it("FLYTE_WEBHOOK_CONFIG names the file when --config does not", () => {
    expect(loadConfig({ env: { FLYTE_WEBHOOK_CONFIG: config } }).port).toBe(7001);
  });

  it("an endpoint filter from a higher source replaces the other form from a lower one", () => {
    const c = loadConfig({ env: { FLYTE_WEBHOOK_ENDPOINTS: "health,me" }, args: ["--config", config] });
    expect(c.gateway.endpoints).toEqual(["health", "me"]);
    expect(c.gateway.endpointGroups).toBeUndefined();
    expect(thrown(() => loadConfig({ env: {}, args: ["--endpoint-groups", "core", "--endpoints", "me"] })).message).toBe(
      "--endpoint-groups: cannot be set together with --endpoints: use one or the other",
    );
  });

  it("file values may be typed JSON; flags take switches", () => {
    const c = loadConfig({
      env: {},
      args: ["--config", file("typed.json", { rateLimitGroups: { task: 5 }, corsOrigins: ["https://a.example"], metrics: false, endpoint: "flyte.example.com:443" }), "--insecure"],
    });
    expect(c.gateway.rateLimit?.groups).toEqual({ task: 5 });
    expect(c.gateway.corsOrigins).toEqual(["https://a.example"]);
    expect(c.gateway.metrics).toBe(false);
    expect(c.gateway.controlPlane.endpoint).toBe("http://flyte.example.com:443");
    expect(loadConfig({ env: { FLYTE_INSECURE: "true", FLYTE_ENDPOINT: "h:1" }, args: ["--no-insecure"] }).gateway.controlPlane.endpoint).toBe("https://h:1");
  });

  it("serve defaults: rate limits on, metrics on, 1 MiB bodies, 10 s shutdown bound", () => {
    const c = loadConfig({ env: {} });
    expect(c.gateway.rateLimit).toMatchObject({ perIp: 1200, perCredential: 600, windowMs: 60_000 });
    expect(c.gateway.metrics).toEqual({ token: undefined });
    expect(c.gateway.bodyLimit).toBe(1024 * 1024);
    expect(c.shutdownTimeoutMs).toBe(10_000);
  });
});

describe("a bad value names the setting as its source spells it", () => {
  const bad = file("bad.json", { port: "eighty" });
  const cases: Array<[Parameters<typeof loadConfig>[0], string]> = [
    [{ env: {}, args: ["--port", "x"] }, '--port: expected a whole number from 0 to 65535, got "x"'],
    [{ env: { PORT: "x" } }, 'PORT: expected a whole number from 0 to 65535, got "x"'],
    [{ env: {}, args: ["--config", bad] }, `${bad}: port: expected a whole number from 0 to 65535, got "eighty"`],
    [{ env: {}, args: ["--config", file("unknown.json", { prot: 1 })] }, 'unknown setting "prot"'],
    [{ env: {}, args: ["--config", file("broken.json", "{port:")] }, "not valid JSON"],
    [{ env: {}, args: ["--config", join(dir, "missing.json")] }, "cannot read"],
    [{ env: {}, args: ["--prot", "1"] }, "command line: Unknown option '--prot'"],
    [{ env: {}, args: ["--rate-limit-groups", "tasks=5"] }, '--rate-limit-groups: unknown endpoint group "tasks"'],
    [{ env: { FLYTE_WEBHOOK_TRUST_PROXY: "everyone" } }, "FLYTE_WEBHOOK_TRUST_PROXY: expected true, false, a hop count"],
    [{ env: { FLYTE_WEBHOOK_BODY_LIMIT: "0" } }, "FLYTE_WEBHOOK_BODY_LIMIT: expected a whole number from 1"],
    [{ env: {}, args: ["--endpoint-groups", "core,bogus"] }, "--endpoint-groups: unknown endpoint group(s): bogus"],
  ];
  it.each(cases)("%j → %s", (sources, message) => {
    const err = thrown(() => loadConfig(sources));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(message);
  });

  it("never echoes secrets: Redis URLs, API keys, metrics tokens", () => {
    expect(thrown(() => loadConfig({ env: { REDIS_URL: "http://user:hunter2@redis" } })).message).not.toContain("hunter2");
    expect(thrown(() => loadConfig({ env: {}, args: ["--local-api-keys", "lonely-secret-token"] })).message).not.toContain("lonely-secret-token");
  });
});

describe("flyte-webhook serve with flags", () => {
  it("exits 2 naming the flag, without a stack trace", async () => {
    const cli = new URL("../dist/cli.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, "serve", "--port", "99999"], { env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toBe('flyte-webhook: --port: expected a whole number from 0 to 65535, got "99999"\n');
  });
});

describe("README", () => {
  it("lists every setting with its variable and flag", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const setting of Object.values(SETTINGS)) {
      expect(readme, setting.env).toContain(`| \`${setting.env}\` | \`${flagOf(setting.key)}\` |`);
    }
  });
});
