// The command line as a user meets it: the built CLI, spawned with an environment.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, configFromEnv, normalizeEndpoint } from "../src/config.ts";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function run(env: Record<string, string>, args: string[] = ["serve"]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe("configuration from the environment", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ FLYTE_WEBHOOK_ENDPOINT_GROUPS: "core", FLYTE_WEBHOOK_ENDPOINTS: "health" }, "FLYTE_WEBHOOK_ENDPOINT_GROUPS: cannot be set together with FLYTE_WEBHOOK_ENDPOINTS"],
    [{ FLYTE_WEBHOOK_ENDPOINT_GROUPS: "core,bogus" }, "FLYTE_WEBHOOK_ENDPOINT_GROUPS: unknown endpoint group(s): bogus; valid groups are: all, core"],
    [{ FLYTE_WEBHOOK_ENDPOINTS: "health,nope" }, "FLYTE_WEBHOOK_ENDPOINTS: unknown endpoint(s): nope; valid endpoints are: health, me"],
    [{ PORT: "80a" }, "PORT: expected a whole number"],
    [{ PORT: "70000" }, "PORT: expected a whole number from 0 to 65535"],
    [{ FLYTE_PROTOCOL: "soap" }, "FLYTE_PROTOCOL: expected one of connect, grpc, grpc-web"],
    [{ FLYTE_INSECURE: "maybe" }, "FLYTE_INSECURE: expected true or false"],
    [{ FLYTE_ENDPOINT: "http://user:pw@host" }, "FLYTE_ENDPOINT: expected a plain URL"],
    [{ FLYTE_LOCAL_ADDR: "nowhere" }, "FLYTE_LOCAL_ADDR: expected host:port"],
    [{ FLYTE_LOCAL_API_KEYS: "just-a-token" }, "FLYTE_LOCAL_API_KEYS: entries must look like token=subject"],
    [{ FLYTE_CONSOLE_URL: "ftp://x" }, "FLYTE_CONSOLE_URL: expected an http(s) URL"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL: expected one of"],
    [{ FLYTE_DEADLINE_MS: "0" }, "FLYTE_DEADLINE_MS: expected a whole number from 1"],
  ];
  it.each(cases)("%j → %s", (env, message) => {
    expect(() => configFromEnv(env)).toThrow(ConfigError);
    expect(() => configFromEnv(env)).toThrow(message);
  });

  it("never echoes API keys in its messages", () => {
    expect(() => configFromEnv({ FLYTE_LOCAL_API_KEYS: "secret-token-abc" })).toThrow(/^(?!.*secret-token-abc)/);
  });

  it("accepts the endpoint forms flyte-sdk accepts", () => {
    expect(normalizeEndpoint("dns:///flyte.example.com:443", false)).toBe("https://flyte.example.com");
    expect(normalizeEndpoint("flyte.example.com:8089", true)).toBe("http://flyte.example.com:8089");
    expect(normalizeEndpoint("https://org.example.com/", false)).toBe("https://org.example.com");
    expect(normalizeEndpoint("http://127.0.0.1:8089", false)).toBe("http://127.0.0.1:8089");
  });

  it("uses the embedded control plane only when FLYTE_ENDPOINT is unset, with the documented defaults", () => {
    const local = configFromEnv({}, "/srv");
    expect(local.local).toMatchObject({ addr: "127.0.0.1:8089", dbPath: "/srv/.flyte-webhook/flyte.db", apiKeys: undefined });
    expect(local.port).toBe(8080);
    expect(local.gateway.controlPlane).toMatchObject({ project: "flytesnacks", domain: "development", org: "" });
    const remote = configFromEnv({ FLYTE_ENDPOINT: "dns:///union.example.com", FLYTE_ORG: "acme" });
    expect(remote.local).toBeUndefined();
    expect(remote.gateway.controlPlane).toMatchObject({ endpoint: "https://union.example.com", org: "acme" });
  });
});

