// Endpoint filtering: which endpoints an instance routes and documents, the errors of a
// bad filter, and the OpenAPI document and /docs page.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFlyteWebhookApp } from "../src/app.ts";
import { EndpointFilterError, ENDPOINT_GROUPS, ENDPOINT_NAMES } from "../src/endpoints.ts";
import { attachGateway, type Stack, startStack } from "./stack.ts";

/** The OpenAPI paths of the implemented endpoints. */
const ALL_IMPLEMENTED = [
  "/health",
  "/me",
  "/run-task/{domain}/{project}/{name}",
  "/task/{domain}/{project}/{name}",
  "/run/{name}",
  "/run/{name}/io",
  "/run/{name}/events",
  "/run/{name}/abort",
  "/build-image",
  "/prefetch/hf-model",
  "/prefetch/hf-model/{run_name}",
  "/prefetch/hf-model/{run_name}/io",
  "/prefetch/hf-model/{run_name}/abort",
  "/app/{name}",
  "/app/{name}/activate",
  "/app/{name}/deactivate",
  "/app/{name}/call",
  "/trigger/{task_name}/{trigger_name}/activate",
  "/trigger/{task_name}/{trigger_name}/deactivate",
  "/hooks/{hook}",
];

let base: Stack; // no filter
const extra: Stack[] = [];
async function gateway(options: Parameters<typeof attachGateway>[2]): Promise<Stack> {
  const s = await attachGateway(base.plane, base.dir, options);
  extra.push(s);
  return s;
}

beforeAll(async () => {
  base = await startStack();
});
afterAll(async () => {
  for (const s of extra) await s.closeGateway();
  await base?.close();
});

async function openapi(s: Stack) {
  const res = await s.call("/openapi.json", { token: null });
  expect(res.status).toBe(200);
  return res.body;
}

function expectRouteNotFound(res: { status: number; body: any }) {
  expect(res.status).toBe(404);
  expect(res.body).toEqual({ detail: expect.any(String), code: "route_not_found", request_id: expect.any(String) });
}

describe("endpointGroups: [core]", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await gateway({ gateway: { endpointGroups: ["core"] } });
  });

  it("serves /health and /me", async () => {
    expect((await s.call("/health", { token: null })).status).toBe(200);
    const me = await s.call("/me");
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ subject: "tester", name: "tester" });
  });

  it("does not route the task and run endpoints", async () => {
    expectRouteNotFound(await s.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 } }));
    expectRouteNotFound(await s.call("/task/development/flytesnacks/echo"));
    expectRouteNotFound(await s.call("/run/x"));
    expectRouteNotFound(await s.call("/run/x/io"));
    expectRouteNotFound(await s.call("/run/x/abort", { method: "POST" }));
  });

  it("disabled endpoints are 404 even without credentials (no 401 leaks their existence)", async () => {
    expectRouteNotFound(await s.call("/run/x", { token: null }));
    expectRouteNotFound(await s.call("/run-task/development/flytesnacks/echo", { method: "POST", token: null }));
  });

  it("documents exactly the enabled paths", async () => {
    const doc = await openapi(s);
    expect(Object.keys(doc.paths).sort()).toEqual(["/health", "/me"]);
    expect(doc.tags.map((t: { name: string }) => t.name)).toEqual(["core"]);
  });
});

describe("endpoints: [health, run_task, get_run]", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await gateway({ gateway: { endpoints: ["health", "run_task", "get_run"] } });
  });

  it("documents only those three paths", async () => {
    const doc = await openapi(s);
    expect(Object.keys(doc.paths).sort()).toEqual(["/health", "/run-task/{domain}/{project}/{name}", "/run/{name}"].sort());
    const ops = Object.values(doc.paths).flatMap((p: any) => Object.values(p).map((op: any) => op.operationId));
    expect(ops.sort()).toEqual(["get_run", "health", "run_task"]);
  });

  it("routes those three", async () => {
    expect((await s.call("/health", { token: null })).status).toBe(200);
    const run = await s.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 } });
    expect(run.status).toBe(200);
    const got = await s.call(`/run/${run.body.name}`);
    expect(got.status).toBe(200);
    expect(got.body.name).toBe(run.body.name);
  });

  it("does not route the others", async () => {
    expectRouteNotFound(await s.call("/task/development/flytesnacks/echo"));
    expectRouteNotFound(await s.call("/me"));
    expectRouteNotFound(await s.call("/run/x/io"));
    expectRouteNotFound(await s.call("/run/x/abort", { method: "POST" }));
  });
});

