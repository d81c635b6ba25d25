// What the benchmark and the soak share: child processes of the servers under test and
// of the load generator (bench/load.ts, bundled on first use), and /proc readings of them.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { build } from "esbuild";

export const TOKEN = "bench-token";
export const root = new URL("..", import.meta.url).pathname;
export const children = new Set();

export function child(args, env = {}, stdio = ["ignore", "ignore", "inherit"]) {
  const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio });
  children.add(proc);
  proc.on("exit", () => children.delete(proc));
  return proc;
}

export function stop(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", resolve);
    proc.kill("SIGKILL");
  });
}

/** `flyte-webhook serve` with the embedded plane, its database in `dir`, logging warnings only. */
export function startServe(dir, port, planePort, { nodeArgs = [], stdio } = {}) {
  const proc = child([...nodeArgs, "dist/cli.js", "serve"], {
    PORT: String(port),
    FLYTE_LOCAL_ADDR: `127.0.0.1:${planePort}`,
    FLYTE_LOCAL_DB: join(dir, "flyte.db"),
    FLYTE_LOCAL_API_KEYS: `${TOKEN}=bench`,
    LOG_LEVEL: "warn",
    // Every rate-limit hook runs, none trips: the load is far above the default limits.
    FLYTE_WEBHOOK_RATE_LIMIT_PER_IP: "1000000000",
    FLYTE_WEBHOOK_RATE_LIMIT_PER_CREDENTIAL: "1000000000",
  }, stdio);
  return { proc, url: `http://127.0.0.1:${port}`, plane: `http://127.0.0.1:${planePort}` };
}

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/** CPU time (user + system) a process has used, in microseconds, from /proc (Linux). */
export function cpuUs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * Runs a load against the server process `pid`, sampling its RSS every 200 ms; answers the
 * load's result with the server's CPU time per request added, and the RSS peak. CPU per
 * request is the figure that stays meaningful on a machine shared with other work.
 */
export async function measured(pid, work) {
  let peak = rssMb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 200);
  const cpu0 = cpuUs(pid);
  try {
    const result = await work();
    const cpu = cpuUs(pid) - cpu0;
    return { result: { ...result, server_cpu_us_per_req: result.requests ? Math.round(cpu / result.requests) : null }, peak };
  } finally {
    clearInterval(timer);
  }
}

/** Milliseconds from `t0` to the first 200 of `url`, polling every 5 ms. */
export async function firstOk(url, t0 = performance.now()) {
  for (let i = 0; i < 4000; i++) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return performance.now() - t0;
    } catch {}
    await sleep(5);
  }
  throw new Error(`${url} did not come up`);
}

const LOADER = join(root, "dist/bench/load.js");

/** Runs one job of bench/load.ts in its own process and answers its JSON result. */
export function load(job) {
  return new Promise((resolve, reject) => {
    const proc = child([LOADER, JSON.stringify({ token: TOKEN, ...job })], {}, ["ignore", "pipe", "inherit"]);
    let out = "";
    proc.stdout.on("data", (d) => (out += d));
    // "close", not "exit": the result may still be in the pipe when the process exits.
    proc.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load ${job.mode} exited ${code}`))));
  });
}

export async function buildLoader() {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => name !== "@flyteorg/flyteidl2");
  mkdirSync(join(root, "dist/bench"), { recursive: true });
  await build({
    entryPoints: [join(root, "bench/load.ts")],
    outfile: LOADER,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node24",
    external: [...external, ...external.map((name) => `${name}/*`)],
    logLevel: "warning",
  });
}

