// Completion callbacks end to end: runs started through the gateway with `callback_url`
// (or over Connect with their own notification rules) end in the embedded plane, which
// POSTs to real receivers on loopback started here. Receivers check the Standard Webhooks
// signature with node:crypto alone, independent of the plane's signing code.
import { createHmac } from "node:crypto";
import { readFileSync, rmSync, statSync } from "node:fs";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { ActionPhase, HttpMethod, RunService, type RunSpec, RunSpecSchema } from "../src/controlplane/idl.ts";
import { CallbackSigner } from "../src/local/callback-signing.ts";
import type { CallbackOptions } from "../src/local/callbacks.ts";
import { type Received, type Recorder, startRecorder } from "./recorder.ts";
import { freePort, type Stack, startStack, TEST_CATALOG, TOKEN } from "./stack.ts";

const SECRET = `whsec_${Buffer.from("completion-callback-test-key-0123").toString("base64")}`;
/** Fast retries: tests wait milliseconds, not seconds. */
const FAST: CallbackOptions = { retryBaseMs: 20, maxDelayMs: 100, maxAttempts: 5, attemptTimeoutMs: 2000 };
const headers = { authorization: `Bearer ${TOKEN}` };

let rec: Recorder;
let stack: Stack;
let refusedPort: number;
const planeLogs: string[] = [];

function planeLogger(into: string[]) {
  const sink = new Writable({
    write(chunk, _enc, done) {
      into.push(String(chunk));
      done();
    },
  });
  return pino({ level: "trace" }, sink);
}

const logEntries = (logs: string[], msg: RegExp) =>
  logs
    .flatMap((chunk) => chunk.split("\n"))
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((entry) => msg.test(String(entry.msg)));

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const arrivals = (r: Recorder, path: string, count = 1, timeoutMs = 5000) =>
  until(`${count} request(s) at ${path}`, () => {
    const got = r.received.filter((q) => q.path === path);
    return got.length >= count ? got : undefined;
  }, timeoutMs);

/** Standard Webhooks verification written from the spec with node:crypto, nothing else. */
function verify(req: Received, secret: string): void {
  const id = req.headers["webhook-id"] as string;
  const timestamp = req.headers["webhook-timestamp"] as string;
  const signatures = String(req.headers["webhook-signature"]).split(" ");
  expect(id).toMatch(/^msg_[A-Za-z0-9_-]+$/);
  expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(300);
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${req.body}`).digest("base64");
  expect(signatures).toContain(`v1,${expected}`);
}

const startRun = async (task: string, callback: string, json: unknown = {}) => {
  const res = await stack.call(`/run-task/development/flytesnacks/${task}?callback_url=${encodeURIComponent(callback)}`, { method: "POST", json });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.name as string;
};

const planeClient = (s: Stack) => createClient(RunService, createConnectTransport({ baseUrl: s.plane.url, httpVersion: "2" }));
const runId = (name: string) => ({ org: "", project: "flytesnacks", domain: "development", name });
const noopTask = { org: "", project: "flytesnacks", domain: "development", name: "noop", version: "v1" };
const ruleSpec = (webhook: Record<string, unknown>, onPhases = [ActionPhase.SUCCEEDED, ActionPhase.FAILED]) =>
  create(RunSpecSchema, {
    notificationSettings: { case: "notificationRules", value: { rules: [{ onPhases, delivery: { case: "deliveryTemplate", value: { webhook } } }] } },
  });
const createRun = (s: Stack, name: string, runSpec: RunSpec, task = noopTask) =>
  planeClient(s).createRun(
    { id: { case: "runId", value: runId(name) }, task: { case: "taskId", value: task }, runSpec, inputWrapper: { case: "inputs", value: { literals: [] } } },
    { headers },
  );

const catalog = (port: number) => ({
  tasks: [...TEST_CATALOG.tasks, { name: "noop", type: "echo", inputs: {}, outputs: {} }, { name: "refused", type: "webhook", inputs: {}, config: { url: `http://127.0.0.1:${port}/nothing-here` } }],
});

