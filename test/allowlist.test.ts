// Allow-lists: the matchers on their own, then black-box over HTTP against the real
// embedded control plane and real gateways (task endpoints and run endpoints).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appAllowlist, taskAllowlist, triggerAllowlist } from "../src/allowlist.ts";
import { attachGateway, type Stack, startStack } from "./stack.ts";

const t = (domain: string, project: string, name: string) => ({ domain, project, name });

/** Names that look like "echo" but are not: none of them may match an "echo" entry. */
const LOOKALIKES = [
  "Echo",
  "ECHO",
  "ech%6F",
  "%65cho",
  "echo/",
  "/echo",
  "../echo",
  "./echo",
  "\u0435cho", // Cyrillic е
  "ech\u043e", // Cyrillic о
  "echo\u200b", // zero-width space
  "e\u0301cho", // combining accent
  " echo",
  "echo ",
  "echo\t",
  "echo\n",
  "echo\u0000",
  "",
  "ech",
  "echoo",
  "*",
];

describe("taskAllowlist", () => {
  it("undefined allows every task", () => {
    const allow = taskAllowlist(undefined);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(true);
    expect(allow(t("x", "y", "z"))).toBe(true);
    expect(allow(t("", "", ""))).toBe(true);
  });

  it("an empty list allows no task", () => {
    const allow = taskAllowlist([]);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(false);
    expect(allow(t("", "", ""))).toBe(false);
  });

  it("`name` matches that name in any domain and project", () => {
    const allow = taskAllowlist(["echo"]);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(true);
    expect(allow(t("production", "other", "echo"))).toBe(true);
    expect(allow(t("development", "flytesnacks", "slow"))).toBe(false);
  });

  it("`project/name` matches that project and name in any domain", () => {
    const allow = taskAllowlist(["flytesnacks/echo"]);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(true);
    expect(allow(t("production", "flytesnacks", "echo"))).toBe(true);
    expect(allow(t("development", "other", "echo"))).toBe(false);
    expect(allow(t("development", "flytesnacks", "slow"))).toBe(false);
    // The project part is not a name entry, nor the name part a project.
    expect(allow(t("development", "echo", "flytesnacks"))).toBe(false);
  });

  it("`domain/project/name` matches exactly that task", () => {
    const allow = taskAllowlist(["development/flytesnacks/echo"]);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(true);
    expect(allow(t("production", "flytesnacks", "echo"))).toBe(false);
    expect(allow(t("development", "other", "echo"))).toBe(false);
    expect(allow(t("development", "flytesnacks", "slow"))).toBe(false);
    expect(allow(t("Development", "flytesnacks", "echo"))).toBe(false);
    expect(allow(t("development", "Flytesnacks", "echo"))).toBe(false);
  });

  it("mixes the three formats in one list", () => {
    const allow = taskAllowlist(["development/flytesnacks/echo", "other/slow", "typed"]);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(true);
    expect(allow(t("production", "flytesnacks", "echo"))).toBe(false);
    expect(allow(t("production", "other", "slow"))).toBe(true);
    expect(allow(t("production", "flytesnacks", "slow"))).toBe(false);
    expect(allow(t("anything", "anywhere", "typed"))).toBe(true);
  });

  it("an entry with more than three parts never matches", () => {
    const allow = taskAllowlist(["a/development/flytesnacks/echo", "development/flytesnacks/echo/"]);
    expect(allow(t("development", "flytesnacks", "echo"))).toBe(false);
    expect(allow(t("a", "development", "flytesnacks/echo"))).toBe(false);
  });

  it("identifiers containing slashes cannot fake a shorter entry", () => {
    // A name "flytesnacks/echo" joined with a domain/project must not hit other formats.
    const allow = taskAllowlist(["development/flytesnacks/echo"]);
    expect(allow(t("development/flytesnacks", "", "echo"))).toBe(false);
    expect(allow(t("", "development/flytesnacks", "echo"))).toBe(false);
    const byProject = taskAllowlist(["flytesnacks/echo"]);
    expect(byProject(t("development", "", "flytesnacks/echo"))).toBe(false);
  });

  it.each(LOOKALIKES)("bypass attempt %j does not match a name entry", (name) => {
    expect(taskAllowlist(["echo"])(t("development", "flytesnacks", name))).toBe(false);
  });

  it.each(LOOKALIKES)("bypass attempt %j does not match a project/name entry", (name) => {
    expect(taskAllowlist(["flytesnacks/echo"])(t("development", "flytesnacks", name))).toBe(false);
  });

  it.each(LOOKALIKES)("bypass attempt %j does not match a domain/project/name entry", (name) => {
    expect(taskAllowlist(["development/flytesnacks/echo"])(t("development", "flytesnacks", name))).toBe(false);
  });

  it("look-alike domains and projects do not match", () => {
    const allow = taskAllowlist(["development/flytesnacks/echo"]);
    for (const domain of ["Development", "developmen%74", "development ", "d\u0435velopment", "../development", "development/"]) {
      expect(allow(t(domain, "flytesnacks", "echo"))).toBe(false);
    }
    for (const project of ["FlyteSnacks", "flytesnacks/", "flyte%73nacks", " flytesnacks", "flytesn\u0430cks"]) {
      expect(allow(t("development", project, "echo"))).toBe(false);
    }
  });

  it("entries themselves are not normalised (an upper-case or spaced entry does not match echo)", () => {
    expect(taskAllowlist(["Echo"])(t("development", "flytesnacks", "echo"))).toBe(false);
    expect(taskAllowlist([" echo"])(t("development", "flytesnacks", "echo"))).toBe(false);
    expect(taskAllowlist(["ech%6F"])(t("development", "flytesnacks", "echo"))).toBe(false);
  });
});

