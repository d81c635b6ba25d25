import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe("run_task", () => {
  it("runs a task and the run reaches succeeded with its inputs as outputs", async () => {
    const { status, body } = await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 3, msg: "hello" } });
    expect(status).toBe(200);
    expect(body.name).toMatch(/^[a-z][a-z0-9]{19}$/);
    expect(body.url).toBe(`${stack.plane.url}/v2/domain/development/project/flytesnacks/runs/${body.name}`);

    const run = await stack.waitDone(body.name);
    expect(run).toEqual({ name: body.name, phase: "succeeded", url: body.url, done: true });

    const io = await stack.call(`/run/${body.name}/io`);
    expect(io.status).toBe(200);
    expect(io.body).toEqual({ name: body.name, inputs: { x: 3, msg: "hello" }, outputs: { x: 3, msg: "hello" } });
  });

  it("applies the task's defaults to inputs that are not given", async () => {
    const { body } = await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 } });
    await stack.waitDone(body.name);
    const io = await stack.call(`/run/${body.name}/io`);
    expect(io.body.inputs).toEqual({ x: 1, msg: "hi" });
  });

  it("uses the latest version unless a version is given", async () => {
    const latest = await stack.call("/run-task/development/flytesnacks/versioned", { method: "POST", json: { b: 2 } });
    expect(latest.status).toBe(200);
    const v1 = await stack.call("/run-task/development/flytesnacks/versioned?version=v1", { method: "POST", json: { a: 1 } });
    expect(v1.status).toBe(200);
    const wrong = await stack.call("/run-task/development/flytesnacks/versioned?version=v1", { method: "POST", json: { b: 2 } });
    expect(wrong.status).toBe(422);
  });

  it("converts every supported type from JSON and back", async () => {
    const inputs = {
      i: 9007199254740993n.toString(),
      f: 2,
      s: "text",
      b: false,
      when: "2026-01-31T12:30:00+02:00",
      took: "PT1M30S",
      nums: [1, 2, 3],
      scores: { a: 0.5, b: 1 },
      obj: { nested: { list: [1, "two", null], flag: true } },
    };
    const { status, body } = await stack.call("/run-task/development/flytesnacks/typed", { method: "POST", json: inputs });
    expect(status).toBe(200);
    await stack.waitDone(body.name);
    const io = await stack.call(`/run/${body.name}/io`);
    expect(io.body.inputs).toEqual({
      i: "9007199254740993", // beyond 2^53: kept exact as a string
      f: 2,
      s: "text",
      b: false,
      when: "2026-01-31T10:30:00.000Z",
      took: 90,
      nums: [1, 2, 3],
      scores: { a: 0.5, b: 1 },
      obj: { nested: { list: [1, "two", null], flag: true } },
    });
  });

  it("answers 422 naming every wrong field", async () => {
    const { status, body } = await stack.call("/run-task/development/flytesnacks/typed", {
      method: "POST",
      json: { i: 1.5, f: "x", s: 1, b: "yes", when: "yesterday", took: "soon", nums: [1, "two"], scores: [], obj: 3, extra: 1 },
    });
    expect(status).toBe(422);
    expect(body.code).toBe("invalid_inputs");
    for (const field of ["i:", "f:", "s:", "b:", "when:", "took:", "nums[1]:", "scores:", "obj:", "extra:"]) {
      expect(body.detail).toContain(field);
    }
  });

  it("answers 422 for a missing required input", async () => {
    const { status, body } = await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { msg: "no x" } });
    expect(status).toBe(422);
    expect(body.detail).toContain("x: required input is missing");
  });

  it("answers 404 for an unknown task or version", async () => {
    const unknown = await stack.call("/run-task/development/flytesnacks/nope", { method: "POST", json: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toBe("Task nope with version latest in development/flytesnacks not found");
    const version = await stack.call("/run-task/development/flytesnacks/echo?version=v9", { method: "POST", json: { x: 1 } });
    expect(version.status).toBe(404);
    expect(version.body.detail).toBe("Task echo with version v9 in development/flytesnacks not found");
  });

  it("selects the task by the path and creates the run in the gateway's project/domain", async () => {
    const { status, body } = await stack.call("/run-task/development/other/echo", { method: "POST", json: { x: 5 } });
    expect(status).toBe(200);
    expect(body.url).toContain("/v2/domain/development/project/flytesnacks/runs/");
    const io = await stack.call(`/run/${body.name}/io`);
    expect(io.body.inputs).toEqual({ x: 5 });
  });
});

describe("get_task", () => {
  it("answers the task's metadata as the reference does", async () => {
    const { status, body } = await stack.call("/task/development/flytesnacks/echo");
    expect(status).toBe(200);
    expect(body).toEqual({
      name: "echo",
      version: "v1",
      task_type: "echo",
      required_args: ["x"],
      default_input_args: ["msg"],
      cache: { behavior: "disable", version_override: null, serialize: false },
      secrets: [],
    });
  });

  it("reads a given version, and the latest otherwise", async () => {
    expect((await stack.call("/task/development/flytesnacks/versioned")).body.required_args).toEqual(["b"]);
    expect((await stack.call("/task/development/flytesnacks/versioned?version=v1")).body.required_args).toEqual(["a"]);
  });

  it("answers 404 for an unknown task", async () => {
    const { status, body } = await stack.call("/task/production/flytesnacks/nope");
    expect(status).toBe(404);
    expect(body).toEqual({ detail: "Task nope with version latest in production/flytesnacks not found", code: "not_found", request_id: expect.any(String) });
  });

  it("answers 401 for a token the control plane does not know", async () => {
    expect((await stack.call("/task/development/flytesnacks/echo", { token: "wrong" })).status).toBe(401);
  });
});

describe("run_task without a body", () => {
  it("runs a task whose inputs all have defaults, with or without a JSON content type", async () => {
    const stack = await startStack({ catalog: { tasks: [{ name: "defaults-only", type: "echo", inputs: { msg: "str" }, outputs: { msg: "str" }, defaults: { msg: "d" } }] } });
    try {
      for (const headers of [{}, { "content-type": "application/json" }]) {
        const { status, body } = await stack.call("/run-task/development/flytesnacks/defaults-only", { method: "POST", headers });
        expect(status, JSON.stringify(body)).toBe(200);
        expect((await stack.call(`/run/${body.name}/io`)).body.inputs).toEqual({ msg: "d" });
      }
    } finally {
      await stack.close();
    }
  });
});
