// run_task beyond the reference: waiting for the run (WatchRunDetails, not polling),
// idempotent starts (Idempotency-Key, enforced by the plane through the run's name), and
// completion callbacks written into the run's spec. Black-box over HTTP, real plane.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunService } from "../src/controlplane/idl.ts";
import { freePort, OTHER_TOKEN, ownClient, settle, type Stack, startStack, TEST_CATALOG, TOKEN } from "./stack.ts";

let stack: Stack;
let refusedPort: number;

beforeAll(async () => {
  refusedPort = await freePort();
  stack = await startStack({
    catalog: {
      tasks: [
        ...TEST_CATALOG.tasks,
        // Fails at once: nothing listens there.
        { name: "broken-hook", type: "webhook", inputs: {}, config: { url: `http://127.0.0.1:${refusedPort}/hook`, timeout: 5 } },
      ],
    },
    gateway: { runWaitMaxS: 30 },
  });
});
afterAll(() => stack.close());

const runs = () => createClient(RunService, createConnectTransport({ baseUrl: stack.plane.url, httpVersion: "2" }));
const runId = (name: string) => ({ org: "", project: "flytesnacks", domain: "development", name });
const headers = { authorization: `Bearer ${TOKEN}` };


describe("run_task with wait=true", () => {
  it("answers 200 with the phase and outputs when the run ends within the timeout", async () => {
    const started = Date.now();
    const { status, body } = await stack.call("/run-task/development/flytesnacks/wait-1s?wait=true&timeout=10", { method: "POST", json: { x: 7 } });
    const took = Date.now() - started;
    expect(status).toBe(200);
    expect(body).toEqual({
      name: expect.stringMatching(/^r[a-z0-9]{19}$/),
      url: `${stack.plane.url}/v2/domain/development/project/flytesnacks/runs/${body.name}`,
      phase: "succeeded",
      done: true,
      outputs: { x: 7 },
    });
    // The task sleeps 1 s: the answer came when it ended, not at the timeout.
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5000);
    await settle(() => stack.plane.openWatches() === 0);
    expect(stack.plane.openWatches()).toBe(0);
  });

  it("answers 202 with the current phase when the run outlives the timeout", async () => {
    const started = Date.now();
    const { status, body } = await stack.call("/run-task/development/flytesnacks/slow?wait=true&timeout=1", { method: "POST", json: { x: 1 } });
    const took = Date.now() - started;
    expect(status).toBe(202);
    expect(body).toEqual({ name: body.name, url: expect.stringContaining(body.name), phase: "running", done: false });
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(4000);
    await settle(() => stack.plane.openWatches() === 0);
    expect(stack.plane.openWatches()).toBe(0);
    // The run goes on after the answer.
    expect((await stack.call(`/run/${body.name}`)).body.phase).toBe("running");
    await stack.call(`/run/${body.name}/abort`, { method: "POST" });
  });

  it("answers 200 with phase failed and the reason for a run that failed: the call worked", async () => {
    const { status, body } = await stack.call("/run-task/development/flytesnacks/broken-hook?wait=true&timeout=10", { method: "POST" });
    expect(status).toBe(200);
    expect(body.phase).toBe("failed");
    expect(body.done).toBe(true);
    expect(body.outputs).toBeNull();
    expect(body.error).toMatch(/refused/i);
  });

  it("without wait answers at once with the run only, as the reference does", async () => {
    const { status, body } = await stack.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } });
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["name", "url"]);
    await stack.call(`/run/${body.name}/abort`, { method: "POST" });
  });

  it.each([
    ["timeout=0", 400],
    ["timeout=31", 400],
    ["timeout=1.5", 400],
    ["timeout=soon", 400],
    ["wait=perhaps", 400],
  ])("refuses %s with %i before starting a run", async (query, expected) => {
    const { status, body } = await stack.call(`/run-task/development/flytesnacks/echo?wait=true&${query}`, { method: "POST", json: { x: 1 } });
    expect(status).toBe(expected);
    expect(body).toMatchObject({ code: expect.any(String), detail: expect.any(String) });
  });

  it("stops watching when the caller goes away", async () => {
    const controller = new AbortController();
    const client = ownClient(stack.base);
    const pending = client
      .fetch("/run-task/development/flytesnacks/slow?wait=true&timeout=30", { method: "POST", json: { x: 1 }, signal: controller.signal })
      .catch((err: Error) => err);
    await settle(() => stack.plane.openWatches() !== 0);
    expect(stack.plane.openWatches()).toBeGreaterThan(0);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await client.close();
    await settle(() => stack.plane.openWatches() === 0);
    expect(stack.plane.openWatches()).toBe(0);
  });
});

