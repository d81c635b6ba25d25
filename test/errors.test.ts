// Error mapping: an unreachable, a hanging and a garbage-speaking control plane, and bad
// request bodies. Every error answer has exactly {detail, code, request_id} and never
// carries upstream text or a stack trace.
import http2 from "node:http2";
import net from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createFlyteWebhookApp } from "../src/app.ts";
import { fromControlPlane } from "../src/errors.ts";
import { freePort, type Stack, startStack, TOKEN } from "./stack.ts";

const MARKER = "UPSTREAM-SECRET-7f3e";

interface Answer {
  status: number;
  body: any;
  text: string;
  headers: Headers;
  ms: number;
}

/** A gateway in front of an arbitrary endpoint, listening on loopback. */
async function gatewayFor(endpoint: string, deadlineMs = 5000) {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const app = createFlyteWebhookApp({ logger: pino({ level: "trace" }, sink), controlPlane: { endpoint, deadlineMs } });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address() as net.AddressInfo;
  const base = `http://127.0.0.1:${address.port}`;
  const call = async (path: string, init: RequestInit = {}): Promise<Answer> => {
    const headers = new Headers(init.headers);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${TOKEN}`);
    const start = Date.now();
    const res = await fetch(`${base}${path}`, { ...init, headers });
    const text = await res.text();
    const ms = Date.now() - start;
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: res.status, body, text, headers: res.headers, ms };
  };
  return { app, call, logs, close: () => app.close() };
}

/** An h2c server with a per-stream handler; close() destroys every session it saw. */
async function h2Server(onStream: (stream: http2.ServerHttp2Stream) => void) {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  let streams = 0;
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream) => {
    streams++;
    stream.on("error", () => {});
    onStream(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    streams: () => streams,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The one error shape, and nothing that leaks internals. */
function expectCleanError(res: Answer, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ detail: expect.any(String), code, request_id: expect.any(String) });
  expect(Object.keys(res.body).sort()).toEqual(["code", "detail", "request_id"]);
  expect(res.body.request_id).toBe(res.headers.get("x-request-id"));
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  expectNoLeak(res.text);
}

function expectNoLeak(text: string) {
  expect(text).not.toContain(MARKER);
  expect(text).not.toMatch(/\n\s+at /);
  expect(text).not.toMatch(/\bat [^ ]+ \(/);
  expect(text).not.toContain("/work/");
  expect(text).not.toContain("node_modules");
  expect(text).not.toContain("node:internal");
  expect(text).not.toMatch(/ECONNREFUSED|ECONNRESET|ERR_HTTP2/);
  expect(text).not.toMatch(/\[(internal|unknown|unavailable|deadline_exceeded)\]/);
}

describe("control plane down", () => {
  let gw: Awaited<ReturnType<typeof gatewayFor>>;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    gw = await gatewayFor(`http://127.0.0.1:${port}`);
  });
  afterAll(() => gw?.close());

  it("/me answers 503 control_plane_unavailable quickly", async () => {
    const res = await gw.call("/me");
    expectCleanError(res, 503, "control_plane_unavailable");
    expect(res.ms).toBeLessThan(3000);
    expect(res.body.detail).not.toContain(String(port));
  });

  it("every control-plane endpoint answers 503, and /health stays 200", async () => {
    const paths: [string, RequestInit?][] = [
      ["/task/development/flytesnacks/echo"],
      ["/run-task/development/flytesnacks/echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"x":1}' }],
      ["/run/some-run"],
      ["/run/some-run/io"],
      ["/run/some-run/abort", { method: "POST" }],
    ];
    const answers = await Promise.all(paths.map(([p, init]) => gw.call(p, init)));
    for (const res of answers) {
      expectCleanError(res, 503, "control_plane_unavailable");
      expect(res.ms).toBeLessThan(3000);
    }
    const health = await gw.call("/health");
    expect(health.status).toBe(200);
  });

  it("still 401 without credentials (auth is checked before the plane is asked)", async () => {
    const res = await gw.call("/me", { headers: { authorization: "" } });
    expectCleanError(res, 401, "unauthenticated");
  });
});

