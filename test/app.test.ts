// App group, black-box: the real gateway and embedded plane, and a real app server on a
// loopback port that call_app reaches.
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, configFromEnv } from "../src/config.ts";
import { CatalogError, parseCatalogApps } from "../src/local/catalog.ts";
import { attachGateway, type Stack, startStack, TEST_CATALOG } from "./stack.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A small app: echoes requests, answers text, errors, slow and large answers, redirects. */
async function startAppServer(): Promise<{ server: Server; origin: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    const url = new URL(req.url!, "http://app");
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const path = url.pathname;
    if (path === "/echo" || path === "/base/echo") {
      return json(200, {
        method: req.method,
        path,
        query: [...url.searchParams.entries()],
        authorization: req.headers.authorization ?? null,
        cookie: req.headers.cookie ?? null,
        content_type: req.headers["content-type"] ?? null,
        user_agent: req.headers["user-agent"] ?? null,
        request_id: req.headers["x-request-id"] ?? null,
        body: body === "" ? null : JSON.parse(body),
      });
    }
    if (path === "/json") return json(200, { hello: "world", n: [1, 2] });
    if (path === "/string") return json(200, "just a string");
    if (path === "/text") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("plain text answer");
    }
    if (path === "/empty") {
      res.writeHead(204);
      return res.end();
    }
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status) {
      res.writeHead(Number(status[1]), { "content-type": "text/plain" });
      return res.end(`app says no: ${"x".repeat(3000)}`);
    }
    if (path === "/slow") {
      const timer = setTimeout(() => json(200, { late: true }), 3000);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    if (path === "/big") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": 4096 });
      return res.end("b".repeat(4096));
    }
    if (path === "/big-chunked") {
      res.writeHead(200, { "content-type": "text/plain" });
      for (let i = 0; i < 8; i++) res.write("c".repeat(512));
      return res.end();
    }
    if (path === "/redirect") {
      res.writeHead(302, { location: "http://127.0.0.2:1/elsewhere" });
      return res.end();
    }
    json(404, { detail: `no ${path}` });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

let appServer: Awaited<ReturnType<typeof startAppServer>>;
let stack: Stack;

beforeAll(async () => {
  appServer = await startAppServer();
  const origin = appServer.origin;
  stack = await startStack({
    catalog: {
      ...TEST_CATALOG,
      apps: [
        { name: "my-app", url: origin, active: true },
        { name: "prefixed", url: `${origin}/base`, active: true },
        { name: "stopped-app", url: origin, active: false },
        { name: "toggle", url: origin, active: false },
        { name: "toggle-nowait", url: origin, active: false },
        { name: "down-app", url: `http://127.0.0.1:${await closedPort()}`, active: true },
        // The gateway's own name: reachable in the plane, refused by the gateway.
        { name: "flyte-webhook", url: origin, active: true },
      ],
    },
    plane: { appTransitionMs: 300 },
    gateway: { appCall: { timeoutMs: 600, maxResponseBytes: 1024 } },
  });
});
afterAll(async () => {
  await stack?.close();
  appServer?.server.close();
});

const post = (path: string, json?: unknown, init: Parameters<Stack["call"]>[1] = {}) => stack.call(path, { method: "POST", json, ...init });

describe("get_app", () => {
  it("reports an active app as the reference does", async () => {
    const { status, body } = await stack.call("/app/my-app");
    expect(status).toBe(200);
    expect(body).toEqual({
      name: "my-app",
      revision: 1,
      endpoint: appServer.origin,
      is_active: true,
      is_deactivated: false,
      url: `${stack.plane.url}/v2/domain/development/project/flytesnacks/apps/my-app`,
      status: "active",
    });
  });

  it("reports a stopped app as deactivated", async () => {
    const { body } = await stack.call("/app/stopped-app");
    expect(body).toMatchObject({ name: "stopped-app", is_active: false, is_deactivated: true, status: "stopped" });
  });

  it("answers 404 for an unknown app, and for an app in another project", async () => {
    const missing = await stack.call("/app/no-such-app");
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: "App no-such-app not found", code: "not_found", request_id: expect.any(String) });
    expect((await stack.call("/app/my-app?project=other")).status).toBe(404);
  });

  it("needs credentials", async () => {
    expect((await stack.call("/app/my-app", { token: null })).status).toBe(401);
  });
});

