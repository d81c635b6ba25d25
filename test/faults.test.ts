// Faults between the gateway and its control plane, for every served endpoint: the real
// embedded plane behind a real HTTP/2 server the test controls, which passes calls on,
// goes down, holds them past the deadline, or answers garbage. Then it comes back, and
// the same gateway (never restarted) must serve again. Last, the real plane itself is
// stopped and started again on the same port.
import { rmSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalControlPlane } from "../src/local/server.ts";
import { parseCatalog } from "../src/local/catalog.ts";
import { answerProblems } from "./answers.ts";
import { fillPath, type Operation, servedOperations } from "./openapi.ts";
import { attachGateway, type Stack, startStack, TEST_CATALOG, TOKEN } from "./stack.ts";

const DEADLINE_MS = 400;

type Mode = "pass" | "slow" | "garbage";

/**
 * An h2c server in front of a control plane. In "pass" it forwards each stream; "slow"
 * holds a stream well past the gateway's deadline first; "garbage" answers bytes that are
 * no protobuf. down() closes the port and every session; up() listens on it again.
 */
async function planeFront(target: string) {
  let mode: Mode = "pass";
  let upstream: http2.ClientHttp2Session | undefined;
  const session = () => {
    if (!upstream || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(target);
      upstream.on("error", () => {});
    }
    return upstream;
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    if (mode === "garbage") {
      stream.respond({ ":status": 200, "content-type": "application/proto" });
      stream.end(Buffer.from([0xff, 0xff, 0xff, 0x0a, 0x02, 0xff, 0xff]));
      return;
    }
    const forward = () => {
      if (stream.destroyed) return;
      const out: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(":") || k === ":method" || k === ":path") out[k] = v;
      const req = session().request(out);
      req.on("error", () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      req.on("response", (h) => {
        const back: http2.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") || k === ":status") back[k] = v;
        if (!stream.destroyed) stream.respond(back);
        req.pipe(stream);
      });
      stream.pipe(req);
      // A cancel from the gateway reaches the plane, as through any HTTP/2 proxy.
      stream.on("close", () => {
        if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      });
    };
    if (mode === "slow") setTimeout(forward, DEADLINE_MS * 4);
    else forward();
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set(next: Mode) {
      mode = next;
    },
    async down() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    up: () => listen(port),
    close() {
      upstream?.destroy();
      for (const s of sessions) s.destroy();
      server.close();
    },
  };
}

interface Probe {
  op: Operation;
  url: string;
  payload?: string;
}

/** One plausible request per served operation: real task and run names, a JSON body. */
function probes(ops: Operation[], runName: string): Probe[] {
  return ops.map((op) => {
    const isRun = op.path.startsWith("/run/");
    const url = fillPath(op, { domain: "development", project: "flytesnacks", name: isRun ? runName : "echo", run_name: runName });
    return { op, url, ...(op.hasBody ? { payload: '{"x": 1}' } : {}) };
  });
}

/** Endpoints that must ask the control plane, so a fault must show on them. */
const PLANE_BACKED = ["me", "get_task", "run_task", "get_run", "get_run_io", "abort_run"];

