// The webhook task type end to end: runs of webhook tasks in the embedded plane call a
// real HTTP server started here, which checks what it received; outputs, failures and
// secret redaction are read back through the gateway.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secretsFrom } from "../src/connectors/secrets.ts";
import { type Recorder, startRecorder } from "./recorder.ts";
import { type Stack, startStack, TOKEN } from "./stack.ts";

const API_TOKEN = "tok_9f8e7d6c5b4a39281706";
const FILE_SECRET = "file-secret/with+chars";

let rec: Recorder;
let stack: Stack;
let secretsDir: string;
let closedPort: number;
const planeLogs: string[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const webhook = (name: string, config: Record<string, unknown>, inputs: Record<string, string> = {}) => ({ name, type: "webhook", inputs, config });

beforeAll(async () => {
  rec = await startRecorder();
  closedPort = await freePort();
  secretsDir = mkdtempSync(join(tmpdir(), "flyte-webhook-secrets-"));
  writeFileSync(join(secretsDir, "FILE_SECRET"), `${FILE_SECRET}\n`);

  rec.on("/created", (_req, res) => void res.writeHead(201, { "content-type": "application/json; charset=utf-8" }).end('{"id":"c-1"}'));
  rec.on("/no-content", (_req, res) => void res.writeHead(204).end());
  rec.on("/text", (_req, res) => void res.writeHead(200, { "content-type": "text/plain" }).end("plain answer"));
  rec.on("/not-json", (_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end("{oops"));
  rec.on("/missing", (_req, res) => void res.writeHead(404, { "content-type": "text/plain" }).end("no such hook"));
  rec.on("/boom", (_req, res) => void res.writeHead(500, { "content-type": "text/plain" }).end(`boom ${"x".repeat(2000)}`));
  rec.on("/slow", (_req, res) => void setTimeout(() => res.writeHead(200).end("late"), 3000));
  rec.on("/hang", () => undefined);
  rec.on("/big", (_req, res) => void res.writeHead(200, { "content-type": "text/plain" }).end("y".repeat(5000)));
  rec.on("/redirect", (_req, res) => void res.writeHead(302, { location: `${rec.url}/target` }).end());
  rec.on("/redirect-metadata", (_req, res) => void res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end());
  rec.on("/echo", (req, res) =>
    void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ auth: req.headers.authorization, query: req.query.toString(), body: req.body })),
  );
  rec.on("/echo-500", (req, res) => void res.writeHead(500, { "content-type": "text/plain" }).end(`denied for ${req.headers.authorization}`));

  const u = rec.url;
  const catalog = {
    tasks: [
      webhook(
        "notify",
        {
          url: `${u}/hook`,
          method: "POST",
          headers: { "X-Team": "{inputs.user}", "X-Count": "{inputs.n}" },
          data: { who: "{inputs.user}", n: "{inputs.n}", tags: "{inputs.tags}", text: "hi {inputs.user}, {not a placeholder}" },
          show_data: true,
          show_url: true,
          timeout: 10,
        },
        { user: "str", n: "int", tags: "list[str]" },
      ),
      webhook("get-item", { url: `${u}/items/{inputs.id}`, method: "GET", data: { q: "{inputs.q}", many: ["a", "b"] }, show_url: true }, { id: "str", q: "str" }),
      webhook("put", { url: `${u}/put`, method: "PUT", data: { v: 1 } }),
      webhook("patch", { url: `${u}/patch`, method: "patch", data: { v: 2 } }),
      webhook("delete", { url: `${u}/delete`, method: "DELETE" }),
      webhook("created", { url: `${u}/created` }),
      webhook("no-content", { url: `${u}/no-content` }),
      webhook("text", { url: `${u}/text`, method: "GET" }),
      webhook("not-json", { url: `${u}/not-json` }),
      webhook("missing", { url: `${u}/missing` }),
      webhook("boom", { url: `${u}/boom` }),
      webhook("slow", { url: `${u}/slow`, timeout: "0.3s" }),
      webhook("hang", { url: `${u}/hang`, timeout: 60 }),
      webhook("big", { url: `${u}/big`, max_response_bytes: 1000 }),
      webhook("refused", { url: `http://127.0.0.1:${closedPort}/x` }),
      webhook("dns", { url: "http://no-such-host.invalid/x", timeout: 5 }),
      webhook("metadata", { url: "http://169.254.169.254/latest/meta-data/" }),
      webhook("metadata-v6", { url: "http://[fd00:ec2::254]/latest/meta-data/" }),
      webhook("metadata-mapped", { url: "http://[::ffff:169.254.169.254]/latest/meta-data/" }),
      webhook("metadata-decimal", { url: "http://2852039166/latest/meta-data/" }),
      webhook("via-input", { url: "{inputs.target}", method: "GET" }, { target: "str" }),
      webhook("redirect", { url: `${u}/redirect` }),
      webhook("redirect-follow", { url: `${u}/redirect`, follow_redirects: true }),
      webhook("redirect-metadata", { url: `${u}/redirect-metadata`, follow_redirects: true }),
      webhook(
        "secret",
        {
          url: `${u}/echo?key={secrets.FILE_SECRET}`,
          headers: { Authorization: "Bearer {secrets.API_TOKEN}" },
          data: { token: "{secrets.API_TOKEN}", who: "{inputs.user}" },
          show_data: true,
          show_url: true,
        },
        { user: "str" },
      ),
      webhook("secret-500", { url: `${u}/echo-500`, headers: { Authorization: "Bearer {secrets.API_TOKEN}" } }),
      webhook("no-secret", { url: `${u}/hook`, headers: { Authorization: "Bearer {secrets.NOPE}" } }),
      webhook("missing-key", { url: `${u}/hook`, data: { id: "{inputs.user.id}" } }, { user: "json" }),
    ],
  };
  const sink = new Writable({
    write(chunk, _enc, done) {
      planeLogs.push(String(chunk));
      done();
    },
  });
  stack = await startStack({
    catalog,
    plane: {
      secrets: secretsFrom({ env: { FLYTE_SECRET_API_TOKEN: API_TOKEN }, dir: secretsDir }),
      logger: pino({ level: "trace" }, sink),
    },
  });
});