describe("self-reference protection", () => {
  it("refuses every app endpoint naming the gateway itself with 400", async () => {
    const cases: Array<[string, string, string]> = [
      ["GET", "/app/flyte-webhook", "Cannot get status of self"],
      ["POST", "/app/flyte-webhook/activate", "Cannot activate self"],
      ["POST", "/app/flyte-webhook/deactivate?wait=true", "Cannot deactivate self"],
      ["POST", "/app/flyte-webhook/call?path=/json", "Cannot call self"],
    ];
    for (const [method, path, detail] of cases) {
      const { status, body } = await stack.call(path, { method });
      expect(status, path).toBe(400);
      expect(body).toEqual({ detail, code: "self_reference", request_id: expect.any(String) });
    }
    // The plane still has it active: the refusal is the gateway's.
    expect((await stack.call("/app/flyte-webhook")).status).toBe(400);
  });

  it("follows a configured gateway name", async () => {
    const named = await attachGateway(stack.plane, stack.dir, { gateway: { name: "my-app" } });
    try {
      expect((await named.call("/app/my-app")).status).toBe(400);
      expect((await named.call("/app/flyte-webhook")).status).toBe(200);
    } finally {
      await named.closeGateway();
    }
  });
});

describe("app allow-list", () => {
  it("answers 403 for apps outside it on every endpoint, before asking the control plane", async () => {
    const limited = await attachGateway(stack.plane, stack.dir, { gateway: { appAllowlist: ["my-app", "stopped-app"] } });
    try {
      expect((await limited.call("/app/my-app")).status).toBe(200);
      expect((await limited.call("/app/stopped-app")).status).toBe(200);
      for (const [method, path] of [
        ["GET", "/app/toggle"],
        ["POST", "/app/toggle/activate?wait=true"],
        ["POST", "/app/toggle/deactivate"],
        ["POST", "/app/toggle/call?path=/json"],
      ] as const) {
        // A token the control plane would refuse with 401: the 403 comes first.
        const { status, body } = await limited.call(path, { method, token: "not-a-real-token" });
        expect(status, path).toBe(403);
        expect(body).toEqual({ detail: "App toggle is not in the allowlist", code: "app_not_allowed", request_id: expect.any(String) });
      }
      // Names match exactly: no prefix, case or encoding tricks.
      expect((await limited.call("/app/My-App")).status).toBe(403);
      expect((await limited.call("/app/my-app%20")).status).toBe(403);
      expect((await limited.call("/app/toggle")).status).toBe(403);
      expect((await stack.call("/app/toggle")).body.is_deactivated).toBe(true); // nothing changed
    } finally {
      await limited.closeGateway();
    }
  });
});

