// Trigger group, black-box: the real gateway and embedded plane; an activated trigger
// really fires runs on its cron schedule, and stops when deactivated.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunService, TriggerService } from "../src/controlplane/idl.ts";
import { CatalogError, parseCatalogTriggers } from "../src/local/catalog.ts";
import { attachGateway, type Stack, startStack, TEST_CATALOG, TOKEN } from "./stack.ts";

const CATALOG = {
  tasks: [
    ...TEST_CATALOG.tasks,
    { name: "tick", type: "echo", inputs: { x: "int", msg: "str" }, outputs: { x: "int", msg: "str" }, defaults: { msg: "from defaults" } },
  ],
  triggers: [
    { task: "tick", name: "every-second", schedule: "* * * * * *", active: false, inputs: { x: 7 } },
    { task: "echo", name: "nightly", schedule: "0 3 * * *", timezone: "Europe/Paris", active: false, inputs: { x: 1 } },
  ],
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ catalog: CATALOG });
});
afterAll(() => stack?.close());

const headers = { authorization: `Bearer ${TOKEN}` };
const triggerName = (task: string, name: string) => ({ org: "", project: "flytesnacks", domain: "development", taskName: task, name });
const plane = () => {
  const transport = createConnectTransport({ baseUrl: stack.plane.url, httpVersion: "2" });
  return { runs: createClient(RunService, transport), triggers: createClient(TriggerService, transport) };
};

/** Names of the runs of a task in the gateway's project, through the plane's ListRuns. */
async function runsOf(task: string): Promise<string[]> {
  const { runs } = await plane().runs.listRuns(
    { scopeBy: { case: "projectId", value: { organization: "", name: "flytesnacks", domain: "development" } }, request: { limit: 1000 } },
    { headers },
  );
  return runs
    .filter((run) => run.action?.metadata?.spec.case === "task" && run.action.metadata.spec.value.id?.name === task)
    .map((run) => run.action!.id!.run!.name);
}

const post = (path: string, init: Parameters<Stack["call"]>[1] = {}) => stack.call(path, { method: "POST", ...init });

describe("activate_trigger and deactivate_trigger", () => {
  it("a trigger on a seconds schedule fires runs with its inputs once active, and stops once deactivated", async () => {
    expect(await runsOf("tick")).toEqual([]);
    expect(stack.plane.scheduledTriggers()).toBe(0);

    const on = await post("/trigger/tick/every-second/activate");
    expect(on.status).toBe(200);
    expect(on.body).toEqual({
      task_name: "tick",
      trigger_name: "every-second",
      active: true,
      url: `${stack.plane.url}/v2/domain/development/project/flytesnacks/triggers/tick/every-second`,
    });
    expect(stack.plane.scheduledTriggers()).toBe(1);

    // Fires at the next whole second: wait for two firings (bounded).
    const deadline = Date.now() + 5000;
    let fired: string[] = [];
    while (fired.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      fired = await runsOf("tick");
    }
    expect(fired.length).toBeGreaterThanOrEqual(2);
    const run = await stack.waitDone(fired[0]!);
    expect(run.phase).toBe("succeeded");
    // The trigger's inputs, completed with the task's defaults.
    expect((await stack.call(`/run/${fired[0]}/io`)).body).toEqual({
      name: fired[0],
      inputs: { x: 7, msg: "from defaults" },
      outputs: { x: 7, msg: "from defaults" },
    });

    const off = await post("/trigger/tick/every-second/deactivate");
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ task_name: "tick", trigger_name: "every-second", active: false });
    expect(stack.plane.scheduledTriggers()).toBe(0);
    const afterOff = (await runsOf("tick")).length;
    await new Promise((r) => setTimeout(r, 2200));
    expect((await runsOf("tick")).length).toBe(afterOff);

    const { trigger } = await plane().triggers.getTriggerDetails({ name: triggerName("tick", "every-second") }, { headers });
    expect(trigger?.spec?.active).toBe(false);
    expect(trigger?.status?.triggeredAt).toBeDefined();
    expect(trigger?.id?.revision).toBe(3n); // deployed, activated, deactivated
  });

  it("is idempotent: activating an active trigger or deactivating an inactive one is fine", async () => {
    expect((await post("/trigger/echo/nightly/deactivate")).status).toBe(200);
    expect((await post("/trigger/echo/nightly/activate")).status).toBe(200);
    expect((await post("/trigger/echo/nightly/activate")).body.active).toBe(true);
    const { trigger } = await plane().triggers.getTriggerDetails({ name: triggerName("echo", "nightly") }, { headers });
    expect(trigger?.spec?.active).toBe(true);
    expect(trigger?.metadata?.updatedBy?.principal.value?.id?.subject).toBe("tester");
    expect((await post("/trigger/echo/nightly/deactivate")).body.active).toBe(false);
  });

  it("answers 404 for an unknown trigger or task", async () => {
    const { status, body } = await post("/trigger/tick/no-such-trigger/activate");
    expect(status).toBe(404);
    expect(body).toEqual({ detail: "Trigger no-such-trigger of task tick not found", code: "not_found", request_id: expect.any(String) });
    expect((await post("/trigger/no-such-task/every-second/deactivate")).status).toBe(404);
  });

  it("needs credentials", async () => {
    expect((await post("/trigger/tick/every-second/activate", { token: null })).status).toBe(401);
  });
});