afterAll(async () => {
  await stack?.close();
  await rec?.close();
  rmSync(secretsDir, { recursive: true, force: true });
});

async function run(task: string, inputs: unknown = {}) {
  const { status, body } = await stack.call(`/run-task/development/flytesnacks/${task}`, { method: "POST", json: inputs });
  expect(status, JSON.stringify(body)).toBe(200);
  const done = await stack.waitDone(body.name);
  const io = await stack.call(`/run/${body.name}/io`);
  return { name: body.name as string, run: done, outputs: io.body.outputs, io: io.body };
}

const lastTo = (path: string) => [...rec.received].reverse().find((r) => r.path === path)!;

describe("webhook calls", () => {
  it("POSTs the templated headers and JSON body, and reports info (end to end through the gateway)", async () => {
    const { run: result, outputs } = await run("notify", { user: "ada", n: 3, tags: ["x", "y"] });
    expect(result.phase).toBe("succeeded");
    const got = lastTo("/hook");
    expect(got.method).toBe("POST");
    expect(got.headers["x-team"]).toBe("ada");
    expect(got.headers["x-count"]).toBe("3");
    expect(got.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(got.body)).toEqual({ who: "ada", n: 3, tags: ["x", "y"], text: "hi ada, {not a placeholder}" });
    expect(outputs).toEqual({
      info: {
        status_code: 200,
        response_data: { ok: true },
        input_data: { who: "ada", n: 3, tags: ["x", "y"], text: "hi ada, {not a placeholder}" },
        url: `${rec.url}/hook`,
      },
    });
  });

  it("GETs with data as query parameters (lists repeated) and encodes inputs in the path", async () => {
    const { outputs } = await run("get-item", { id: "a b/../c", q: "x&y=1" });
    const got = lastTo("/items/a%20b%2F..%2Fc");
    expect(got.method).toBe("GET");
    expect(got.body).toBe("");
    expect(got.query.get("q")).toBe("x&y=1");
    expect(got.query.getAll("many")).toEqual(["a", "b"]);
    expect(outputs.info.status_code).toBe(200);
    expect(outputs.info.url).toBe(`${rec.url}/items/a%20b%2F..%2Fc?q=x%26y%3D1&many=a&many=b`);
    expect(outputs.info).not.toHaveProperty("input_data");
  });

  it.each([
    ["put", "PUT", '{"v":1}'],
    ["patch", "PATCH", '{"v":2}'],
    ["delete", "DELETE", ""],
  ])("sends %s as %s", async (task, method, body) => {
    const { run: result } = await run(task);
    expect(result.phase).toBe("succeeded");
    const got = lastTo(`/${task}`);
    expect(got.method).toBe(method);
    expect(got.body).toBe(body);
  });

  it("treats any 2xx as success and parses JSON answers only", async () => {
    expect((await run("created")).outputs.info).toEqual({ status_code: 201, response_data: { id: "c-1" } });
    expect((await run("no-content")).outputs.info).toEqual({ status_code: 204, response_data: "" });
    expect((await run("text")).outputs.info).toEqual({ status_code: 200, response_data: "plain answer" });
    expect((await run("not-json")).outputs.info).toEqual({ status_code: 200, response_data: "{oops" });
  });
});

