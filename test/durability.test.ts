// Durability: the embedded control plane as its own process (the built CLI's
// `control-plane` command), killed with SIGKILL while 100 runs are being created and
// executed. After it is started again on the same database, every run whose creation the
// gateway acknowledged is present and reaches a terminal phase.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { answerProblems, secretsFound } from "./answers.ts";
import { attachGateway, freePort, type Stack, TOKEN } from "./stack.ts";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const RUNS = 100;
const TERMINAL = ["succeeded", "failed", "aborted", "timed_out"];

const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-durability-"));
const children: ChildProcess[] = [];
let output = "";
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function startPlane(port: number): ChildProcess {
  const child = spawn(process.execPath, [CLI, "control-plane"], {
    env: {
      PATH: process.env.PATH ?? "",
      FLYTE_LOCAL_ADDR: `127.0.0.1:${port}`,
      FLYTE_LOCAL_DB: join(dir, "flyte.db"),
      FLYTE_LOCAL_API_KEYS: `${TOKEN}=tester`,
      FLYTE_LOCAL_CATALOG: join(dir, "catalog.json"),
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  children.push(child);
  return child;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(25);
  }
}

describe("kill -9 of the control plane during 100 concurrent runs", () => {
  it("every run the gateway acknowledged is present after the restart and reaches a terminal phase", async () => {
    expect(existsSync(CLI), "dist/cli.js is built (npm test builds it first)").toBe(true);
    // Runs that take a while, so the kill lands while many are queued or running.
    writeFileSync(
      join(dir, "catalog.json"),
      JSON.stringify({ tasks: [{ name: "echo", type: "echo", inputs: { x: "int" }, outputs: { x: "int" }, config: { delay_ms: 300 } }] }),
    );
    const port = await freePort();
    let plane = startPlane(port);
    const endpoint = { url: `http://127.0.0.1:${port}`, port, openWatches: () => 0, scheduledTriggers: () => 0, pendingCallbacks: () => 0, callbackSecretFile: undefined, close: async () => {} };
    const gw: Stack = await attachGateway(endpoint, dir, { gateway: { deadlineMs: 3000 } });
    try {
      await until("the plane answers", async () => (await gw.call("/me")).status === 200);

      // Kill it the moment a fifth of the runs are acknowledged, with the rest under way.
      let acknowledged = 0;
      const creations = Array.from({ length: RUNS }, (_, x) =>
        gw.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x } }).then((res) => {
          if (res.status === 200 && ++acknowledged === RUNS / 5) plane.kill("SIGKILL");
          return res;
        }),
      );
      const answers = await Promise.all(creations);
      await new Promise((resolve) => (plane.exitCode !== null || plane.signalCode !== null ? resolve(null) : plane.once("exit", resolve)));
      expect(plane.signalCode).toBe("SIGKILL");

      const accepted = answers.filter((a) => a.status === 200).map((a) => a.body.name as string);
      const refused = answers.filter((a) => a.status !== 200);
      expect(accepted.length).toBeGreaterThanOrEqual(RUNS / 5);
      // Creations the kill cut off fail cleanly: unreachable (or timed out), in the one shape.
      for (const a of refused) {
        expect([503, 504], JSON.stringify(a.body)).toContain(a.status);
        expect(answerProblems({ status: a.status, headers: Object.fromEntries(a.headers), text: JSON.stringify(a.body) }, { allow5xx: true })).toEqual([]);
      }

      // Down: reads answer 503 quickly.
      expect((await gw.call(`/run/${accepted[0]}`)).status).toBe(503);

      plane = startPlane(port);
      await until("the restarted plane answers", async () => (await gw.call("/me")).status === 200);
      const final = await Promise.all(accepted.map((name) => gw.waitDone(name, 20_000)));
      const phases = final.map((run) => run.phase as string);
      expect(phases.every((phase) => TERMINAL.includes(phase)), phases.join(",")).toBe(true);
      // echo is resumable: the runs cut off by the kill are run again, not failed.
      expect(phases.filter((phase) => phase === "succeeded").length).toBe(accepted.length);
      for (const name of accepted.slice(0, 10)) {
        const io = await gw.call(`/run/${name}/io`);
        expect(io.body.outputs).toEqual(io.body.inputs);
      }
      // The kill landed while runs were in flight: the restarted plane resumed some.
      expect(output).toMatch(/"resumed":[1-9]\d*/);
      expect(secretsFound([output, ...gw.logs], [TOKEN])).toEqual([]);
    } finally {
      await gw.closeGateway();
    }
  }, 60_000);
});