describe("trigger allow-list", () => {
  it("accepts task/trigger and trigger entries, and answers 403 for the rest before asking the control plane", async () => {
    const limited = await attachGateway(stack.plane, stack.dir, { gateway: { triggerAllowlist: ["echo/nightly", "every-second"] } });
    try {
      // Exact task/trigger entry.
      expect((await limited.call("/trigger/echo/nightly/activate", { method: "POST" })).status).toBe(200);
      expect((await limited.call("/trigger/echo/nightly/deactivate", { method: "POST" })).status).toBe(200);
      // A trigger-name entry matches it on any task: allowed, so the control plane answers (404 here).
      expect((await limited.call("/trigger/echo/every-second/deactivate", { method: "POST" })).status).toBe(404);
      // Not listed: 403 even with a token the control plane would refuse.
      for (const path of ["/trigger/tick/nightly/activate", "/trigger/other/nightly/deactivate", "/trigger/echo/Nightly/activate"]) {
        const { status, body } = await limited.call(path, { method: "POST", token: "not-a-real-token" });
        expect(status, path).toBe(403);
        expect(body.code).toBe("trigger_not_allowed");
      }
      expect((await limited.call("/trigger/tick/nightly/activate", { method: "POST", token: "not-a-real-token" })).body.detail).toBe(
        "Trigger tick/nightly is not in the allowlist",
      );
    } finally {
      await limited.closeGateway();
    }
  });
});

describe("catalog triggers", () => {
  it("refuses a bad schedule, time zone or field when the catalog is read", () => {
    const parse = (trigger: object) => () => parseCatalogTriggers({ triggers: [trigger] }, { org: "", project: "p", domain: "d" });
    expect(parse({ task: "echo", name: "t", schedule: "every day" })).toThrow(CatalogError);
    expect(parse({ task: "echo", name: "t", schedule: "0 3 * * *", timezone: "Mars/Olympus" })).toThrow(/timezone/);
    expect(parse({ task: "echo", name: "t", schedule: "0 3 * * *", cron: "x" })).toThrow(/unknown field "cron"/);
    expect(parse({ task: "echo", name: "t", schedule: "0 3 * * *", active: "yes" })).toThrow(/"active" must be true or false/);
  });

  it("refuses a trigger of a task that is not deployed, or with inputs the task does not take", async () => {
    await expect(startStack({ catalog: { tasks: [], triggers: [{ task: "ghost", name: "t", schedule: "0 3 * * *" }] } })).rejects.toThrow(
      /catalog trigger ghost\/t: task ghost is not deployed/,
    );
    await expect(
      startStack({ catalog: { tasks: TEST_CATALOG.tasks, triggers: [{ task: "echo", name: "t", schedule: "0 3 * * *", inputs: { y: 1 } }] } }),
    ).rejects.toThrow(/y: unknown input/);
  });

  it("keeps its state and revision when the same catalog is loaded again, and close() stops the jobs", async () => {
    const catalog = { tasks: CATALOG.tasks, triggers: [{ ...CATALOG.triggers[0], active: true }] };
    const first = await startStack({ catalog });
    const dir = first.dir;
    expect(first.plane.scheduledTriggers()).toBe(1);
    await first.close({ keepDir: true });
    expect(first.plane.scheduledTriggers()).toBe(0);

    const again = await startStack({ catalog, dir });
    try {
      expect(again.plane.scheduledTriggers()).toBe(1);
      const transport = createConnectTransport({ baseUrl: again.plane.url, httpVersion: "2" });
      const { trigger } = await createClient(TriggerService, transport).getTriggerDetails(
        { name: triggerName("tick", "every-second") },
        { headers },
      );
      expect(trigger?.id?.revision).toBe(1n);
      expect(trigger?.spec?.active).toBe(true);
    } finally {
      await again.close();
    }
  });
});