/** Polls get_app until `check` holds (bounded). */
async function waitFor(name: string, check: (body: any) => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await stack.call(`/app/${name}`);
    if (check(body)) return body;
    if (Date.now() > deadline) throw new Error(`app ${name} never matched: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("activate_app and deactivate_app", () => {
  it("without wait answers at once, while the app is still deploying; it becomes active after", async () => {
    const started = Date.now();
    const { status, body } = await post("/app/toggle-nowait/activate");
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(300);
    expect(body).toMatchObject({ name: "toggle-nowait", is_active: false, is_deactivated: false, status: "deploying", revision: 2 });
    await waitFor("toggle-nowait", (b) => b.is_active === true);
    const off = await post("/app/toggle-nowait/deactivate");
    expect(off.body).toMatchObject({ is_active: false, is_deactivated: false, status: "scaling_down" });
    await waitFor("toggle-nowait", (b) => b.is_deactivated === true);
  });

  it("with wait=true reports the new state, not the one from before the wait", async () => {
    const started = Date.now();
    const on = await post("/app/toggle/activate?wait=true");
    const took = Date.now() - started;
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ name: "toggle", is_active: true, is_deactivated: false, status: "active", endpoint: appServer.origin });
    expect(took).toBeGreaterThanOrEqual(250); // it did wait through DEPLOYING

    const off = await post("/app/toggle/deactivate?wait=true");
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ name: "toggle", is_active: false, is_deactivated: true, status: "stopped" });
    expect((await stack.call("/app/toggle")).body.is_deactivated).toBe(true);
  });

  it("leaves an app already in the asked state alone", async () => {
    const before = (await stack.call("/app/my-app")).body;
    const started = Date.now();
    const { status, body } = await post("/app/my-app/activate?wait=true");
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(250);
    expect(body).toEqual(before);
    expect((await post("/app/stopped-app/deactivate?wait=true")).body).toMatchObject({ is_deactivated: true, revision: 1 });
  });

  it("answers 404 for an unknown app and 400 for a wait that is not a boolean", async () => {
    expect((await post("/app/no-such-app/activate")).status).toBe(404);
    expect((await post("/app/no-such-app/deactivate?wait=true")).status).toBe(404);
    const bad = await post("/app/toggle/activate?wait=maybe");
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("invalid_request");
  });

  it("answers 504 with the last status seen when the wait outlasts its deadline", async () => {
    const slowPlane = await startStack({
      catalog: { tasks: [], apps: [{ name: "sluggish", url: appServer.origin, active: false }] },
      plane: { appTransitionMs: 3000 },
      gateway: { appWaitMs: 300 },
    });
    try {
      const started = Date.now();
      const pending = slowPlane.call("/app/sluggish/activate?wait=true", { method: "POST" });
      // While it waits, the gateway holds one Watch of the app open on the plane.
      while (slowPlane.plane.openWatches() === 0 && Date.now() - started < 1000) await new Promise((r) => setTimeout(r, 10));
      expect(slowPlane.plane.openWatches()).toBe(1);
      const { status, body } = await pending;
      expect(status).toBe(504);
      expect(body).toEqual({
        detail: "App sluggish is not active after 300 ms; its status is deploying",
        code: "app_wait_timeout",
        request_id: expect.any(String),
      });
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await slowPlane.call("/app/sluggish")).body.status).toBe("deploying");
      // The plane's end of the abandoned watch is closed, not leaked.
      const deadline = Date.now() + 2000;
      while (slowPlane.plane.openWatches() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(slowPlane.plane.openWatches()).toBe(0);
    } finally {
      await slowPlane.close();
    }
  });
});

describe("call_app", () => {
  const call = (app: string, query: string, json?: unknown, init: Parameters<Stack["call"]>[1] = {}) =>
    post(`/app/${app}/call?${query}`, json, init);

  it("returns a 2xx JSON answer as is", async () => {
    const { status, body, headers } = await call("my-app", "path=/json");
    expect(status).toBe(200);
    expect(headers.get("content-type")).toMatch(/^application\/json/);
    expect(body).toEqual({ hello: "world", n: [1, 2] });
    expect((await call("my-app", "path=json")).body).toEqual({ hello: "world", n: [1, 2] }); // leading slash optional
    expect((await call("my-app", "path=/string")).body).toBe("just a string");
  });

  it("wraps a text answer as {response}", async () => {
    expect((await call("my-app", "path=/text")).body).toEqual({ response: "plain text answer" });
    expect((await call("my-app", "path=/empty")).body).toEqual({ response: "" });
  });

  it("sends the method, the payload and the query parameters", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "post"]) {
      const { status, body } = await call("my-app", `path=/echo&method=${method}`, { payload: { a: 1, nested: { b: [true] } } });
      expect(status, method).toBe(200);
      expect(body).toMatchObject({ method: method.toUpperCase(), body: { a: 1, nested: { b: [true] } }, content_type: "application/json" });
    }
    const get = await call("my-app", "path=/echo", { payload: { ignored: true }, query_params: { b: 2, flag: true, c: ["x", "y"] } });
    expect(get.body).toMatchObject({ method: "GET", body: null, query: [["b", "2"], ["flag", "true"], ["c", "x"], ["c", "y"]] });
    const inPath = await call("my-app", `path=${encodeURIComponent("/echo?a=1")}`, { query_params: { b: "two words" } });
    expect(inPath.body.query).toEqual([["a", "1"], ["b", "two words"]]);
    const noBody = await call("my-app", "path=/echo&method=HEAD");
    expect(noBody.status).toBe(200);
  });

  it("refuses methods it does not know and malformed bodies with 400", async () => {
    expect((await call("my-app", "path=/echo&method=TRACE")).status).toBe(400);
    expect((await call("my-app", "path=/echo", { query_params: { a: { deep: 1 } } })).status).toBe(400);
    expect((await call("my-app", "path=")).status).toBe(400);
    expect((await post("/app/my-app/call")).status).toBe(400); // path is required
  });

  it("forwards the caller's Authorization (never the Cookie), its request id and a user agent", async () => {
    const { body } = await call("my-app", "path=/echo", undefined, { headers: { cookie: "session=s3cret", "x-request-id": "req-123" } });
    expect(body.authorization).toBe(`Bearer ${"test-token-4f1c2a9e7b"}`);
    expect(body.cookie).toBeNull();
    expect(body.request_id).toBe("req-123");
    expect(body.user_agent).toBe("flyte-webhook/flyte-webhook");
    // Forwarded, but never logged.
    expect(stack.logs.join("\n")).not.toContain("test-token-4f1c2a9e7b");
    expect(stack.logs.join("\n")).not.toContain("s3cret");
  });

  it("does not forward Authorization when configured off", async () => {
    const quiet = await attachGateway(stack.plane, stack.dir, { gateway: { appCall: { forwardAuthorization: false } } });
    try {
      const { status, body } = await quiet.call("/app/my-app/call?path=/echo", { method: "POST" });
      expect(status).toBe(200);
      expect(body.authorization).toBeNull();
    } finally {
      await quiet.closeGateway();
    }
  });

  it("passes a non-2xx status on, with the start of the app's body in detail", async () => {
    for (const code of [400, 404, 418, 500, 503]) {
      const { status, body } = await call("my-app", `path=/status/${code}`);
      expect(status).toBe(code);
      expect(body).toEqual({ detail: expect.stringMatching(/^Target app returned error: app says no: x+$/), code: "app_error", request_id: expect.any(String) });
      expect(body.detail.length).toBeLessThan(1100);
    }
  });

  it("does not follow redirects", async () => {
    const { status, body } = await call("my-app", "path=/redirect");
    expect(status).toBe(502);
    expect(body.code).toBe("app_bad_answer");
  });

  it("answers 504 past the deadline without holding up other requests", async () => {
    const started = Date.now();
    const pending = call("my-app", "path=/slow");
    // While the call waits, the gateway keeps answering.
    const health = await stack.call("/health", { token: null });
    expect(health.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(400);
    const { status, body } = await pending;
    expect(status).toBe(504);
    expect(body).toEqual({ detail: "App my-app did not answer /slow within 600 ms", code: "app_timeout", request_id: expect.any(String) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("answers 502 for an answer over the size cap, declared or streamed", async () => {
    for (const path of ["/big", "/big-chunked"]) {
      const { status, body } = await call("my-app", `path=${path}`);
      expect(status, path).toBe(502);
      expect(body).toEqual({ detail: "App my-app answered with more than 1024 bytes", code: "app_response_too_large", request_id: expect.any(String) });
    }
  });

  it("answers 502 when the app cannot be reached", async () => {
    const { status, body } = await call("down-app", "path=/json");
    expect(status).toBe(502);
    expect(body.code).toBe("app_unreachable");
    expect(body.detail).toMatch(/^App down-app could not be reached at its endpoint \(ECONNREFUSED\)$/);
  });

  it("answers 409 when the app is not active, and 404 when it does not exist", async () => {
    const { status, body } = await call("stopped-app", "path=/json");
    expect(status).toBe(409);
    expect(body).toEqual({ detail: "App stopped-app is not active (its status is stopped)", code: "app_not_active", request_id: expect.any(String) });
    expect((await call("no-such-app", "path=/json")).status).toBe(404);
  });

  it("keeps the path on the app: escapes are a 400 and never reach anything", async () => {
    const attempts = [
      "http://127.0.0.2:9/x",
      "https://evil.example/",
      "HTTP://evil.example/",
      "//evil.example/x",
      "///evil.example/x",
      "javascript:alert(1)",
      "/..",
      "/a/../../x",
      "../x",
      "./x",
      "%2e%2e/x",
      "/%2E%2e/x",
      "/%2f%2fevil.example",
      "/a%5c..%5cb",
      "/x%00y",
      "\\\\evil.example\\x",
      "/a\\b",
      "/x#fragment",
      "/x\ny",
    ];
    const before = appServer.seen.length;
    for (const path of attempts) {
      const { status, body } = await call("my-app", `path=${encodeURIComponent(path)}`);
      expect(status, path).toBe(400);
      expect(body.code, path).toBe("invalid_app_path");
    }
    expect(appServer.seen.length).toBe(before);
  });

  it("keeps calls under the app's base path", async () => {
    const { status, body } = await call("prefixed", "path=/echo");
    expect(status).toBe(200);
    expect(body.path).toBe("/base/echo");
    expect((await call("prefixed", `path=${encodeURIComponent("../json")}`)).status).toBe(400);
  });
});

describe("app call settings from the environment", () => {
  it("reads the deadline, size cap, forwarding and wait deadline, with defaults", () => {
    const defaults = configFromEnv({}).gateway;
    expect(defaults.appCall).toEqual({ timeoutMs: 30_000, maxResponseBytes: 10 * 1024 * 1024, forwardAuthorization: true });
    expect(defaults.appWaitMs).toBe(120_000);
    const set = configFromEnv({
      FLYTE_WEBHOOK_APP_CALL_TIMEOUT_MS: "1500",
      FLYTE_WEBHOOK_APP_CALL_MAX_BYTES: "2048",
      FLYTE_WEBHOOK_APP_CALL_FORWARD_AUTH: "false",
      FLYTE_WEBHOOK_APP_WAIT_TIMEOUT_MS: "9000",
    }).gateway;
    expect(set.appCall).toEqual({ timeoutMs: 1500, maxResponseBytes: 2048, forwardAuthorization: false });
    expect(set.appWaitMs).toBe(9000);
  });

  it("refuses bad values naming the variable", () => {
    expect(() => configFromEnv({ FLYTE_WEBHOOK_APP_CALL_TIMEOUT_MS: "soon" })).toThrow(ConfigError);
    expect(() => configFromEnv({ FLYTE_WEBHOOK_APP_CALL_MAX_BYTES: "0" })).toThrow(/FLYTE_WEBHOOK_APP_CALL_MAX_BYTES/);
    expect(() => configFromEnv({ FLYTE_WEBHOOK_APP_CALL_FORWARD_AUTH: "perhaps" })).toThrow(/FLYTE_WEBHOOK_APP_CALL_FORWARD_AUTH/);
  });
});

describe("catalog apps", () => {
  it("refuses an app without an http(s) url or with unknown fields", () => {
    const parse = (app: object) => () => parseCatalogApps({ apps: [app] }, { org: "", project: "p", domain: "d" });
    expect(parse({ name: "a", url: "ftp://host/" })).toThrow(/"url" must be an http\(s\) URL/);
    expect(parse({ name: "a", url: "not a url" })).toThrow(CatalogError);
    expect(parse({ name: "a", url: "http://127.0.0.1:9001", replicas: 2 })).toThrow(/unknown field "replicas"/);
    expect(parse({ url: "http://127.0.0.1:9001" })).toThrow(/"name" must be a non-empty string/);
  });

  it("is loaded as declared at every start, and the same catalog twice changes nothing", async () => {
    const catalog = { tasks: [], apps: [{ name: "declared", url: appServer.origin, active: false }] };
    const first = await startStack({ catalog, plane: { appTransitionMs: 50 } });
    const dir = first.dir;
    expect((await first.call("/app/declared/activate?wait=true", { method: "POST" })).body).toMatchObject({ is_active: true, revision: 2 });
    await first.close({ keepDir: true });

    // The catalog says inactive: a start applies it, like a redeploy (a new revision).
    const second = await startStack({ catalog, dir });
    expect((await second.call("/app/declared")).body).toMatchObject({ is_deactivated: true, revision: 3 });
    await second.close({ keepDir: true });
    const third = await startStack({ catalog, dir });
    try {
      expect((await third.call("/app/declared")).body).toMatchObject({ is_deactivated: true, revision: 3 });
    } finally {
      await third.close();
    }
  });

  it("closing the plane mid-transition leaves no timer behind", async () => {
    const short = await startStack({ catalog: { tasks: [], apps: [{ name: "brief", url: appServer.origin, active: false }] }, plane: { appTransitionMs: 150 } });
    expect((await short.call("/app/brief/activate", { method: "POST" })).body.status).toBe("deploying");
    await short.close();
    // A transition timer firing now would read a closed database and fail the run.
    await new Promise((r) => setTimeout(r, 300));
  });
});