describe("appAllowlist", () => {
  it("undefined allows every app, an empty list none", () => {
    expect(appAllowlist(undefined)("anything")).toBe(true);
    expect(appAllowlist([])("anything")).toBe(false);
    expect(appAllowlist([])("")).toBe(false);
  });

  it("matches app names exactly", () => {
    const allow = appAllowlist(["my-app", "other"]);
    expect(allow("my-app")).toBe(true);
    expect(allow("other")).toBe(true);
    expect(allow("my-app2")).toBe(false);
    for (const name of ["My-App", "my-app/", "my%2Dapp", "my-\u0430pp", " my-app", "my-app ", "../my-app", "my"]) {
      expect(allow(name)).toBe(false);
    }
  });
});

describe("triggerAllowlist", () => {
  const tr = (taskName: string, triggerName: string) => ({ taskName, triggerName });

  it("undefined allows every trigger, an empty list none", () => {
    expect(triggerAllowlist(undefined)(tr("a", "b"))).toBe(true);
    expect(triggerAllowlist([])(tr("a", "b"))).toBe(false);
  });

  it("`trigger_name` matches that trigger on any task", () => {
    const allow = triggerAllowlist(["nightly"]);
    expect(allow(tr("echo", "nightly"))).toBe(true);
    expect(allow(tr("slow", "nightly"))).toBe(true);
    expect(allow(tr("echo", "hourly"))).toBe(false);
    // The task name is not a trigger entry.
    expect(allow(tr("nightly", "hourly"))).toBe(false);
  });

  it("`task_name/trigger_name` matches exactly that pair", () => {
    const allow = triggerAllowlist(["echo/nightly"]);
    expect(allow(tr("echo", "nightly"))).toBe(true);
    expect(allow(tr("slow", "nightly"))).toBe(false);
    expect(allow(tr("echo", "hourly"))).toBe(false);
  });

  it("bypass attempts do not match", () => {
    const allow = triggerAllowlist(["echo/nightly", "hourly"]);
    for (const [task, trig] of [
      ["Echo", "nightly"],
      ["echo", "Nightly"],
      ["ech%6F", "nightly"],
      ["echo/", "nightly"],
      ["../echo", "nightly"],
      ["\u0435cho", "nightly"],
      ["echo ", "nightly"],
      ["echo", "nightly/"],
      ["", "echo/nightly"],
      ["x", "Hourly"],
      ["x", "hourly "],
      ["x", "h\u043eurly"],
      ["x", "../hourly"],
    ] as const) {
      expect(allow(tr(task, trig))).toBe(false);
    }
  });

  it("an entry with more than two parts never matches", () => {
    const allow = triggerAllowlist(["a/echo/nightly"]);
    expect(allow(tr("echo", "nightly"))).toBe(false);
    expect(allow(tr("a/echo", "nightly"))).toBe(false);
  });
});

// ---------------------------------------------------------------- over HTTP

const errorShape = { detail: expect.any(String), code: "task_not_allowed", request_id: expect.any(String) };

function expectForbidden(res: { status: number; body: any; headers: Headers }) {
  expect(res.status).toBe(403);
  expect(res.body).toEqual(errorShape);
  expect(Object.keys(res.body).sort()).toEqual(["code", "detail", "request_id"]);
  expect(res.body.request_id).toBe(res.headers.get("x-request-id"));
}