beforeAll(async () => {
  rec = await startRecorder();
  refusedPort = await freePort();
  stack = await startStack({ catalog: catalog(refusedPort), plane: { callbacks: { ...FAST, secret: SECRET }, logger: planeLogger(planeLogs) } });
});
afterAll(async () => {
  await stack?.close();
  await rec?.close();
});

describe("completion callbacks", () => {
  it("POSTs a signed JSON callback when a run succeeds", async () => {
    const name = await startRun("echo", `${rec.url}/done`, { x: 1 });
    const [req] = await arrivals(rec, "/done");
    expect(req!.method).toBe("POST");
    expect(req!.headers["content-type"]).toBe("application/json");
    verify(req!, SECRET);
    const body = JSON.parse(req!.body);
    expect(body).toMatchObject({ type: "run.completed", data: { name, project: "flytesnacks", domain: "development", phase: "succeeded", error: "" } });
    expect(body.data.url).toContain(name);
    await until("no callback pending", () => stack.plane.pendingCallbacks() === 0);
    const delivered = logEntries(planeLogs, /completion callback delivered/).find((e) => e.run === name);
    expect(delivered).toMatchObject({ attempt: 1, status: 200, delivery: req!.headers["webhook-id"] });
  });

  it("signs as the published Standard Webhooks test vector says", () => {
    const signer = new CallbackSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const headersOf = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', new Date(1614265330 * 1000));
    expect(headersOf).toEqual({
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    });
  });

  it("tells a failed run's error", async () => {
    const name = await startRun("refused", `${rec.url}/failed`);
    const [req] = await arrivals(rec, "/failed");
    verify(req!, SECRET);
    const { data } = JSON.parse(req!.body);
    expect(data).toMatchObject({ name, phase: "failed" });
    expect(data.error).toContain("the connection was refused");
    const run = await stack.waitDone(name);
    expect(data.error).toBe(run.error ?? run.message ?? data.error);
  });

  it("delivers `aborted` with the abort reason, quotes and line breaks kept valid JSON", async () => {
    const name = await startRun("slow", `${rec.url}/aborted`, { x: 1 });
    const reason = 'stopped by "ops"\nsee ticket \\42';
    const aborted = await stack.call(`/run/${name}/abort?reason=${encodeURIComponent(reason)}`, { method: "POST" });
    expect(aborted.status).toBe(200);
    const [req] = await arrivals(rec, "/aborted");
    verify(req!, SECRET);
    expect(JSON.parse(req!.body).data).toMatchObject({ name, phase: "aborted", error: reason });
  });

  it("retries after the receiver answers 500, under the same webhook-id, each attempt signed", async () => {
    let calls = 0;
    rec.on("/flaky", (_req, res) => void res.writeHead(++calls <= 2 ? 500 : 204).end());
    const name = await startRun("echo", `${rec.url}/flaky`, { x: 2 });
    const reqs = await arrivals(rec, "/flaky", 3);
    expect(new Set(reqs.map((r) => r.headers["webhook-id"])).size).toBe(1);
    expect(new Set(reqs.map((r) => r.body)).size).toBe(1);
    for (const req of reqs) verify(req, SECRET);
    await until("no callback pending", () => stack.plane.pendingCallbacks() === 0);
    const retried = logEntries(planeLogs, /will retry/).filter((e) => e.run === name);
    expect(retried.map((e) => [e.attempt, e.reason])).toEqual([
      [1, "the receiver answered 500"],
      [2, "the receiver answered 500"],
    ]);
    expect(logEntries(planeLogs, /delivered/).find((e) => e.run === name)).toMatchObject({ attempt: 3, status: 204 });
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.received.filter((q) => q.path === "/flaky")).toHaveLength(3);
  });

  it("gives up after the last attempt and keeps the reason", async () => {
    rec.on("/down", (_req, res) => void res.writeHead(503).end("maintenance"));
    const name = await startRun("echo", `${rec.url}/down`, { x: 3 });
    await arrivals(rec, "/down", FAST.maxAttempts!);
    const gaveUp = await until("given up", () => logEntries(planeLogs, /given up/).find((e) => e.run === name));
    expect(gaveUp).toMatchObject({ attempt: FAST.maxAttempts, reason: "the receiver answered 503" });
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.received.filter((q) => q.path === "/down")).toHaveLength(FAST.maxAttempts!);
  });

  it("renders templates of rules given over Connect: URL, headers and body, unknown placeholders left", async () => {
    const runSpec = ruleSpec({
      url: `${rec.url}/custom/{{ .Run.Name }}?phase={{.Phase}}&error={{.Error}}`,
      method: HttpMethod.PUT,
      headers: { "Content-Type": "application/json; charset=utf-8", "X-Run": "{{.Run.Project}}/{{ .Run.Name }}" },
      bodyTemplate: '{"run":"{{.Run.Name}}","org":"{{.Run.Org}}","error":"{{ .Error }}","later":"{{.Run.Url}}","pipe":"{{ .Phase | upper }}"}',
    });
    await createRun(stack, "custom-template-run", runSpec, { ...noopTask, name: "refused" });
    const [req] = await arrivals(rec, "/custom/custom-template-run");
    verify(req!, SECRET);
    expect(req!.method).toBe("PUT");
    expect(req!.headers["x-run"]).toBe("flytesnacks/custom-template-run");
    const run = await stack.waitDone("custom-template-run");
    expect(req!.query.get("phase")).toBe("failed");
    expect(req!.query.get("error")).toContain("the connection was refused");
    const body = JSON.parse(req!.body);
    expect(body).toEqual({ run: "custom-template-run", org: "", error: req!.query.get("error"), later: "{{.Run.Url}}", pipe: "{{ .Phase | upper }}" });
    expect(run.phase).toBe("failed");
  });

  it("sends only for the phases a rule names", async () => {
    await createRun(stack, "only-on-failure", ruleSpec({ url: `${rec.url}/only-failed`, method: HttpMethod.POST, bodyTemplate: "{}" }, [ActionPhase.FAILED]));
    expect((await stack.waitDone("only-on-failure")).phase).toBe("succeeded");
    await until("no callback pending", () => stack.plane.pendingCallbacks() === 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(rec.received.filter((q) => q.path === "/only-failed")).toHaveLength(0);
  });

  it("refuses link-local and metadata callback URLs at the gateway (400)", async () => {
    for (const url of ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/hook", "http://[::ffff:169.254.169.254]/hook"]) {
      const res = await stack.call(`/run-task/development/flytesnacks/echo?callback_url=${encodeURIComponent(url)}`, { method: "POST", json: { x: 1 } });
      expect(res.status, url).toBe(400);
      expect(res.body.code).toBe("callback_not_allowed");
    }
  });

  it("never connects to a link-local address given straight to the plane: given up at once with the reason", async () => {
    for (const [name, url] of [
      ["metadata-callback", "http://169.254.169.254/latest/meta-data/"],
      ["ipv6-link-local-callback", "http://[fe80::1]:8080/hook"],
    ] as const) {
      await createRun(stack, name, ruleSpec({ url, method: HttpMethod.POST, bodyTemplate: "{}" }));
      const gaveUp = await until(`${name} given up`, () => logEntries(planeLogs, /given up/).find((e) => e.run === name));
      expect(gaveUp.attempt).toBe(1);
      expect(gaveUp.reason).toMatch(/link-local or cloud metadata address; requests there are refused/);
    }
    await until("no callback pending", () => stack.plane.pendingCallbacks() === 0);
  });

  it("refuses rules the plane cannot deliver with INVALID_ARGUMENT (400 through the gateway)", async () => {
    const webhook = { url: `${rec.url}/x`, method: HttpMethod.POST, bodyTemplate: "{}" };
    const cases: Array<[RunSpec, RegExp]> = [
      [create(RunSpecSchema, { notificationSettings: { case: "notificationRuleName", value: "on-failure" } }), /no stored notification rules/],
      [
        create(RunSpecSchema, {
          notificationSettings: {
            case: "notificationRules",
            value: { rules: [{ onPhases: [ActionPhase.FAILED], delivery: { case: "deliveryTemplate", value: { email: { to: [{ address: "a@example.com" }] } } } }] },
          },
        }),
        /does not send email/,
      ],
      [
        create(RunSpecSchema, {
          notificationSettings: { case: "notificationRules", value: { rules: [{ onPhases: [ActionPhase.FAILED], delivery: { case: "deliveryConfigName", value: "ops" } }] } },
        }),
        /no stored delivery configs/,
      ],
      [ruleSpec({ ...webhook, url: "ftp://127.0.0.1/x" }), /url must be http or https/],
      [ruleSpec({ ...webhook, url: "not a url" }), /url is not an absolute URL/],
      [ruleSpec(webhook, [ActionPhase.RUNNING]), /running does not end a run/],
      [ruleSpec({ ...webhook, headers: { "webhook-signature": "v1,forged" } }), /set by the control plane/],
      [ruleSpec({ ...webhook, method: HttpMethod.CONNECT }), /method CONNECT/],
    ];
    for (const [i, [runSpec, message]] of cases.entries()) {
      const failure = await createRun(stack, `refused-rule-${i}`, runSpec).then(
        () => undefined,
        (err) => err,
      );
      expect(failure?.code, String(message)).toBe(Code.InvalidArgument);
      expect(failure.rawMessage).toMatch(message);
    }
    // Nothing was stored for them.
    expect((await stack.call("/run/refused-rule-0")).status).toBe(404);
  });

  it("logs neither the signing secret, nor signatures, nor a receiver's path or query", async () => {
    const name = await startRun("echo", `${rec.url}/hooks/T0/sekrit-path-token?token=sekrit-query`, { x: 9 });
    const [req] = await arrivals(rec, "/hooks/T0/sekrit-path-token");
    await until("delivered", () => logEntries(planeLogs, /delivered/).find((e) => e.run === name));
    expect(logEntries(planeLogs, /delivered/).find((e) => e.run === name)?.receiver).toBe(rec.url);
    const everything = [...planeLogs, ...stack.logs].join("\n");
    for (const secret of [SECRET.slice("whsec_".length), "sekrit-path-token", "sekrit-query", String(req!.headers["webhook-signature"]).slice(3)]) {
      expect(everything).not.toContain(secret);
    }
    for (const signature of rec.received.map((r) => String(r.headers["webhook-signature"]).slice(3))) expect(everything).not.toContain(signature);
  });

  it("refuses a malformed FLYTE_LOCAL_CALLBACK_SECRET without echoing it", () => {
    const bad = "whsec_c2hvcnQ=";
    expect(() => loadConfig({ env: { FLYTE_LOCAL_CALLBACK_SECRET: bad } })).toThrow(/FLYTE_LOCAL_CALLBACK_SECRET: .*24 to 64 bytes/);
    try {
      loadConfig({ env: { FLYTE_LOCAL_CALLBACK_SECRET: bad } });
    } catch (err) {
      expect((err as Error).message).not.toContain("c2hvcnQ");
    }
    expect(() => loadConfig({ env: { FLYTE_LOCAL_CALLBACK_SECRET: "plain-secret" } })).toThrow(/expected whsec_/);
    expect(loadConfig({ env: { FLYTE_LOCAL_CALLBACK_SECRET: SECRET } }).local?.callbackSecret).toBe(SECRET);
  });
});