describe("control plane too slow", () => {
  let server: Awaited<ReturnType<typeof h2Server>>;
  let gw: Awaited<ReturnType<typeof gatewayFor>>;
  beforeAll(async () => {
    server = await h2Server(() => {
      // never answers
    });
    gw = await gatewayFor(server.url, 300);
  });
  afterAll(async () => {
    await gw?.close();
    await server?.close();
  });

  it("/me answers 504 control_plane_timeout after about the deadline", async () => {
    const res = await gw.call("/me");
    expectCleanError(res, 504, "control_plane_timeout");
    expect(res.ms).toBeGreaterThanOrEqual(250);
    expect(res.ms).toBeLessThan(3000);
    expect(server.streams()).toBeGreaterThan(0);
  });

  it("get_task and get_run answer 504 too", async () => {
    const [task, run] = await Promise.all([gw.call("/task/development/flytesnacks/echo"), gw.call("/run/r1")]);
    expectCleanError(task, 504, "control_plane_timeout");
    expectCleanError(run, 504, "control_plane_timeout");
  });
});

describe("control plane answers garbage", () => {
  const garbage = Buffer.concat([Buffer.alloc(32, 0xff), Buffer.from(MARKER), Buffer.alloc(16, 0xff)]);
  const html = `<!doctype html><html><body><h1>502 Bad Gateway</h1><p>${MARKER}</p></body></html>`;
  let protoServer: Awaited<ReturnType<typeof h2Server>>;
  let htmlServer: Awaited<ReturnType<typeof h2Server>>;
  let jsonServer: Awaited<ReturnType<typeof h2Server>>;
  let protoGw: Awaited<ReturnType<typeof gatewayFor>>;
  let htmlGw: Awaited<ReturnType<typeof gatewayFor>>;
  let jsonGw: Awaited<ReturnType<typeof gatewayFor>>;
  beforeAll(async () => {
    protoServer = await h2Server((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/proto" });
      stream.end(garbage);
    });
    htmlServer = await h2Server((stream) => {
      stream.respond({ ":status": 200, "content-type": "text/html; charset=utf-8" });
      stream.end(html);
    });
    // A Connect error body whose message carries the marker: the message must not pass.
    jsonServer = await h2Server((stream) => {
      stream.respond({ ":status": 500, "content-type": "application/json" });
      stream.end(JSON.stringify({ code: "internal", message: `boom ${MARKER} at /srv/plane/main.go:12` }));
    });
    [protoGw, htmlGw, jsonGw] = await Promise.all([
      gatewayFor(protoServer.url, 2000),
      gatewayFor(htmlServer.url, 2000),
      gatewayFor(jsonServer.url, 2000),
    ]);
  });
  afterAll(async () => {
    await Promise.all([protoGw?.close(), htmlGw?.close(), jsonGw?.close()]);
    await Promise.all([protoServer?.close(), htmlServer?.close(), jsonServer?.close()]);
  });

  it("undecodable protobuf → 502", async () => {
    const res = await protoGw.call("/me");
    expect(res.status).toBe(502);
    expectCleanError(res, 502, res.body.code);
    expect(res.body.code).toMatch(/^control_plane_/);
  });

  it("an HTML page → 502", async () => {
    const res = await htmlGw.call("/me");
    expect(res.status).toBe(502);
    expectCleanError(res, 502, res.body.code);
    expect(res.body.code).toMatch(/^control_plane_/);
  });

  it("an upstream Connect error message is not passed through", async () => {
    const res = await jsonGw.call("/me");
    expectCleanError(res, 502, "control_plane_error");
    expect(res.text).not.toContain("/srv/plane");
  });

  it("garbage on the task and run endpoints → 502 as well", async () => {
    const answers = await Promise.all([
      protoGw.call("/task/development/flytesnacks/echo"),
      protoGw.call("/run/r1"),
      htmlGw.call("/task/development/flytesnacks/echo"),
      htmlGw.call("/run/r1/io"),
      htmlGw.call("/run-task/development/flytesnacks/echo", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
    ]);
    for (const res of answers) {
      expect(res.status).toBe(502);
      expectCleanError(res, 502, res.body.code);
    }
  });

  it("the gateway logs no stack of a garbage answer as an unexpected 500", () => {
    const lines = [...protoGw.logs, ...htmlGw.logs, ...jsonGw.logs];
    expect(lines.some((l) => l.includes('"unexpected error"'))).toBe(false);
  });
});

describe("bad request bodies", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  const runTask = (body: NonNullable<RequestInit["body"]>, contentType = "application/json") =>
    stack.fetch("/run-task/development/flytesnacks/echo", { method: "POST", headers: { "content-type": contentType }, body });

  async function answer(resP: Promise<Response>): Promise<Answer> {
    const res = await resP;
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: res.status, body, text, headers: res.headers, ms: 0 };
  }

  it.each(['{"x": 1', "{x: 1}", "not json", '{"x": 1}}', "\u0000"])("invalid JSON %j → 400 invalid_json", async (body) => {
    expectCleanError(await answer(runTask(body)), 400, "invalid_json");
  });

  it("an empty body with a JSON content type is no body: the task's inputs are checked (422 naming x)", async () => {
    const res = await answer(runTask(""));
    expectCleanError(res, 422, "invalid_inputs");
    expect(res.body.detail).toBe("invalid inputs: x: required input is missing");
  });

  it("a body over 1 MiB → 413 payload_too_large", async () => {
    const big = JSON.stringify({ x: 1, msg: "a".repeat(1024 * 1024 + 10) });
    expectCleanError(await answer(runTask(big)), 413, "payload_too_large");
  });

  it("a body just under 1 MiB is accepted past the size check", async () => {
    const body = JSON.stringify({ x: 1, msg: "a".repeat(1024 * 1024 - 100) });
    const res = await answer(runTask(body));
    expect(res.status).toBe(200);
  });

  it("a JSON array → 400 invalid_request", async () => {
    expectCleanError(await answer(runTask("[1, 2, 3]")), 400, "invalid_request");
    expectCleanError(await answer(runTask("[]")), 400, "invalid_request");
  });

  it.each(["5", '"text"', "true", "null"])("a non-object JSON %s → 400", async (body) => {
    expectCleanError(await answer(runTask(body)), 400, "invalid_request");
  });

  it("an unsupported content type → 415", async () => {
    expectCleanError(await answer(runTask("x=1", "application/x-www-form-urlencoded")), 415, "unsupported_media_type");
  });

  it("a valid object body still works", async () => {
    const res = await answer(runTask('{"x": 4}'));
    expect(res.status).toBe(200);
  });
});