describe("task endpoints with taskAllowlist over HTTP", () => {
  let byName: Stack;
  let exact: Stack;
  beforeAll(async () => {
    byName = await startStack({ gateway: { taskAllowlist: ["echo"] } });
    exact = await attachGateway(byName.plane, byName.dir, { gateway: { taskAllowlist: ["development/flytesnacks/echo"] } });
  });
  afterAll(async () => {
    await exact?.closeGateway();
    await byName?.close();
  });

  it("get_task of an allowed task answers 200", async () => {
    const res = await byName.call("/task/development/flytesnacks/echo");
    expect(res.status).toBe(200);
    expect(res.body.name).toBe("echo");
  });

  it("a name entry allows the name in another project and domain", async () => {
    expect((await byName.call("/task/development/other/echo")).status).toBe(200);
    expect((await byName.call("/task/production/flytesnacks/echo")).status).toBe(200);
  });

  it("get_task of a non-allowed task answers 403 task_not_allowed", async () => {
    expectForbidden(await byName.call("/task/development/flytesnacks/slow"));
  });

  it("get_task of a non-allowed task that does not exist also answers 403 (no existence oracle)", async () => {
    expectForbidden(await byName.call("/task/development/flytesnacks/no-such-task"));
  });

  it("run_task of an allowed task answers 200 with a run name", async () => {
    const res = await byName.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ url: expect.any(String), name: expect.any(String) });
  });

  it("run_task of a non-allowed task answers 403 and creates nothing", async () => {
    expectForbidden(await byName.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } }));
    expectForbidden(await byName.call("/run-task/development/flytesnacks/typed", { method: "POST", json: {} }));
  });

  it("the allow-list is checked before input validation (invalid inputs still 403)", async () => {
    expectForbidden(await byName.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: "not-an-int" } }));
  });

  it("a URL-encoded name that decodes to the allowed task is the allowed task", async () => {
    expect((await exact.call("/task/development/flytesnacks/%65cho")).status).toBe(200);
    expect((await exact.call("/task/development/flytesnacks/ech%6F")).status).toBe(200);
    expect((await exact.call("/task/%64evelopment/flytesnacks/echo")).status).toBe(200);
  });

  it("the exact entry allows exactly that task", async () => {
    expect((await exact.call("/task/development/flytesnacks/echo")).status).toBe(200);
    const run = await exact.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 2 } });
    expect(run.status).toBe(200);
  });

  it.each([
    "/task/development/flytesnacks/Echo",
    "/task/development/flytesnacks/ECHO",
    "/task/Development/flytesnacks/echo",
    "/task/development/Flytesnacks/echo",
    "/task/development/other/echo",
    "/task/production/flytesnacks/echo",
    "/task/development/flytesnacks/echo%2F",
    "/task/development/flytesnacks/echo%20",
    "/task/development/flytesnacks/%20echo",
    "/task/development/flytesnacks/echo%00",
    "/task/development/flytesnacks/echo%09",
    "/task/development/flytesnacks/%D0%B5cho", // Cyrillic е
    "/task/development/flytesnacks/..%2Fecho",
    "/task/development/flytesnacks%2Fecho/x",
    "/task/development%2Fflytesnacks/echo/x",
    "/task/development/flytesnacks/echo%252F",
    "/task/development/flytesnacks/ech%256F",
    "/task/development/flytesnacks/slow",
  ])("get_task bypass attempt %s answers 403", async (path) => {
    expectForbidden(await exact.call(path));
  });

  it.each([
    "/run-task/development/flytesnacks/Echo",
    "/run-task/production/flytesnacks/echo",
    "/run-task/development/other/echo",
    "/run-task/development/flytesnacks/echo%2F",
    "/run-task/development/flytesnacks/%D0%B5cho",
    "/run-task/development/flytesnacks/..%2Fecho",
  ])("run_task bypass attempt %s answers 403", async (path) => {
    expectForbidden(await exact.call(path, { method: "POST", json: { x: 1 } }));
  });

  it.each([
    "/task/development/flytesnacks/echo/",
    "/task/development/flytesnacks/../flytesnacks/slow",
    "/task/development/flytesnacks/./echo",
    "/task//development/flytesnacks/echo",
    "/task/development//flytesnacks/echo",
    "/TASK/development/flytesnacks/echo",
  ])("path shape variation %s is never a 2xx/5xx for a forbidden target", async (path) => {
    const res = await exact.call(path);
    // Either it does not route (404), is refused (403), or resolves to the allowed echo.
    expect(res.status).toBeLessThan(500);
    if (res.status === 200) expect(res.body.name).toBe("echo");
    else expect(typeof res.body.code).toBe("string");
  });

  it("an empty allow-list forbids every task", async () => {
    const none = await attachGateway(byName.plane, byName.dir, { gateway: { taskAllowlist: [] } });
    try {
      expectForbidden(await none.call("/task/development/flytesnacks/echo"));
      expectForbidden(await none.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 } }));
    } finally {
      await none.closeGateway();
    }
  });

  it("the gateway logs never show a 5xx for all of the above", () => {
    const statuses = [...byName.logs, ...exact.logs]
      .map((line) => {
        try {
          return JSON.parse(line).res?.statusCode as number | undefined;
        } catch {
          return undefined;
        }
      })
      .filter((s): s is number => s !== undefined);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });
});

