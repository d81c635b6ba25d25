// npm run bench: loopback-only benchmarks. Servers run in child processes; load comes from
// other processes (autocannon here, bench/load.ts for what autocannon cannot speak), and
// every figure sits next to a baseline measured in the same run:
//   /health               gateway vs a bare Fastify app answering the same JSON
//   get_run               through the gateway vs GetRunDetails straight to the embedded plane
//   run_task echo         end to end until succeeded (polling get_run), then with wait=true,
//                         then again polling with 10k runs stored
//   startup               spawn to first /health 200, gateway vs bare Fastify
//   RSS                   idle and under load, gateway vs bare Fastify
// Writes bench/results.json and bench/results.md. BENCH_SECONDS sets the time per case.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { buildLoader, children, child, firstOk, load, measured, root, rssMb, startServe, stop, TOKEN } from "./lib.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const PREFILL = Number(process.env.BENCH_PREFILL ?? 10_000);
const CONNECTIONS = 50;
const RUN_LOOPS = 10;
const dirs = [mkdtempSync(join(tmpdir(), "flyte-webhook-bench-"))];
const started = Date.now();

let nextPort = 31000 + Math.floor(Math.random() * 3000) * 4;
const ports = () => ((nextPort += 4), [nextPort, nextPort + 1]);

function startGateway() {
  const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-bench-"));
  dirs.push(dir);
  const [port, planePort] = ports();
  return startServe(dir, port, planePort);
}

function startBare() {
  const [port] = ports();
  const file = join(dirs[0], "bare.mjs");
  writeFileSync(
    file,
    `import { fastify } from ${JSON.stringify(join(root, "node_modules/fastify/fastify.js"))};
     const app = fastify(); app.get("/health", async () => ({ status: "healthy" }));
     await app.listen({ host: "127.0.0.1", port: Number(process.argv[2]) });`,
  );
  return { proc: child([file, String(port)]), url: `http://127.0.0.1:${port}` };
}

/** Median start-up time of three fresh starts. */
async function startup(start) {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const server = start();
    times.push(await firstOk(`${server.url}/health`, t0));
    await stop(server.proc);
  }
  return Math.round(times.sort((a, b) => a - b)[1]);
}

// ---- load ------------------------------------------------------------------------------

const autocannonRun = (opts) =>
  new Promise((resolve, reject) =>
    autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts }, (err, r) =>
      err ? reject(err) : resolve({ requests: r.requests.total, rps: Math.round(r.requests.average), p50_ms: r.latency.p50, p99_ms: r.latency.p99, errors: r.errors + r.non2xx }),
    ),
  );

// ---- the run ---------------------------------------------------------------------------

const ratio = (a, b) => (b ? Number((a / b).toFixed(2)) : null);
const plus = (a, b) => Number((a - b).toFixed(2));

async function main() {
  await buildLoader();
  const results = { machine: { cpus: cpus().length, loadavg_before: loadavg().map((l) => Number(l.toFixed(2))) }, seconds_per_case: SECONDS };

  results.startup_ms = { bare: await startup(startBare), gateway: await startup(startGateway) };

  const gw = startGateway();
  const bare = startBare();
  await Promise.all([firstOk(`${gw.url}/health`), firstOk(`${bare.url}/health`)]);
  await sleep(1000);
  results.rss_mb = { bare_idle: rssMb(bare.proc.pid), gateway_idle: rssMb(gw.proc.pid) };

  results.health = {
    bare: (await measured(bare.proc.pid, () => autocannonRun({ url: `${bare.url}/health` }))).result,
    gateway: (await measured(gw.proc.pid, () => autocannonRun({ url: `${gw.url}/health` }))).result,
  };
  await stop(bare.proc);

  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  const created = await (await fetch(`${gw.url}/run-task/development/flytesnacks/echo`, { method: "POST", headers, body: '{"x":1}' })).json();
  const direct = await measured(gw.proc.pid, () => load({ mode: "connect", plane: gw.plane, run: created.name, seconds: SECONDS, connections: CONNECTIONS }));
  const viaGateway = await measured(gw.proc.pid, () => load({ mode: "http", url: `${gw.url}/run/${created.name}`, seconds: SECONDS, connections: CONNECTIONS }));
  results.get_run = { direct_connect: direct.result, gateway: viaGateway.result };

  const fresh = await measured(gw.proc.pid, () => load({ mode: "run-task", gateway: gw.url, seconds: SECONDS, connections: RUN_LOOPS }));
  const waited = await measured(gw.proc.pid, () => load({ mode: "run-wait", gateway: gw.url, seconds: SECONDS, connections: RUN_LOOPS }));
  const prefill = await load({ mode: "prefill", gateway: gw.url, count: PREFILL, connections: CONNECTIONS });
  const stored = await measured(gw.proc.pid, () => load({ mode: "run-task", gateway: gw.url, seconds: SECONDS, connections: RUN_LOOPS }));
  results.run_task = { fresh: fresh.result, wait: waited.result, prefill: { runs: PREFILL, ...prefill }, with_history: stored.result };
  results.rss_mb.gateway_under_load = Math.max(viaGateway.peak, fresh.peak, stored.peak);
  results.rss_mb.gateway_after = rssMb(gw.proc.pid);
  await stop(gw.proc);

  results.ratios = {
    health_throughput: ratio(results.health.gateway.rps, results.health.bare.rps),
    get_run_throughput: ratio(results.get_run.gateway.rps, results.get_run.direct_connect.rps),
    get_run_added_p50_ms: plus(results.get_run.gateway.p50_ms, results.get_run.direct_connect.p50_ms),
    get_run_added_p99_ms: plus(results.get_run.gateway.p99_ms, results.get_run.direct_connect.p99_ms),
    get_run_cpu: ratio(results.get_run.gateway.server_cpu_us_per_req, results.get_run.direct_connect.server_cpu_us_per_req),
    run_wait_throughput: ratio(results.run_task.wait.rps, results.run_task.fresh.rps),
    run_wait_p50: ratio(results.run_task.wait.p50_ms, results.run_task.fresh.p50_ms),
    run_wait_cpu: ratio(results.run_task.wait.server_cpu_us_per_req, results.run_task.fresh.server_cpu_us_per_req),
    run_task_throughput_with_history: ratio(results.run_task.with_history.rps, results.run_task.fresh.rps),
    run_task_p50_with_history: ratio(results.run_task.with_history.p50_ms, results.run_task.fresh.p50_ms),
    startup: ratio(results.startup_ms.gateway, results.startup_ms.bare),
    idle_rss: ratio(results.rss_mb.gateway_idle, results.rss_mb.bare_idle),
  };
  results.machine.loadavg_after = loadavg().map((l) => Number(l.toFixed(2)));
  results.total_seconds = Math.round((Date.now() - started) / 1000);
  return results;
}

