// Graceful shutdown of the built CLI: SIGTERM while a request is in flight lets it finish,
// refuses new connections, closes the embedded plane cleanly (the run survives a restart),
// and a request that never finishes is cut at the bound.
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const TOKEN = "shutdown-token-5b1e";
const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-shutdown-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

async function serve(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, "serve"], {
    env: { PATH: process.env.PATH ?? "", PORT: "0", FLYTE_LOCAL_ADDR: "127.0.0.1:0", FLYTE_LOCAL_DB: join(dir, "flyte.db"), FLYTE_LOCAL_API_KEYS: `${TOKEN}=ops`, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  let match: RegExpExecArray | null;
  while (!(match = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(out))) {
    if (Date.now() > deadline) throw new Error(`gateway did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { child, exited, base: match[1]!, out: () => out };
}

/** A run_task request whose body is sent in two halves, so it is in flight in between. */
function slowRunTask(base: string) {
  const body = JSON.stringify({ x: 7, msg: "in flight" });
  const req = request(`${base}/run-task/development/flytesnacks/echo`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
  });
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on("error", reject);
  });
  req.write(body.slice(0, 5));
  return { finish: () => req.end(body.slice(5)), answer };
}

describe("SIGTERM", () => {
  it("finishes the request in flight, takes no new ones, and loses no run", async () => {
    const gw = await serve();
    const inflight = slowRunTask(gw.base);
    await new Promise((r) => setTimeout(r, 100));
    gw.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    // Stopped accepting: a new connection is refused (or answered 503 while closing).
    const fresh = await fetch(`${gw.base}/health`).then((res) => res.status, (err: Error) => err.cause ?? err);
    expect(fresh === 503 || (fresh as NodeJS.ErrnoException).code === "ECONNREFUSED").toBe(true);
    inflight.finish();
    const answer = await inflight.answer;
    expect(answer.status).toBe(200);
    expect(await gw.exited).toBe(0);
    expect(gw.out()).toContain('"msg":"shutting down"');

    // The run was committed before the answer: after a restart it is there and completes.
    const again = await serve();
    const headers = { authorization: `Bearer ${TOKEN}` };
    let status: any;
    for (let i = 0; i < 200; i++) {
      status = await (await fetch(`${again.base}/run/${answer.body.name}`, { headers })).json();
      if (status.done) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toMatchObject({ name: answer.body.name, phase: "succeeded" });
    expect(await (await fetch(`${again.base}/run/${answer.body.name}/io`, { headers })).json()).toMatchObject({ outputs: { x: 7, msg: "in flight" } });
    again.child.kill("SIGINT");
    expect(await again.exited).toBe(0);
  });

  it("cuts a request that does not finish within the bound, and exits 1", async () => {
    const gw = await serve({ FLYTE_WEBHOOK_SHUTDOWN_TIMEOUT_MS: "300" });
    const stuck = slowRunTask(gw.base);
    stuck.answer.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const sent = Date.now();
    gw.child.kill("SIGTERM");
    expect(await gw.exited).toBe(1);
    expect(Date.now() - sent).toBeLessThan(3000);
    expect(gw.out()).toContain("did not close within the shutdown bound");
    await expect(stuck.answer).rejects.toThrow();
  });
});
