// Load generator of the benchmarks and the soak, run as its own process so the load never
// shares an event loop with the server it measures. One JSON job on argv, one JSON result
// on stdout. Every mode measures the same way: N concurrent loops for a fixed time, each
// request timed with performance.now(), percentiles from the sorted samples.
//
//   http      GET a URL over N keep-alive HTTP/1.1 connections (undici)
//   connect   RunService.GetRunDetails straight to a control plane over one HTTP/2
//             session, with the transport settings the gateway's own client uses
//   run-task  POST run_task, then poll get_run until the run is done: one sample per run
//   run-wait  POST run_task with wait=true: the answer comes when the run is done
//   prefill   create `count` runs through the gateway as fast as it takes them
//   mixed     the soak's traffic: a weighted mix of every endpoint at a fixed rate
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Pool } from "undici";
import { RunService } from "../src/controlplane/idl.ts";

interface Job {
  mode: "http" | "connect" | "run-task" | "run-wait" | "prefill" | "mixed";
  seconds?: number;
  connections?: number;
  url?: string;
  /** Gateway base URL (run-task, prefill, mixed). */
  gateway?: string;
  /** Control plane base URL (connect). */
  plane?: string;
  token: string;
  run?: string;
  task?: string;
  count?: number;
  /** Requests per second (mixed). */
  rate?: number;
}

interface Result {
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** First few unexpected answers, for the report. */
  samples?: string[];
  counts?: Record<string, number>;
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const auth = { authorization: `Bearer ${job.token}` };

function summarize(latencies: number[], errors: number, seconds: number, extra: Partial<Result> = {}): Result {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => (sorted.length ? Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2)) : 0);
  return { requests: sorted.length, rps: Math.round(sorted.length / seconds), p50_ms: at(0.5), p99_ms: at(0.99), errors, ...extra };
}

/** Runs `loops` copies of `step` until the time is up; `step` answers its latency or throws. */
async function timed(loops: number, seconds: number, step: () => Promise<number | undefined>) {
  const latencies: number[] = [];
  const samples: string[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < end) {
        try {
          const ms = await step();
          if (ms !== undefined) latencies.push(ms);
        } catch (err) {
          errors++;
          if (samples.length < 5) samples.push(String((err as Error).message ?? err));
        }
      }
    }),
  );
  return summarize(latencies, errors, (performance.now() - started) / 1000, samples.length ? { samples } : {});
}

