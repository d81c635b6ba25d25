// npm run bench: loopback-only load from this process (autocannon) against servers in
// child processes, each figure next to a baseline measured in the same run.
// Cases so far: /health (gateway vs a bare Fastify app) and get_run through the gateway.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const TOKEN = "bench-token";
const root = new URL("..", import.meta.url).pathname;
const children = [];

function child(args, env) {
  const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  children.push(proc);
  return proc;
}

async function waitFor(url) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

const load = (opts) =>
  new Promise((resolve, reject) =>
    autocannon({ connections: 50, duration: DURATION, ...opts }, (err, result) => (err ? reject(err) : resolve(result))),
  );

const summary = (r) => ({ rps: Math.round(r.requests.average), p50_ms: r.latency.p50, p99_ms: r.latency.p99, errors: r.errors + r.non2xx });

const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-bench-"));
try {
  const base = 31000 + Math.floor(Math.random() * 2000);
  child(["dist/cli.js", "serve"], {
    PORT: String(base),
    FLYTE_LOCAL_ADDR: `127.0.0.1:${base + 1}`,
    FLYTE_LOCAL_DB: join(dir, "flyte.db"),
    FLYTE_LOCAL_API_KEYS: `${TOKEN}=bench`,
    LOG_LEVEL: "warn",
    // Every limit hook runs, none trips: the load would exceed the default limits.
    FLYTE_WEBHOOK_RATE_LIMIT_PER_IP: "1000000000",
    FLYTE_WEBHOOK_RATE_LIMIT_PER_CREDENTIAL: "1000000000",
  });
  const bare = join(dir, "bare.mjs");
  writeFileSync(
    bare,
    `import { fastify } from ${JSON.stringify(join(root, "node_modules/fastify/fastify.js"))};
     const app = fastify(); app.get("/health", async () => ({ status: "healthy" }));
     await app.listen({ host: "127.0.0.1", port: ${base + 2} });`,
  );
  child([bare], {});
  const gateway = `http://127.0.0.1:${base}`;
  await Promise.all([waitFor(`${gateway}/health`), waitFor(`http://127.0.0.1:${base + 2}/health`)]);

  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  const created = await (await fetch(`${gateway}/run-task/development/flytesnacks/echo`, { method: "POST", headers, body: '{"x":1}' })).json();

  const results = {};
  results.health_bare = summary(await load({ url: `http://127.0.0.1:${base + 2}/health` }));
  results.health_gateway = summary(await load({ url: `${gateway}/health` }));
  results.get_run_gateway = summary(await load({ url: `${gateway}/run/${created.name}`, headers }));

  const ratio = (results.health_gateway.rps / results.health_bare.rps).toFixed(2);
  const rows = [
    ["case", "req/s", "p50 ms", "p99 ms", "errors", "vs baseline"],
    ["/health bare Fastify (baseline)", ...Object.values(results.health_bare), "1.00x"],
    ["/health gateway", ...Object.values(results.health_gateway), `${ratio}x throughput`],
    ["get_run gateway (no baseline yet)", ...Object.values(results.get_run_gateway), "-"],
  ];
  const table = rows.map((r) => `| ${r.join(" | ")} |`);
  table.splice(1, 0, `|${" --- |".repeat(rows[0].length)}`);
  const markdown = `${table.join("\n")}\n\n${DURATION} s per case, 50 connections, loopback.\n`;
  process.stdout.write(`\n${markdown}`);
  writeFileSync(join(root, "bench/results.json"), `${JSON.stringify({ duration_s: DURATION, results, health_ratio: Number(ratio) }, null, 2)}\n`);
  writeFileSync(join(root, "bench/results.md"), markdown);
} finally {
  for (const proc of children) proc.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
