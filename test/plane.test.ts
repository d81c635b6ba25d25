// The embedded control plane spoken to as flyte-sdk would: Connect clients over HTTP/2.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFlyteWebhookApp } from "../src/app.ts";
import {
  ActionPhase,
  DataProxyService,
  RunService,
  TaskService,
  TaskSpecSchema,
} from "../src/controlplane/idl.ts";
import { parseTypeString, toLiteral } from "../src/controlplane/literals.ts";
import { type Stack, startStack, TOKEN } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const headers = { authorization: `Bearer ${TOKEN}` };
const clients = () => {
  const transport = createConnectTransport({ baseUrl: stack.plane.url, httpVersion: "2" });
  return { tasks: createClient(TaskService, transport), runs: createClient(RunService, transport), data: createClient(DataProxyService, transport) };
};
const project = { organization: "", domain: "development", name: "flytesnacks" };
const runId = (name: string) => ({ org: "", project: "flytesnacks", domain: "development", name });
const intInputs = (x: number) => ({ literals: [{ name: "x", value: toLiteral(x, parseTypeString("int"), "x") }] });

describe("embedded control plane over Connect", () => {
  it("refuses calls without a known API key", async () => {
    const { runs } = clients();
    await expect(runs.getRunDetails({ runId: runId("x") })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(runs.getRunDetails({ runId: runId("x") }, { headers: { authorization: "Bearer nope" } })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });

  it("deploys a task with DeployTask, which the gateway can then run; versions are immutable", async () => {
    const { tasks } = clients();
    const existing = await tasks.getTaskDetails({ taskId: { ...runId("echo"), version: "v1" } }, { headers });
    const spec = create(TaskSpecSchema, existing.details!.spec!);
    const taskId = { org: "", project: "flytesnacks", domain: "development", name: "deployed", version: "2026.1" };
    await tasks.deployTask({ taskId, spec }, { headers });
    await tasks.deployTask({ taskId, spec }, { headers }); // same spec again: fine
    const changed = create(TaskSpecSchema, { ...spec, shortName: "different" });
    await expect(tasks.deployTask({ taskId, spec: changed }, { headers })).rejects.toMatchObject({ code: Code.AlreadyExists });
    const unknownType = create(TaskSpecSchema, { ...spec, taskTemplate: { ...spec.taskTemplate!, type: "spark" } });
    await expect(tasks.deployTask({ taskId: { ...taskId, version: "x" }, spec: unknownType }, { headers })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });

    const { status, body } = await stack.call("/run-task/development/flytesnacks/deployed", { method: "POST", json: { x: 4 } });
    expect(status).toBe(200);
    expect((await stack.waitDone(body.name)).phase).toBe("succeeded");
  });

  it("accepts inputs uploaded with UploadInputs (what current flyte-sdk sends)", async () => {
    const { data, runs } = clients();
    const taskId = { ...runId("echo"), version: "v1" };
    const uploaded = await data.uploadInputs({ id: { case: "projectId", value: project }, task: { case: "taskId", value: taskId }, inputs: intInputs(21) }, { headers });
    const { run } = await runs.createRun(
      {
        id: { case: "runId", value: runId("sdk-style-run") },
        task: { case: "taskId", value: taskId },
        inputWrapper: { case: "offloadedInputData", value: uploaded.offloadedInputData! },
      },
      { headers },
    );
    expect(run?.action?.id?.run?.name).toBe("sdk-style-run");
    expect((await stack.waitDone("sdk-style-run")).phase).toBe("succeeded");
    expect((await stack.call("/run/sdk-style-run/io")).body.outputs).toEqual({ x: 21, msg: "hi" });
    // The same name again is a conflict, which is what makes retried CreateRun calls safe.
    await expect(
      runs.createRun({ id: { case: "runId", value: runId("sdk-style-run") }, task: { case: "taskId", value: taskId }, inputWrapper: { case: "inputs", value: intInputs(1) } }, { headers }),
    ).rejects.toMatchObject({ code: Code.AlreadyExists });
  });

  it("lists the latest task version first and lists runs", async () => {
    const { tasks, runs } = clients();
    const { tasks: latest } = await tasks.listTasks(
      { scopeBy: { case: "projectId", value: project }, request: { limit: 1, filters: [{ field: "name", values: ["versioned"] }] } },
      { headers },
    );
    expect(latest.map((t) => t.taskId?.version)).toEqual(["v2"]);
    const listed = await runs.listRuns({ scopeBy: { case: "projectId", value: project }, request: { limit: 5 } }, { headers });
    expect(listed.runs.length).toBeGreaterThan(0);
  });

  it("streams run details with WatchRunDetails until the run ends", async () => {
    const { runs } = clients();
    const taskId = { ...runId("wait-1s"), version: "v1" };
    await runs.createRun({ id: { case: "runId", value: runId("watched") }, task: { case: "taskId", value: taskId }, inputWrapper: { case: "inputs", value: intInputs(1) } }, { headers });
    const phases: ActionPhase[] = [];
    for await (const message of runs.watchRunDetails({ runId: runId("watched") }, { headers, timeoutMs: 10_000 })) {
      phases.push(message.details!.action!.status!.phase);
    }
    expect(phases.at(-1)).toBe(ActionPhase.SUCCEEDED);
    expect(phases).toContain(ActionPhase.RUNNING);
    expect(phases).not.toContain(ActionPhase.UNSPECIFIED);
  });

  it("ends the server side of a watch when the client goes away", async () => {
    const { runs } = clients();
    const taskId = { ...runId("slow"), version: "v1" };
    await runs.createRun({ id: { case: "runId", value: runId("left-alone") }, task: { case: "taskId", value: taskId }, inputWrapper: { case: "inputs", value: intInputs(1) } }, { headers });
    const controller = new AbortController();
    const stream = runs.watchRunDetails({ runId: runId("left-alone") }, { headers, signal: controller.signal });
    const first = await stream[Symbol.asyncIterator]().next();
    expect(first.done).toBe(false);
    expect(stack.plane.openWatches()).toBe(1);
    controller.abort();
    // The abort reaches the server as a stream reset; its watcher must stop listening
    // while the run itself goes on.
    const deadline = Date.now() + 3000;
    while (stack.plane.openWatches() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(stack.plane.openWatches()).toBe(0);
    const res = await runs.getRunDetails({ runId: runId("left-alone") }, { headers });
    expect(res.details?.action?.status?.phase).toBe(ActionPhase.RUNNING);
    await runs.abortRun({ runId: runId("left-alone"), reason: "done" }, { headers });
  });

  it("answers NotFound for unknown runs and tasks", async () => {
    const { runs, tasks } = clients();
    await expect(runs.getRunDetails({ runId: runId("nope") }, { headers })).rejects.toSatisfy((e) => e instanceof ConnectError && e.code === Code.NotFound);
    await expect(tasks.getTaskDetails({ taskId: { ...runId("nope"), version: "v1" } }, { headers })).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("gateway protocols", () => {
  for (const protocol of ["grpc", "grpc-web", "connect"] as const) {
    it(`runs a task end to end over ${protocol}`, async () => {
      const app = createFlyteWebhookApp({ logger: false, controlPlane: { endpoint: stack.plane.url, protocol } });
      await app.listen({ host: "127.0.0.1", port: 0 });
      try {
        const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
        const h = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
        const created = (await (await fetch(`${base}/run-task/development/flytesnacks/echo`, { method: "POST", headers: h, body: '{"x": 2}' })).json()) as { name: string };
        expect((await stack.waitDone(created.name)).phase).toBe("succeeded");
        expect(await (await fetch(`${base}/me`, { headers: h })).json()).toEqual({ subject: "tester", name: "tester" });
      } finally {
        await app.close();
      }
    });
  }
});