describe("run endpoints honour the task allow-list", () => {
  let open: Stack; // no allow-list
  let byName: Stack; // ["echo"]
  let exact: Stack; // ["development/flytesnacks/echo"]
  let slowRun: string;
  let echoRun: string;
  let otherEchoRun: string;

  beforeAll(async () => {
    open = await startStack();
    byName = await attachGateway(open.plane, open.dir, { gateway: { taskAllowlist: ["echo"] } });
    exact = await attachGateway(open.plane, open.dir, { gateway: { taskAllowlist: ["development/flytesnacks/echo"] } });
    const create = async (path: string, json: unknown) => {
      const res = await open.call(path, { method: "POST", json });
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.name as string;
    };
    [slowRun, echoRun, otherEchoRun] = await Promise.all([
      create("/run-task/development/flytesnacks/slow", { x: 1 }),
      create("/run-task/development/flytesnacks/echo", { x: 2, msg: "ok" }),
      create("/run-task/development/other/echo", { x: 3 }),
    ]);
    await open.waitDone(echoRun);
  });
  afterAll(async () => {
    await exact?.closeGateway();
    await byName?.closeGateway();
    await open?.close();
  });

  for (const which of ["byName", "exact"] as const) {
    const gw = () => (which === "byName" ? byName : exact);

    it(`${which}: GET /run/{name} of a forbidden task's run answers 403`, async () => {
      expectForbidden(await gw().call(`/run/${slowRun}`));
    });

    it(`${which}: GET /run/{name}/io of a forbidden task's run answers 403`, async () => {
      expectForbidden(await gw().call(`/run/${slowRun}/io`));
    });

    it(`${which}: POST /run/{name}/abort of a forbidden task's run answers 403 and does not abort it`, async () => {
      expectForbidden(await gw().call(`/run/${slowRun}/abort`, { method: "POST" }));
      const after = await open.call(`/run/${slowRun}`);
      expect(after.status).toBe(200);
      expect(after.body.done).toBe(false);
      expect(after.body.phase).not.toBe("aborted");
    });

    it(`${which}: an allowed task's run answers 200 on get_run and get_run_io`, async () => {
      const run = await gw().call(`/run/${echoRun}`);
      expect(run.status).toBe(200);
      expect(run.body).toMatchObject({ name: echoRun, phase: "succeeded", done: true });
      const io = await gw().call(`/run/${echoRun}/io`);
      expect(io.status).toBe(200);
      expect(io.body).toMatchObject({ name: echoRun, inputs: { x: 2, msg: "ok" }, outputs: { x: 2, msg: "ok" } });
    });
  }

  it("the phase of the forbidden run is still running after the 403 aborts", async () => {
    const after = await open.call(`/run/${slowRun}`);
    expect(after.status).toBe(200);
    expect(after.body.phase).toBe("running");
  });

  it("a run of other/echo is allowed by a name entry but not by the exact entry", async () => {
    expect((await byName.call(`/run/${otherEchoRun}`)).status).toBe(200);
    expectForbidden(await exact.call(`/run/${otherEchoRun}`));
    expectForbidden(await exact.call(`/run/${otherEchoRun}/io`));
    expectForbidden(await exact.call(`/run/${otherEchoRun}/abort`, { method: "POST" }));
  });

  it("aborting an allowed running run answers 200", async () => {
    const created = await open.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 9 } });
    expect(created.status).toBe(200);
    const slowAllowed = await attachGateway(open.plane, open.dir, { gateway: { taskAllowlist: ["slow"] } });
    try {
      const res = await slowAllowed.call(`/run/${created.body.name}/abort`, { method: "POST" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: created.body.name, status: "abort_requested" });
      const done = await open.waitDone(created.body.name, 5000);
      expect(done.phase).toBe("aborted");
    } finally {
      await slowAllowed.closeGateway();
    }
  });

  it("a run that does not exist answers 404 through a restricted gateway (not 403, not 5xx)", async () => {
    const res = await exact.call("/run/no-such-run-123");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: expect.any(String), code: "not_found", request_id: expect.any(String) });
  });

  it("no 5xx was logged by any gateway", () => {
    const statuses = [...open.logs, ...byName.logs, ...exact.logs]
      .map((line) => {
        try {
          return JSON.parse(line).res?.statusCode as number | undefined;
        } catch {
          return undefined;
        }
      })
      .filter((s): s is number => s !== undefined);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });
});
