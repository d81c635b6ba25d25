// The operations layer as a caller and an operator see it: request ids, access and audit
// lines, rate limits, security headers, body limit, CORS, load shedding, /metrics, /ready.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OTHER_TOKEN, type Stack, startStack, TOKEN } from "./stack.ts";

const stacks: Stack[] = [];
async function stack(options: Parameters<typeof startStack>[0] = {}) {
  const s = await startStack(options);
  stacks.push(s);
  return s;
}
afterAll(async () => {
  for (const s of stacks.reverse()) await s.close();
});

const lines = (s: Stack) =>
  s.logs
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

let base: Stack;
beforeAll(async () => {
  base = await stack();
});

describe("request id", () => {
  it("a valid X-Request-Id is kept, echoed, in the error body and in every log line of the request", async () => {
    const res = await base.call("/run/rmissing", { headers: { "x-request-id": "ci-job-42.step:3" } });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toBe("ci-job-42.step:3");
    expect(res.body.request_id).toBe("ci-job-42.step:3");
    const mine = lines(base).filter((l) => l.reqId === "ci-job-42.step:3");
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.filter((l) => l.msg === "request completed")).toHaveLength(1);
  });

  it("an invalid one is replaced by a generated id", async () => {
    const res = await base.call("/me", { headers: { "x-request-id": "bad id with spaces" } });
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("access and audit lines", () => {
  it("one access line per request: method, route, status, duration, caller hash, subject once known", async () => {
    const id = `access-${Date.now()}`;
    await base.call("/me", { headers: { "x-request-id": `${id}-me` } });
    await base.call("/task/development/flytesnacks/echo", { headers: { "x-request-id": `${id}-task` } });
    const [me] = lines(base).filter((l) => l.reqId === `${id}-me` && l.msg === "request completed");
    const [task] = lines(base).filter((l) => l.reqId === `${id}-task` && l.msg === "request completed");
    expect(me).toMatchObject({ level: 30, req: { method: "GET", url: "/me", remoteAddress: "127.0.0.1" }, route: "/me", res: { statusCode: 200 }, subject: "tester" });
    expect(me.caller).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(typeof me.responseTime).toBe("number");
    // The same credential later: the subject learned by /me is named.
    expect(task).toMatchObject({ route: "/task/:domain/:project/:name", res: { statusCode: 200 }, subject: "tester", caller: me.caller });
  });

  it("state-changing calls get an audit line with target and outcome; reads do not", async () => {
    const created = await base.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 }, headers: { "x-request-id": "audit-run" } });
    await base.waitDone(created.body.name);
    await base.call(`/run/${created.body.name}/abort`, { method: "POST", headers: { "x-request-id": "audit-abort" } });
    await base.call(`/run/${created.body.name}`, { headers: { "x-request-id": "audit-read" } });
    const audits = lines(base).filter((l) => l.msg === "audit");
    expect(audits.find((l) => l.reqId === "audit-run")?.audit).toMatchObject({
      action: "run_task",
      target: { domain: "development", project: "flytesnacks", name: "echo", run: created.body.name },
      outcome: "succeeded",
      status: 200,
    });
    expect(audits.find((l) => l.reqId === "audit-abort")?.audit).toMatchObject({
      action: "abort_run",
      target: { name: created.body.name },
      outcome: "rejected",
      status: 409,
      error: "failed_precondition",
    });
    expect(audits.some((l) => l.reqId === "audit-read")).toBe(false);
  });

  it("a refused call is audited as denied", async () => {
    await base.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 }, token: null, headers: { "x-request-id": "audit-denied" } });
    const audit = lines(base).find((l) => l.msg === "audit" && l.reqId === "audit-denied")?.audit;
    expect(audit).toMatchObject({ action: "run_task", outcome: "denied", status: 401, error: "unauthenticated" });
  });

  it("no token, cookie or secret query value reaches any line, audit lines included", async () => {
    await base.call("/run-task/development/flytesnacks/echo?token=query-secret-31&x=1", { method: "POST", json: { x: 1 } });
    await base.call("/me", { token: null, headers: { cookie: "session=cookie-secret-32" } });
    await base.call("/metrics");
    const logged = base.logs.join("");
    expect(logged).toContain("token=***");
    for (const secret of [TOKEN, OTHER_TOKEN, "query-secret-31", "cookie-secret-32"]) expect(logged).not.toContain(secret);
  });

  it("/health is served outside this layer: no access line, no security headers", async () => {
    const before = lines(base).length;
    const res = await base.fetch("/health", { token: null, headers: { "x-request-id": "probe-1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("probe-1");
    expect(res.headers.get("content-security-policy")).toBeNull();
    expect(lines(base).slice(before).some((l) => l.reqId === "probe-1")).toBe(false);
  });
});

describe("rate limits", () => {
  it("per credential and per group: 429 in the error shape with Retry-After; other credentials and groups go on", async () => {
    const s = await stack({ gateway: { rateLimit: { perCredential: 3, groups: { task: 2 } } } });
    for (let i = 0; i < 3; i++) expect((await s.call("/me")).status).toBe(200);
    const limited = await s.call("/me");
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ code: "rate_limited", request_id: expect.any(String) });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("x-ratelimit-limit")).toBe("3");
    expect((await s.call("/me", { token: OTHER_TOKEN })).status).toBe(200);
    // The task group has its own, smaller budget for the same credential.
    expect((await s.call("/task/development/flytesnacks/echo")).status).toBe(200);
    expect((await s.call("/task/development/flytesnacks/echo")).status).toBe(200);
    expect((await s.call("/task/development/flytesnacks/echo")).status).toBe(429);
    expect((await s.call("/health", { token: null })).status).toBe(200);
  });

  it("per client address, whatever the credential", async () => {
    const s = await stack({ gateway: { rateLimit: { perIp: 3 } } });
    expect((await s.call("/me")).status).toBe(200);
    expect((await s.call("/me", { token: OTHER_TOKEN })).status).toBe(200);
    expect((await s.call("/me", { token: "made-up" })).status).toBe(401);
    const limited = await s.call("/me", { token: OTHER_TOKEN });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBeTruthy();
  });
});

