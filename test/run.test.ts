import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const runTask = async (task: string, json: unknown) => {
  const { status, body } = await stack.call(`/run-task/development/flytesnacks/${task}`, { method: "POST", json });
  expect(status).toBe(200);
  return body.name as string;
};

describe("get_run", () => {
  it("reports a running run as not done", async () => {
    const name = await runTask("slow", { x: 1 });
    const { body } = await stack.call(`/run/${name}`);
    expect(["queued", "running"]).toContain(body.phase);
    expect(body.done).toBe(false);
    await stack.call(`/run/${name}/abort`, { method: "POST" });
  });

  it("answers 404 for an unknown run", async () => {
    const { status, body } = await stack.call("/run/rnotarealrun000000000");
    expect(status).toBe(404);
    expect(body).toEqual({ detail: "run rnotarealrun000000000 not found", code: "not_found", request_id: expect.any(String) });
  });

  it("answers 401 without credentials before asking the control plane", async () => {
    expect((await stack.call("/run/anything", { token: null })).status).toBe(401);
  });
});

describe("get_run_io", () => {
  it("has inputs and null outputs while the run is not done", async () => {
    const name = await runTask("slow", { x: 42 });
    const { status, body } = await stack.call(`/run/${name}/io`);
    expect(status).toBe(200);
    expect(body).toEqual({ name, inputs: { x: 42 }, outputs: null });
    await stack.call(`/run/${name}/abort`, { method: "POST" });
  });

  it("answers 404 for an unknown run", async () => {
    expect((await stack.call("/run/rnope/io")).status).toBe(404);
  });
});

describe("abort_run", () => {
  it("aborts a delayed echo: the run ends aborted with no outputs", async () => {
    const name = await runTask("slow", { x: 7 });
    const started = Date.now();
    const { status, body } = await stack.call(`/run/${name}/abort`, { method: "POST" });
    expect(status).toBe(200);
    expect(body).toEqual({ name, status: "abort_requested", reason: "Aborted via webhook API" });
    const run = await stack.waitDone(name, 5000);
    expect(run.phase).toBe("aborted");
    expect(Date.now() - started).toBeLessThan(5000); // did not wait for the 60 s delay
    expect((await stack.call(`/run/${name}/io`)).body.outputs).toBeNull();
  });

  it("records a given reason", async () => {
    const name = await runTask("slow", { x: 8 });
    const { body } = await stack.call(`/run/${name}/abort?reason=${encodeURIComponent("deploy cancelled")}`, { method: "POST" });
    expect(body.reason).toBe("deploy cancelled");
    expect((await stack.waitDone(name)).phase).toBe("aborted");
  });

  it("is idempotent on an aborted run and answers 409 on a run that already succeeded", async () => {
    const slow = await runTask("slow", { x: 9 });
    await stack.call(`/run/${slow}/abort`, { method: "POST" });
    expect((await stack.call(`/run/${slow}/abort`, { method: "POST" })).status).toBe(200);

    const quick = await runTask("echo", { x: 1 });
    await stack.waitDone(quick);
    const { status, body } = await stack.call(`/run/${quick}/abort`, { method: "POST" });
    expect(status).toBe(409);
    expect(body.detail).toBe(`run ${quick} has already finished`);
    expect((await stack.call(`/run/${quick}`)).body.phase).toBe("succeeded");
  });

  it("answers 404 for an unknown run", async () => {
    expect((await stack.call("/run/rnope/abort", { method: "POST" })).status).toBe(404);
  });
});