describe("faults of the control plane, every served endpoint", () => {
  let stack: Stack;
  let front: Awaited<ReturnType<typeof planeFront>>;
  let list: Probe[];
  const baseline = new Map<string, number>();

  const send = async (p: Probe) => {
    const start = Date.now();
    const res = await stack.app.inject({
      method: p.op.method as "GET",
      url: p.url,
      headers: { authorization: `Bearer ${TOKEN}`, ...(p.payload ? { "content-type": "application/json" } : {}) },
      ...(p.payload ? { payload: p.payload } : {}),
    });
    return { status: res.statusCode, headers: res.headers, text: res.body, ms: Date.now() - start, code: res.statusCode >= 400 ? res.json().code : undefined };
  };

  /** Under a fault: the fault's status, or the same 4xx as without it (checked before the plane). */
  async function expectFault(status: number, code: RegExp, maxMs: number) {
    const answers = await Promise.all(list.map(async (p) => ({ p, a: await send(p) })));
    for (const { p, a } of answers) {
      const name = p.op.operationId;
      expect(answerProblems(a, { allow5xx: true }), name).toEqual([]);
      expect(a.ms, name).toBeLessThan(maxMs);
      if (name === "health") expect(a.status).toBe(200);
      else if (PLANE_BACKED.includes(name) || a.status >= 500) {
        expect(a.status, `${name} ${a.text}`).toBe(status);
        expect(a.code, name).toMatch(code);
      } else expect(a.status, `${name} ${a.text}`).toBe(baseline.get(name));
    }
    return answers;
  }

  async function expectServing() {
    for (const p of list) expect((await send(p)).status, `${p.op.operationId} serves again`).toBe(baseline.get(p.op.operationId));
  }

  beforeAll(async () => {
    const plane = await startStack();
    const created = await plane.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } });
    front = await planeFront(plane.plane.url);
    await plane.closeGateway();
    stack = await attachGateway({ ...plane.plane, url: front.url }, plane.dir, { gateway: { deadlineMs: DEADLINE_MS, runWaitMaxS: 1, events: { heartbeatMs: 200, maxMs: 300 } } });
    // stack.close() closes the plane; the first stack's gateway is already closed.
    list = probes(await servedOperations(stack.app), created.body.name);
    // The abort probe must not end the run the others read: abort a run of its own.
    const abortProbe = list.find((p) => p.op.operationId === "abort_run");
    if (abortProbe) abortProbe.url = abortProbe.url.replace(created.body.name, "rnotarun");
    for (const p of list) baseline.set(p.op.operationId, (await send(p)).status);
  });
  afterAll(async () => {
    await stack?.close();
    front?.close();
  });

  it("every probe is answered without a fault first (the baseline)", () => {
    expect(list.length).toBeGreaterThanOrEqual(7);
    for (const name of PLANE_BACKED) expect(baseline.get(name), name).toBeLessThan(500);
    expect(baseline.get("get_run")).toBe(200);
    expect(baseline.get("run_task")).toBe(200);
  });

  it("plane down → 503 control_plane_unavailable quickly; back up → served again by the same gateway", async () => {
    await front.down();
    try {
      await expectFault(503, /^control_plane_unavailable$/, 2000);
    } finally {
      await front.up();
    }
    await expectServing();
  });

  it("plane slower than the deadline → 504 control_plane_timeout after about the deadline; fast again → served", async () => {
    front.set("slow");
    try {
      const answers = await expectFault(504, /^control_plane_timeout$/, DEADLINE_MS * 3 + 1000);
      const me = answers.find(({ p }) => p.op.operationId === "me")!;
      expect(me.a.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    } finally {
      front.set("pass");
    }
    // Streams held by the slow mode finish late; the gateway already gave up on them.
    await expectServing();
  });

  it("plane answering garbage → 502 control_plane_*; sane again → served", async () => {
    front.set("garbage");
    try {
      await expectFault(502, /^control_plane_/, 2000);
    } finally {
      front.set("pass");
    }
    await expectServing();
  });

  it("no unexpected error was logged through all the faults", () => {
    expect(stack.logs.filter((l) => l.includes('"unexpected error"'))).toEqual([]);
  });
});

describe("the real plane stopped and started again on the same port", () => {
  it("503 while it is down, then the same gateway serves the same runs", async () => {
    const first = await startStack({ gateway: { deadlineMs: 1000 } });
    const { port } = first.plane;
    const run = await first.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 5 } });
    await first.waitDone(run.body.name);
    await first.plane.close();
    let again: Awaited<ReturnType<typeof startLocalControlPlane>> | undefined;
    try {
      const down = await first.call(`/run/${run.body.name}`);
      expect(down.status).toBe(503);
      expect(down.body.code).toBe("control_plane_unavailable");

      again = await startLocalControlPlane({
        addr: `127.0.0.1:${port}`,
        dbPath: `${first.dir}/flyte.db`,
        apiKeys: [{ token: TOKEN, subject: "tester" }],
        catalog: parseCatalog(TEST_CATALOG, { org: "", project: "flytesnacks", domain: "development" }),
      });
      // The gateway reconnects on its own; allow it a moment, never a restart.
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await first.call(`/run/${run.body.name}`)).status;
        if (status !== 200) await sleep(100);
      }
      expect(status).toBe(200);
      expect((await first.call(`/run/${run.body.name}/io`)).body.outputs).toEqual({ x: 5, msg: "hi" });
      const next = await first.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 6 } });
      expect(next.status).toBe(200);
      expect((await first.waitDone(next.body.name)).phase).toBe("succeeded");
    } finally {
      await first.closeGateway();
      await again?.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