function pool(base: string, connections: number) {
  return new Pool(base, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

async function request(p: Pool, method: "GET" | "POST", path: string, body?: unknown) {
  const res = await p.request({
    method,
    path,
    headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

async function getJson(p: Pool, method: "GET" | "POST", path: string, body?: unknown, expect = 200) {
  const { status, text } = await request(p, method, path, body);
  if (status !== expect) throw new Error(`${method} ${path} → ${status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/** POST run_task and poll get_run until done; answers the run and its end-to-end time. */
async function runToEnd(p: Pool, task: string, inputs: unknown) {
  const start = performance.now();
  const { name } = await getJson(p, "POST", `/run-task/development/flytesnacks/${task}`, inputs);
  for (;;) {
    const run = await getJson(p, "GET", `/run/${name}`);
    if (run.done) {
      if (run.phase !== "succeeded") throw new Error(`run ${name} ended ${run.phase}`);
      return { name: name as string, ms: performance.now() - start };
    }
    await sleep(1);
  }
}

async function main(): Promise<Result> {
  const connections = job.connections ?? 50;
  const seconds = job.seconds ?? 5;
  switch (job.mode) {
    case "http": {
      const url = new URL(job.url!);
      const p = pool(url.origin, connections);
      const path = url.pathname + url.search;
      try {
        return await timed(connections, seconds, async () => {
          const start = performance.now();
          const { status, text } = await request(p, "GET", path);
          if (status !== 200) throw new Error(`GET ${path} → ${status} ${text.slice(0, 200)}`);
          return performance.now() - start;
        });
      } finally {
        await p.close();
      }
    }
    case "connect": {
      const session = new Http2SessionManager(job.plane!, { idleConnectionTimeoutMs: 60_000 });
      const transport = createConnectTransport({ baseUrl: job.plane!, httpVersion: "2", sessionManager: session, useBinaryFormat: true, defaultTimeoutMs: 30_000 });
      const runs = createClient(RunService, transport);
      const runId = { org: "", project: "flytesnacks", domain: "development", name: job.run! };
      try {
        return await timed(connections, seconds, async () => {
          const start = performance.now();
          const { details } = await runs.getRunDetails({ runId }, { headers: auth, timeoutMs: 30_000 });
          if (!details?.action?.status?.phase) throw new Error("GetRunDetails answered without a phase");
          return performance.now() - start;
        });
      } finally {
        session.abort();
      }
    }
    case "run-task": {
      const p = pool(job.gateway!, connections);
      try {
        return await timed(connections, seconds, async () => (await runToEnd(p, job.task ?? "echo", { x: 1 })).ms);
      } finally {
        await p.close();
      }
    }
    case "run-wait": {
      const p = pool(job.gateway!, connections);
      try {
        return await timed(connections, seconds, async () => {
          const start = performance.now();
          const run = await getJson(p, "POST", `/run-task/development/flytesnacks/${job.task ?? "echo"}?wait=true&timeout=30`, { x: 1 });
          if (run.phase !== "succeeded") throw new Error(`run ${run.name} ended ${run.phase}`);
          return performance.now() - start;
        });
      } finally {
        await p.close();
      }
    }
    case "prefill": {
      const p = pool(job.gateway!, connections);
      const count = job.count ?? 10_000;
      let next = 0;
      let last = "";
      const start = performance.now();
      const latencies: number[] = [];
      try {
        await Promise.all(
          Array.from({ length: connections }, async () => {
            while (next < count) {
              next++;
              const t = performance.now();
              last = (await getJson(p, "POST", `/run-task/development/flytesnacks/${job.task ?? "echo"}`, { x: next })).name;
              latencies.push(performance.now() - t);
            }
          }),
        );
        // History means finished runs: wait until the plane has worked off the queue.
        for (;;) {
          if ((await getJson(p, "GET", `/run/${last}`)).done) break;
          await sleep(50);
        }
        return summarize(latencies, 0, (performance.now() - start) / 1000);
      } finally {
        await p.close();
      }
    }
    case "mixed":
      return mixed(connections, seconds);
    default:
      throw new Error(`unknown mode ${String(job.mode)}`);
  }
}

/**
 * The soak's traffic at a fixed rate: runs to the end, reads of every run endpoint, task
 * metadata, identity, health, an abort of a long run, and requests that must fail
 * cleanly (unknown run, forbidden shape). An answer other than the one expected counts
 * as an error.
 */
async function mixed(connections: number, seconds: number): Promise<Result> {
  const p = pool(job.gateway!, connections);
  const rate = job.rate ?? 50;
  const counts: Record<string, number> = {};
  const latencies: number[] = [];
  const samples: string[] = [];
  let errors = 0;
  let recent: string[] = [];
  const kinds: Array<[string, number, () => Promise<void>]> = [
    ["run_to_end", 2, async () => {
      const { name } = await runToEnd(p, "echo", { x: 7, msg: "soak" });
      recent = [name, ...recent].slice(0, 50);
      const io = await getJson(p, "GET", `/run/${name}/io`);
      if (io.outputs?.x !== 7) throw new Error(`run ${name} outputs ${JSON.stringify(io.outputs)}`);
    }],
    ["get_run", 4, async () => {
      if (recent.length) await getJson(p, "GET", `/run/${recent[Math.floor(Math.random() * recent.length)]}`);
    }],
    ["get_task", 1, async () => void (await getJson(p, "GET", "/task/development/flytesnacks/echo"))],
    ["me", 1, async () => void (await getJson(p, "GET", "/me"))],
    ["health", 1, async () => void (await getJson(p, "GET", "/health"))],
    ["abort", 0.2, async () => {
      const { name } = await getJson(p, "POST", "/run-task/development/flytesnacks/sleepy-echo", { x: 1 });
      await getJson(p, "POST", `/run/${name}/abort`);
    }],
    ["unknown_run", 0.5, async () => void (await getJson(p, "GET", "/run/rdoesnotexist", undefined, 404))],
    ["invalid_inputs", 0.3, async () => void (await getJson(p, "POST", "/run-task/development/flytesnacks/echo", { x: "nope" }, 422))],
  ];
  const total = kinds.reduce((sum, [, w]) => sum + w, 0);
  const pick = () => {
    let r = Math.random() * total;
    for (const kind of kinds) if ((r -= kind[1]) <= 0) return kind;
    return kinds[0]!;
  };
  const inflight = new Set<Promise<void>>();
  const start = performance.now();
  const end = start + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    // Open-loop pacing: request i starts at start + i/rate, whatever earlier ones do.
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const [name, , fn] = pick();
    counts[name] = (counts[name] ?? 0) + 1;
    const t = performance.now();
    const op: Promise<void> = fn()
      .then(() => void latencies.push(performance.now() - t))
      .catch((err: Error) => {
        errors++;
        if (samples.length < 5) samples.push(`${name}: ${err.message}`);
      })
      .finally(() => inflight.delete(op));
    inflight.add(op);
  }
  await Promise.all(inflight);
  await p.close();
  return summarize(latencies, errors, (performance.now() - start) / 1000, { counts, ...(samples.length ? { samples } : {}) });
}

main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (err: Error) => {
    process.stderr.write(`load: ${err.message}\n`);
    process.exit(1);
  },
);