describe("flyte-webhook serve", () => {
  it("exits 2 with a message naming the variable on bad configuration", async () => {
    const proc = run({ FLYTE_WEBHOOK_ENDPOINT_GROUPS: "core", FLYTE_WEBHOOK_ENDPOINTS: "health" });
    expect(await proc.exited).toBe(2);
    expect(proc.err()).toContain("FLYTE_WEBHOOK_ENDPOINT_GROUPS: cannot be set together with FLYTE_WEBHOOK_ENDPOINTS");
    expect(proc.err()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("exits 2 on a catalog that does not parse", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-cli-"));
    dirs.push(dir);
    const proc = run({ FLYTE_LOCAL_CATALOG: "/nonexistent/catalog.json", FLYTE_LOCAL_ADDR: "127.0.0.1:0", PORT: "0", FLYTE_LOCAL_DB: join(dir, "flyte.db") });
    expect(await proc.exited).toBe(2);
    expect(proc.err()).toContain("FLYTE_LOCAL_CATALOG: cannot read catalog /nonexistent/catalog.json: ENOENT");
  });

  it("exits 2 on a catalog task whose configuration is invalid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-cli-"));
    dirs.push(dir);
    const catalog = join(dir, "catalog.json");
    writeFileSync(catalog, JSON.stringify({ tasks: [{ name: "bad", type: "echo", config: { delay_ms: -5 } }] }));
    const proc = run({ FLYTE_LOCAL_CATALOG: catalog, FLYTE_LOCAL_ADDR: "127.0.0.1:0", PORT: "0", FLYTE_LOCAL_DB: join(dir, "flyte.db") });
    expect(await proc.exited).toBe(2);
    expect(proc.err()).toContain("FLYTE_LOCAL_CATALOG: catalog task bad: config.delay_ms must be a whole number");
  });

  it("serves the walk-through of the README: token, me, run-task, run, io, apps, triggers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-cli-"));
    dirs.push(dir);
    const proc = run({ PORT: "0", FLYTE_LOCAL_ADDR: "127.0.0.1:0", FLYTE_LOCAL_DB: join(dir, "flyte.db"), LOG_LEVEL: "warn" });
    const deadline = Date.now() + 15_000;
    let match: RegExpMatchArray | null = null;
    while (!(match = /export TOKEN=(\S+)\n\s+curl -H "Authorization: Bearer \$TOKEN" (http:\/\/\S+)\/me/.exec(proc.out()))) {
      if (Date.now() > deadline) throw new Error(`no token line; stdout: ${proc.out()} stderr: ${proc.err()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [, token, base] = match;
    expect(statSync(join(dir, "api-key")).mode & 0o777).toBe(0o600);
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

    expect(await (await fetch(`${base}/me`, { headers })).json()).toEqual({ subject: "local-user", name: "local-user" });
    const created = (await (await fetch(`${base}/run-task/development/flytesnacks/echo`, { method: "POST", headers, body: JSON.stringify({ x: 3, msg: "hello" }) })).json()) as { name: string };
    let status: any;
    for (let i = 0; i < 200; i++) {
      status = await (await fetch(`${base}/run/${created.name}`, { headers })).json();
      if (status.done) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toMatchObject({ phase: "succeeded", done: true });
    expect(await (await fetch(`${base}/run/${created.name}/io`, { headers })).json()).toEqual({
      name: created.name,
      inputs: { x: 3, msg: "hello" },
      outputs: { x: 3, msg: "hello" },
    });

    // Apps and triggers of the example catalog (POSTs without a body, as curl -X POST sends them).
    const auth = { authorization: headers.authorization };
    expect(await (await fetch(`${base}/app/my-app`, { headers })).json()).toMatchObject({ name: "my-app", is_deactivated: true });
    const activated = await fetch(`${base}/app/my-app/activate?wait=true`, { method: "POST", headers: auth });
    expect(await activated.json()).toMatchObject({ name: "my-app", is_active: true, endpoint: "http://127.0.0.1:9001" });
    const deactivated = await fetch(`${base}/app/my-app/deactivate?wait=true`, { method: "POST", headers: auth });
    expect(await deactivated.json()).toMatchObject({ is_deactivated: true });
    expect((await fetch(`${base}/app/my-app/call?path=/`, { method: "POST", headers: auth })).status).toBe(409);
    const trigger = await fetch(`${base}/trigger/echo/every-minute/activate`, { method: "POST", headers: auth });
    expect(await trigger.json()).toMatchObject({ task_name: "echo", trigger_name: "every-minute", active: true });
    expect((await fetch(`${base}/trigger/echo/every-minute/deactivate`, { method: "POST", headers: auth })).status).toBe(200);

    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    // The token went to the terminal once, never into a log line.
    const logLines = proc.out().split("\n").filter((line) => line.startsWith("{"));
    expect(logLines.join("\n")).not.toContain(token);
  });
});