describe("webhook failures fail the run with a clear message", () => {
  const failed = async (task: string, inputs: unknown = {}) => {
    const started = Date.now();
    const { run: result, outputs } = await run(task, inputs);
    expect(result.phase).toBe("failed");
    expect(outputs).toBeNull();
    return { error: result.error as string, ms: Date.now() - started };
  };

  it("4xx and 5xx: status and the start of the body", async () => {
    expect((await failed("missing")).error).toBe(`webhook POST ${rec.url}/missing answered 404: no such hook`);
    const { error } = await failed("boom");
    expect(error).toMatch(new RegExp(`^webhook POST ${rec.url}/boom answered 500: boom x+…$`));
    expect(error.length).toBeLessThan(700);
  });

  it("timeout: fails at the configured bound, not later", async () => {
    const { error, ms } = await failed("slow");
    expect(error).toBe(`webhook POST ${rec.url}/slow: no answer within the timeout of 0.3 s`);
    expect(ms).toBeLessThan(2500);
  });

  it("oversize answer", async () => {
    expect((await failed("big")).error).toBe(`webhook POST ${rec.url}/big: the response body is larger than max_response_bytes (1000 bytes)`);
  });

  it("connection refused and unknown host", async () => {
    expect((await failed("refused")).error).toBe(`webhook POST http://127.0.0.1:${closedPort}/x: the connection was refused`);
    expect((await failed("dns")).error).toBe("webhook POST http://no-such-host.invalid/x: the host name could not be resolved");
  });

  it.each(["metadata", "metadata-v6", "metadata-mapped", "metadata-decimal"])("refuses cloud metadata addresses (%s)", async (task) => {
    expect((await failed(task)).error).toMatch(/is a link-local or cloud metadata address; requests there are refused$/);
  });

  it("refuses a metadata address that comes from an input", async () => {
    expect((await failed("via-input", { target: "http://169.254.169.254/" })).error).toMatch(/link-local or cloud metadata address/);
    expect((await failed("via-input", { target: "file:///etc/passwd" })).error).toBe('webhook url "file:///etc/passwd" is not an http(s) URL');
  });

  it("does not follow redirects unless told to, and never to a metadata address", async () => {
    expect((await failed("redirect")).error).toBe(`webhook POST ${rec.url}/redirect answered 302 (redirects are not followed unless config.follow_redirects is true)`);
    const before = rec.received.filter((r) => r.path === "/target").length;
    expect((await run("redirect-follow")).run.phase).toBe("succeeded");
    expect(rec.received.filter((r) => r.path === "/target").length).toBe(before + 1);
    expect((await failed("redirect-metadata")).error).toMatch(/link-local or cloud metadata address/);
  });

  it("names a missing input key or secret", async () => {
    expect((await failed("missing-key", { user: { name: "ada" } })).error).toBe('webhook template: {inputs.user.id}: "inputs.user" has no key "id"');
    expect((await failed("no-secret")).error).toBe('webhook template: secret "NOPE" is not available');
  });

  it("abort stops a call in flight", async () => {
    const seen = rec.received.length;
    const { body } = await stack.call("/run-task/development/flytesnacks/hang", { method: "POST", json: {} });
    await rec.waitFor(seen + 1);
    const abandonedBefore = rec.abandoned;
    expect((await stack.call(`/run/${body.name}/abort`, { method: "POST" })).status).toBe(200);
    expect((await stack.waitDone(body.name, 2000)).phase).toBe("aborted");
    for (let i = 0; i < 100 && rec.abandoned === abandonedBefore; i++) await new Promise((r) => setTimeout(r, 10));
    expect(rec.abandoned).toBe(abandonedBefore + 1);
  });
});

describe("secrets", () => {
  it("are sent to the far end and shown as *** in outputs", async () => {
    const { outputs, io } = await run("secret", { user: "ada" });
    const got = lastTo("/echo");
    expect(got.headers.authorization).toBe(`Bearer ${API_TOKEN}`);
    expect(got.query.get("key")).toBe(FILE_SECRET);
    expect(JSON.parse(got.body)).toEqual({ token: API_TOKEN, who: "ada" });
    expect(outputs.info.url).toBe(`${rec.url}/echo?key=***`);
    expect(outputs.info.input_data).toEqual({ token: "***", who: "ada" });
    // The far end echoed them back: the output still does not hold them.
    expect(outputs.info.response_data).toEqual({ auth: "Bearer ***", query: "key=***", body: JSON.stringify({ token: "***", who: "ada" }) });
    expect(JSON.stringify(io)).not.toContain(API_TOKEN);
  });

  it("never appear in error messages or logs", async () => {
    const { run: result } = await run("secret-500");
    expect(result.error).toBe(`webhook POST ${rec.url}/echo-500 answered 500: denied for Bearer ***`);
    const everything = [...stack.logs, ...planeLogs].join("\n");
    for (const secret of [API_TOKEN, FILE_SECRET, encodeURIComponent(FILE_SECRET), TOKEN]) expect(everything).not.toContain(secret);
    expect(planeLogs.join("\n")).toContain('"msg":"webhook called"');
  });
});