describe("malformed URLs", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  const answer = async (path: string): Promise<Answer> => {
    const res = await stack.fetch(path);
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text), text, headers: res.headers, ms: 0 };
  };

  it.each(["/run/%E0%A4%A", "/run/abc%zz/io", "/task/development/flytesnacks/ech%"])("broken percent-encoding %s → 400 bad_url in the one shape", async (path) => {
    const res = await answer(path);
    expectCleanError(res, 400, "bad_url");
    expect(res.text).not.toContain(path);
  });

  it("a path segment over the router's limit → 414 uri_too_long in the one shape", async () => {
    expectCleanError(await answer(`/task/development/flytesnacks/${"e".repeat(300)}`), 414, "uri_too_long");
  });
});

describe("a connection that broke under a call is the plane being unreachable", () => {
  const nodeError = (code: string, message: string) => Object.assign(new Error(message), { code });
  const withCause = (message: string, code: Code, cause: Error) => Object.assign(new ConnectError(message, code), { cause });

  it.each([
    ["streams torn down with the connection", new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled)],
    ["a stream refused on a dropped session", withCause("Stream closed with error code NGHTTP2_REFUSED_STREAM", Code.Internal, nodeError("ERR_HTTP2_STREAM_ERROR", "Stream closed with error code NGHTTP2_REFUSED_STREAM"))],
    ["a reset connection", withCause("read ECONNRESET", Code.Aborted, nodeError("ECONNRESET", "read ECONNRESET"))],
  ])("%s → 503 control_plane_unavailable", (_, err) => {
    const mapped = fromControlPlane(err);
    expect([mapped.statusCode, mapped.code]).toEqual([503, "control_plane_unavailable"]);
  });

  it.each([
    [Code.Canceled, 502],
    [Code.Aborted, 409],
    [Code.Internal, 502],
  ])("the same code sent by the plane itself (%s) keeps its own status", (code, status) => {
    expect(fromControlPlane(new ConnectError("the plane says so", code)).statusCode).toBe(status);
  });
});