describe("completion callbacks across restarts", () => {
  it("a delivery pending while the receiver is down arrives after the plane restarts, signed with the kept secret", async () => {
    const receiver = await startRecorder();
    const port = receiver.port;
    await receiver.close(); // down while the run ends
    const logs: string[] = [];
    const options = { callbacks: { retryBaseMs: 50, maxDelayMs: 100, maxAttempts: 1000 }, logger: planeLogger(logs) };
    let first: Stack | undefined = await startStack({ plane: options });
    const dir = first.dir;
    let second: Stack | undefined;
    let back: Recorder | undefined;
    try {
      // No secret given: one is generated and kept, mode 0600, and reused after the restart.
      const secretFile = first.plane.callbackSecretFile!;
      expect(secretFile).toBe(`${dir}/callback-secret`);
      expect(statSync(secretFile).mode & 0o777).toBe(0o600);
      const secret = readFileSync(secretFile, "utf8").trim();
      expect(secret).toMatch(/^whsec_/);

      const url = `http://127.0.0.1:${port}/after-restart`;
      const started = await first.call(`/run-task/development/flytesnacks/echo?callback_url=${encodeURIComponent(url)}`, { method: "POST", json: { x: 5 } });
      const name = started.body.name as string;
      await first.waitDone(name);
      const failed = await until("a failed attempt", () => logEntries(logs, /will retry/).find((e) => e.run === name));
      expect(failed.reason).toBe("the connection was refused");
      expect(first.plane.pendingCallbacks()).toBe(1);
      await first.close({ keepDir: true });
      first = undefined;

      back = await startRecorder(port);
      second = await startStack({ dir, plane: options });
      expect(second.plane.callbackSecretFile).toBe(secretFile);
      const [req] = await arrivals(back, "/after-restart");
      verify(req!, secret);
      expect(req!.headers["webhook-id"]).toBe(failed.delivery);
      expect(JSON.parse(req!.body).data).toMatchObject({ name, phase: "succeeded" });
      await until("no callback pending", () => second!.plane.pendingCallbacks() === 0);
    } finally {
      await first?.close({ keepDir: true });
      await second?.close();
      await back?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs failed by crash recovery deliver their callbacks; closing does not wait for a receiver that hangs", async () => {
    const receiver = await startRecorder();
    receiver.on("/hang", () => undefined); // the task's call: never answered
    receiver.on("/hang-callback", () => undefined);
    const logs: string[] = [];
    const hangCatalog = {
      tasks: [...TEST_CATALOG.tasks, { name: "hangs", type: "webhook", inputs: {}, config: { url: `${receiver.url}/hang`, timeout: 60 } }],
    };
    const options = { callbacks: { ...FAST, attemptTimeoutMs: 30_000, secret: SECRET }, logger: planeLogger(logs) };
    let first: Stack | undefined = await startStack({ catalog: hangCatalog, plane: options });
    const dir = first.dir;
    let second: Stack | undefined;
    try {
      // A callback in flight to a receiver that never answers, and a run in flight.
      const held = await first.call(`/run-task/development/flytesnacks/echo?callback_url=${encodeURIComponent(`${receiver.url}/hang-callback`)}`, { method: "POST", json: { x: 1 } });
      await arrivals(receiver, "/hang-callback");
      const inflight = await first.call(`/run-task/development/flytesnacks/hangs?callback_url=${encodeURIComponent(`${receiver.url}/recovered`)}`, { method: "POST", json: {} });
      const name = inflight.body.name as string;
      await arrivals(receiver, "/hang");
      const closing = performance.now();
      await first.close({ keepDir: true });
      first = undefined;
      expect(performance.now() - closing).toBeLessThan(5000); // far below the 30 s attempt deadline: nothing waited for it

      receiver.on("/hang-callback", (_req, res) => void res.writeHead(200).end());
      second = await startStack({ dir, catalog: hangCatalog, plane: options });
      const [req] = await arrivals(receiver, "/recovered");
      verify(req!, SECRET);
      const { data } = JSON.parse(req!.body);
      expect(data).toMatchObject({ name, phase: "failed" });
      expect(data.error).toContain("stopped while this run was in flight");
      // The callback cut short by the close is sent again, under its id, and not counted twice.
      const again = await arrivals(receiver, "/hang-callback", 2);
      expect(again[1]!.headers["webhook-id"]).toBe(again[0]!.headers["webhook-id"]);
      expect(JSON.parse(again[1]!.body).data.name).toBe(held.body.name);
      const delivered = await until("delivered", () => logEntries(logs, /delivered/).find((e) => e.run === held.body.name));
      expect(delivered.attempt).toBe(1);
      await until("no callback pending", () => second!.plane.pendingCallbacks() === 0);
    } finally {
      await first?.close({ keepDir: true });
      await second?.close();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