describe("endpointGroups: [all] and no filter", () => {
  it("all serves and documents every endpoint", async () => {
    const s = await gateway({ gateway: { endpointGroups: ["all"] } });
    const doc = await openapi(s);
    expect(Object.keys(doc.paths).sort()).toEqual([...ALL_IMPLEMENTED].sort());
    expect((await s.call("/me")).status).toBe(200);
    expect((await s.call("/task/development/flytesnacks/echo")).status).toBe(200);
  });

  // Product bug (src/app.ts, openapi `tags`): the tag list is computed from the *enabled*
  // endpoint names, and groups that are "enabled" although no route plugin serves them
  // would be advertised with no operations.
  it("the OpenAPI tags list only groups that have a served endpoint", async () => {
    const s = await gateway({ gateway: { endpointGroups: ["all"] } });
    for (const doc of [await openapi(s), await openapi(base)]) {
      expect(doc.tags.map((t: { name: string }) => t.name).sort()).toEqual(["app", "build", "core", "hooks", "prefetch", "run", "task", "trigger"]);
    }
  });

  it("no filter behaves as all", async () => {
    const doc = await openapi(base);
    expect(Object.keys(doc.paths).sort()).toEqual([...ALL_IMPLEMENTED].sort());
  });

  it("the build and prefetch groups can be served alone", async () => {
    const s = await gateway({ gateway: { endpointGroups: ["prefetch"] } });
    const doc = await openapi(s);
    expect(Object.keys(doc.paths).sort()).toEqual(ALL_IMPLEMENTED.filter((p) => p.startsWith("/prefetch")).sort());
    expectRouteNotFound(await s.call("/build-image", { method: "POST" }));
    expectRouteNotFound(await s.call("/run/x"));
    const b = await gateway({ gateway: { endpoints: ["build_image"] } });
    expect(Object.keys((await openapi(b)).paths)).toEqual(["/build-image"]);
  });

  it("the app and trigger groups serve only their own endpoints", async () => {
    const s = await gateway({ gateway: { endpointGroups: ["app", "trigger"] } });
    expect((await s.call("/app/x")).body.code).toBe("not_found"); // routed: the control plane answered
    expect((await s.call("/trigger/a/b/activate", { method: "POST" })).body.code).toBe("not_found");
    expectRouteNotFound(await s.call("/run/x"));
    const doc = await openapi(s);
    expect(Object.keys(doc.paths).sort()).toEqual(ALL_IMPLEMENTED.filter((p) => /^\/(app|trigger)\//.test(p)).sort());
  });

  it("an empty endpoints list serves no endpoint but still the docs", async () => {
    const s = await gateway({ gateway: { endpoints: [] } });
    expectRouteNotFound(await s.call("/health", { token: null }));
    const doc = await openapi(s);
    expect(Object.keys(doc.paths)).toEqual([]);
  });
});

describe("invalid filters", () => {
  const make = (opts: { endpointGroups?: string[]; endpoints?: string[] }) => () =>
    createFlyteWebhookApp({ ...opts, logger: false, controlPlane: { endpoint: "http://127.0.0.1:1" } });

  function thrown(fn: () => unknown): Error {
    try {
      fn();
    } catch (err) {
      return err as Error;
    }
    throw new Error("expected a throw");
  }

  it("both endpointGroups and endpoints → EndpointFilterError naming both", () => {
    const err = thrown(make({ endpointGroups: ["core"], endpoints: ["health"] }));
    expect(err).toBeInstanceOf(EndpointFilterError);
    expect(err.name).toBe("EndpointFilterError");
    expect(err.message).toContain("endpointGroups");
    expect(err.message).toContain("endpoints");
  });

  it("both set, even empty, is an error", () => {
    expect(thrown(make({ endpointGroups: [], endpoints: [] }))).toBeInstanceOf(EndpointFilterError);
  });

  it("an unknown group → error naming it and listing the valid groups", () => {
    const err = thrown(make({ endpointGroups: ["core", "nope"] }));
    expect(err).toBeInstanceOf(EndpointFilterError);
    expect(err.message).toContain("nope");
    for (const group of ["all", ...ENDPOINT_GROUPS]) expect(err.message).toContain(group);
  });

  it("group names are case-sensitive", () => {
    expect(thrown(make({ endpointGroups: ["Core"] }))).toBeInstanceOf(EndpointFilterError);
  });

  it("an unknown endpoint → error naming it and listing the valid endpoints", () => {
    const err = thrown(make({ endpoints: ["health", "get-run"] }));
    expect(err).toBeInstanceOf(EndpointFilterError);
    expect(err.message).toContain("get-run");
    for (const name of ENDPOINT_NAMES) expect(err.message).toContain(name);
  });

  it("a group name is not an endpoint name", () => {
    expect(thrown(make({ endpoints: ["core"] }))).toBeInstanceOf(EndpointFilterError);
  });
});

describe("OpenAPI document and /docs", () => {
  it("/openapi.json is OpenAPI 3.1 with the default title and a bearerAuth scheme, without a token", async () => {
    const doc = await openapi(base);
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title).toBe("Flyte Webhook: flyte-webhook");
    expect(doc.info.description).toBe("A webhook service for Flyte operations");
    expect(doc.info.version).toBe("1.0.0");
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    // Protected operations require bearerAuth; /health does not.
    expect(doc.paths["/me"].get.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths["/health"].get.security).toBeUndefined();
    // The docs endpoints are not themselves documented.
    expect(Object.keys(doc.paths).some((p) => p.startsWith("/docs") || p === "/openapi.json")).toBe(false);
  });

  it("the title follows the gateway name", async () => {
    const s = await gateway({ gateway: { name: "my-hook" } });
    expect((await openapi(s)).info.title).toBe("Flyte Webhook: my-hook");
  });

  it("custom title, description and version appear", async () => {
    const s = await gateway({ gateway: { title: "My Title", description: "My description", version: "9.8.7" } });
    const doc = await openapi(s);
    expect(doc.info).toMatchObject({ title: "My Title", description: "My description", version: "9.8.7" });
  });

  it("/docs answers 200 HTML without a token", async () => {
    const res = await base.fetch("/docs", { token: null, redirect: "follow" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/<html/i);
  });

  it("/health, /docs and /openapi.json need no token; /me does", async () => {
    expect((await base.call("/health", { token: null })).status).toBe(200);
    expect((await base.fetch("/docs", { token: null })).status).toBeLessThan(400);
    expect((await base.call("/openapi.json", { token: null })).status).toBe(200);
    const me = await base.call("/me", { token: null });
    expect(me.status).toBe(401);
    expect(me.body.code).toBe("unauthenticated");
  });
});