describe("HTTP hardening", () => {
  it("security headers on endpoints and docs; the docs' CSP allows only this origin", async () => {
    const me = await base.fetch("/me");
    expect(me.headers.get("x-content-type-options")).toBe("nosniff");
    const docs = await base.fetch("/redoc", { token: null });
    const csp = docs.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("upgrade-insecure-requests");
  });

  it("a body over the limit is a 413 in the error shape", async () => {
    const s = await stack({ gateway: { bodyLimit: 1024 } });
    const res = await s.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1, msg: "y".repeat(2000) } });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: "payload_too_large", request_id: expect.any(String) });
    const big = await base.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1, msg: "y".repeat(1024 * 1024) } });
    expect(big.status).toBe(413);
  });

  it("CORS is off unless origins are configured", async () => {
    const preflight = { method: "OPTIONS", token: null, headers: { origin: "https://ci.example.com", "access-control-request-method": "POST" } };
    const off = await base.fetch("/me", preflight);
    expect(off.headers.get("access-control-allow-origin")).toBeNull();
    const s = await stack({ gateway: { corsOrigins: ["https://ci.example.com"] } });
    const on = await s.fetch("/me", preflight);
    expect(on.status).toBe(204);
    expect(on.headers.get("access-control-allow-origin")).toBe("https://ci.example.com");
    const other = await s.fetch("/me", { ...preflight, headers: { ...preflight.headers, origin: "https://evil.example.com" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("sheds load with 503 and Retry-After while the event loop is saturated; /health still answers", async () => {
    const s = await stack({ gateway: { maxEventLoopDelayMs: 50 } });
    // Keep the loop busy in 150 ms slices for longer than two of the plugin's 1 s samples.
    const until = Date.now() + 2300;
    while (Date.now() < until) {
      const slice = Date.now() + 150;
      while (Date.now() < slice);
      await new Promise((r) => setImmediate(r));
    }
    const shed = await s.call("/me");
    expect(shed.status).toBe(503);
    expect(shed.body).toMatchObject({ code: "overloaded", request_id: expect.any(String) });
    expect(shed.headers.get("retry-after")).toBe("10");
    expect((await s.call("/health", { token: null })).status).toBe(200);
  });
});

describe("/metrics", () => {
  const metricLine = (text: string, prefix: string) => text.split("\n").find((l) => l.startsWith(prefix));

  it("needs credentials the control plane accepts, and counts requests and control-plane calls", async () => {
    const s = await stack();
    expect((await s.call("/metrics", { token: null })).status).toBe(401);
    expect((await s.call("/metrics", { token: "made-up" })).status).toBe(401);
    await s.call("/me");
    await s.call("/run/rmissing");
    const res = await s.fetch("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(metricLine(text, 'flyte_webhook_requests_total{endpoint="me",method="GET",status="200"}')).toMatch(/ 1$/);
    expect(metricLine(text, 'flyte_webhook_request_duration_seconds_count{endpoint="get_run",method="GET",status="404"}')).toMatch(/ 1$/);
    expect(metricLine(text, 'flyte_webhook_requests_total{endpoint="metrics",method="GET",status="401"}')).toMatch(/ 2$/);
    expect(metricLine(text, 'flyte_webhook_control_plane_call_duration_seconds_count{rpc="RunService/GetRunDetails",code="NotFound"}')).toMatch(/ 1$/);
    expect(metricLine(text, 'flyte_webhook_control_plane_errors_total{rpc="RunService/GetRunDetails",code="NotFound"}')).toMatch(/ 1$/);
    expect(text).toContain("process_cpu_user_seconds_total");
  });

  it("a metrics token of its own replaces the control-plane check", async () => {
    const s = await stack({ gateway: { metrics: { token: "scrape-secret-77" } } });
    expect((await s.call("/metrics")).status).toBe(401);
    expect((await s.call("/metrics", { token: "scrape-secret-7" })).status).toBe(401);
    expect((await s.call("/metrics", { token: "scrape-secret-77" })).status).toBe(200);
    expect(s.logs.join("")).not.toContain("scrape-secret-77");
  });

  it("is absent when turned off", async () => {
    const s = await stack({ gateway: { metrics: false } });
    expect((await s.call("/metrics")).status).toBe(404);
  });
});

describe("/ready", () => {
  it("is ready while the control plane answers, and answers 503 when it does not; /health stays up", async () => {
    const s = await startStack();
    try {
      expect((await s.call("/ready", { token: null })).body).toEqual({ status: "ready" });
      await s.plane.close();
      const down = await s.call("/ready", { token: null });
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: "control_plane_unavailable" });
      expect((await s.call("/health", { token: null })).status).toBe(200);
    } finally {
      await s.closeGateway();
    }
  });
});