function markdown(r) {
  const row = (name, s, vs) => `| ${name} | ${s.rps} | ${s.p50_ms} | ${s.p99_ms} | ${s.errors} | ${s.server_cpu_us_per_req} | ${vs} |`;
  const signed = (n) => (n >= 0 ? `+${n}` : `${n}`);
  const q = r.ratios;
  const target = (ok) => (ok ? "met" : "**missed**");
  return [
    "| case | req/s (runs/s) | p50 ms | p99 ms | errors | server CPU µs/req | vs baseline |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    row("/health bare Fastify (baseline)", r.health.bare, "1.00x"),
    row("/health gateway", r.health.gateway, `${q.health_throughput}x throughput (target ≥ 0.9: ${target(q.health_throughput >= 0.9)})`),
    row("get_run: GetRunDetails straight to the plane, Connect client (baseline)", r.get_run.direct_connect, "1.00x"),
    row(
      "get_run through the gateway",
      r.get_run.gateway,
      `${q.get_run_throughput}x throughput (target ≥ 0.7: ${target(q.get_run_throughput >= 0.7)}), ` +
        `${signed(q.get_run_added_p50_ms)} ms p50 (target ≤ 1: ${target(q.get_run_added_p50_ms <= 1)}), ` +
        `${signed(q.get_run_added_p99_ms)} ms p99 (target ≤ 3: ${target(q.get_run_added_p99_ms <= 3)}), ` +
        `${q.get_run_cpu}x server CPU per request`,
    ),
    row("run_task echo until succeeded, empty store (baseline)", r.run_task.fresh, "1.00x"),
    row(
      "run_task echo with wait=true (one request per run, the plane's watch stream)",
      r.run_task.wait,
      `${q.run_wait_throughput}x runs/s, ${q.run_wait_p50}x p50, ${q.run_wait_cpu}x server CPU per run`,
    ),
    row(
      `run_task echo until succeeded, ${r.run_task.prefill.runs} runs stored`,
      r.run_task.with_history,
      `${q.run_task_throughput_with_history}x runs/s, ${q.run_task_p50_with_history}x p50`,
    ),
    "",
    "| measure | bare Fastify (baseline) | gateway | ratio | target |",
    "| --- | --- | --- | --- | --- |",
    `| start-up to first /health 200 (ms, median of 3) | ${r.startup_ms.bare} | ${r.startup_ms.gateway} | ${q.startup}x | < 1000 ms: ${target(r.startup_ms.gateway < 1000)} |`,
    `| RSS idle (MB) | ${r.rss_mb.bare_idle} | ${r.rss_mb.gateway_idle} | ${q.idle_rss}x | < 120 MB: ${target(r.rss_mb.gateway_idle < 120)} |`,
    `| RSS under load, peak (MB) | - | ${r.rss_mb.gateway_under_load} | - | - |`,
    "",
    `${r.seconds_per_case} s per case; ${CONNECTIONS} connections (HTTP/1.1 keep-alive; the Connect baseline multiplexes ${CONNECTIONS} streams ` +
      `over one HTTP/2 session as the gateway's client does); run_task with ${RUN_LOOPS} loops, each polling get_run every 1 ms. ` +
      `The gateway process also hosts the embedded control plane, so its CPU per get_run ` +
      `counts both the gateway and the plane; the baseline's counts the plane alone. Loopback, ${r.machine.cpus} CPUs, ` +
      `load average ${r.machine.loadavg_before[0]} before / ${r.machine.loadavg_after[0]} after; ${r.total_seconds} s in all.`,
    "",
  ].join("\n");
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  try {
    const results = await main();
    const md = markdown(results);
    process.stdout.write(`\n${md}`);
    writeFileSync(join(root, "bench/results.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(root, "bench/results.md"), md);
  } finally {
    await Promise.all([...children].map(stop));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