describe("Idempotency-Key", () => {
  const post = (key: string, json: unknown, token = TOKEN, path = "/run-task/development/flytesnacks/echo") =>
    stack.call(path, { method: "POST", json, token, headers: { "idempotency-key": key } });

  it("answers a retry with the run the first request started", async () => {
    const key = `key-${Date.now()}-a`;
    const first = await post(key, { x: 1, msg: "once" });
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const again = await post(key, { msg: "once", x: 1 }); // same request, keys in another order
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    // The plane holds one run of that name, with the inputs of the first request.
    const { details } = await runs().getRunDetails({ runId: runId(first.body.name) }, { headers });
    expect(details?.action?.id?.run?.name).toBe(first.body.name);
    expect((await stack.call(`/run/${first.body.name}/io`)).body.inputs).toEqual({ x: 1, msg: "once" });
  });

  it("answers 409 when the key is reused for a different request, and starts nothing", async () => {
    const key = `key-${Date.now()}-b`;
    const first = await post(key, { x: 1 });
    const other = await post(key, { x: 2 });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: "idempotency_conflict", detail: expect.stringContaining(first.body.name) });
    expect((await stack.call(`/run/${first.body.name}/io`)).body.inputs).toEqual({ x: 1, msg: "hi" });
  });

  it("keeps keys apart per caller and per task version", async () => {
    const key = `key-${Date.now()}-c`;
    const mine = await post(key, { x: 1 });
    const theirs = await post(key, { x: 1 }, OTHER_TOKEN);
    expect(theirs.status).toBe(200);
    expect(theirs.body.name).not.toBe(mine.body.name);
    const pinned = await post(key, { x: 1 }, TOKEN, "/run-task/development/flytesnacks/echo?version=v1");
    expect(pinned.status).toBe(409);
  });

  it("gives concurrent retries one run", async () => {
    const key = `key-${Date.now()}-d`;
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(key, { x: 5 })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(new Set(answers.map((a) => a.body.name)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get("idempotent-replayed") === "true")).toHaveLength(7);
  });

  it("with wait=true a retry waits on the same run", async () => {
    const key = `key-${Date.now()}-e`;
    const path = "/run-task/development/flytesnacks/echo?wait=true&timeout=10";
    const first = await post(key, { x: 9 }, TOKEN, path);
    const again = await post(key, { x: 9 }, TOKEN, path);
    expect(first.body).toMatchObject({ phase: "succeeded", outputs: { x: 9, msg: "hi" } });
    expect(again.body).toEqual(first.body);
  });

  it.each([["with space"], ["x".repeat(256)], ["caf\u00e9"], [""]])("refuses the key %j with 400", async (key) => {
    const res = await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 }, headers: { "idempotency-key": key } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_request");
  });

  it("makes build_image and prefetch_hf_model retries safe too", async () => {
    const key = `key-${Date.now()}-f`;
    const build = (pip: string) =>
      stack.call(`/build-image?image_name=idem&pip_packages=${pip}`, { method: "POST", headers: { "idempotency-key": key } });
    const first = await build("requests");
    expect(first.status).toBe(200);
    const again = await build("requests");
    expect(again.body.run_name).toBe(first.body.run_name);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await build("pandas")).status).toBe(409);

    const prefetch = (repo: string) => stack.call(`/prefetch/hf-model?repo=${repo}`, { method: "POST", headers: { "idempotency-key": key } });
    const p1 = await prefetch("org/model");
    expect(p1.status).toBe(200);
    // The same key on another endpoint is another key.
    expect(p1.body.name).not.toBe(first.body.run_name);
    const p2 = await prefetch("org/model");
    expect(p2.body.name).toBe(p1.body.name);
    expect((await prefetch("org/other")).status).toBe(409);
  });
});

describe("callback_url", () => {
  it("becomes a notification rule in the run's spec", async () => {
    const { status, body } = await stack.call("/run-task/development/flytesnacks/echo?callback_url=http://127.0.0.1:9/done", { method: "POST", json: { x: 1 } });
    expect(status).toBe(200);
    const { details } = await runs().getRunDetails({ runId: runId(body.name) }, { headers });
    const settings = details?.runSpec?.notificationSettings;
    expect(settings?.case).toBe("notificationRules");
    const rule = settings?.case === "notificationRules" ? settings.value.rules[0] : undefined;
    expect(rule?.onPhases.sort()).toEqual([5, 6, 7, 8]);
    const webhook = rule?.delivery.case === "deliveryTemplate" ? rule.delivery.value.webhook : undefined;
    expect(webhook?.url).toBe("http://127.0.0.1:9/done");
    expect(JSON.parse(webhook?.bodyTemplate ?? "")).toMatchObject({ type: "run.completed", data: { name: "{{.Run.Name}}", phase: "{{.Phase}}" } });
  });

  it.each([
    ["http://169.254.169.254/latest/meta-data/", 400],
    ["http://[fe80::1]/x", 400],
    ["http://[::ffff:169.254.169.254]/x", 400],
    ["file:///etc/passwd", 400],
    ["http://user:pass@example.com/x", 400],
    ["not a url", 400],
  ])("refuses %s with %i and starts nothing", async (url, expected) => {
    const { status, body } = await stack.call(`/run-task/development/flytesnacks/echo?callback_url=${encodeURIComponent(url)}`, { method: "POST", json: { x: 1 } });
    expect(status).toBe(expected);
    expect(body.code).toMatch(/callback/);
  });
});
