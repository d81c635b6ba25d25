// npm run soak: mixed traffic at a moderate, fixed rate against `flyte-webhook serve` (with
// the embedded plane) for SOAK_SECONDS (default 600; any value for a short smoke run),
// from a separate load process. Passes when no request got an answer other than the one
// expected and memory stayed flat after warm-up (the first max(60 s, 20%), while V8 sizes
// its heap to the load): between the two halves of the rest, the median RSS may grow by
// at most max(16 MB, 10%), and the live JS heap after full collections (from --trace-gc)
// by at most max(4 MB, 10%). Runs shorter than 120 s are smoke runs: they check the answers
// and report memory, but are too short to tell warm-up from a leak. Writes bench/soak.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { buildLoader, children, firstOk, load, root, rssMb, startServe, stop } from "./lib.mjs";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RATE = Number(process.env.SOAK_RATE ?? 40);
const SAMPLE_MS = Math.max(1000, Math.round((SECONDS * 1000) / 120));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-soak-"));
let ok = false;
try {
  await buildLoader();
  const port = 35000 + Math.floor(Math.random() * 2000) * 2;
  const server = startServe(dir, port, port + 1, { nodeArgs: ["--trace-gc"], stdio: ["ignore", "pipe", "inherit"] });
  const t0 = Date.now();
  // "Mark-Compact 94.5 (218.3) -> 32.0 (187.6) MB": the heap that is live after a full collection.
  const liveHeap = [];
  let pending = "";
  server.proc.stdout.on("data", (chunk) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop();
    for (const line of lines) {
      const m = /Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(line);
      if (m) liveHeap.push({ t: (Date.now() - t0) / 1000, mb: Number(m[1]) });
    }
  });
  await firstOk(`${server.url}/health`);
  // A server that goes away mid-soak is a result, not a crash of the soak.
  let exited;
  server.proc.once("exit", (code, signal) => (exited = `the server exited (code ${code}, signal ${signal}) after ${Math.round((Date.now() - t0) / 1000)} s`));
  const samples = [{ t: 0, rss_mb: rssMb(server.proc.pid) }];
  const timer = setInterval(() => {
    if (!exited) samples.push({ t: Math.round((Date.now() - t0) / 1000), rss_mb: rssMb(server.proc.pid) });
  }, SAMPLE_MS);
  const traffic = await load({ mode: "mixed", gateway: server.url, seconds: SECONDS, rate: RATE, connections: 20 });
  clearInterval(timer);
  if (exited) throw new Error(exited);
  samples.push({ t: Math.round((Date.now() - t0) / 1000), rss_mb: rssMb(server.proc.pid) });
  await stop(server.proc);

  const warm = Math.max(60, SECONDS * 0.2);
  const judged = SECONDS >= 120;
  const split = (warm + SECONDS) / 2;
  const halves = (xs, key) => [xs.filter((x) => x.t >= warm && x.t < split).map((x) => x[key]), xs.filter((x) => x.t >= split).map((x) => x[key])];
  const [rssA, rssB] = halves(samples, "rss_mb");
  const [heapA, heapB] = halves(liveHeap, "mb");
  const middle = median(rssA);
  const last = median(rssB);
  const allowed = Math.max(16, middle * 0.1);
  const heapGrowth = heapA.length && heapB.length ? Number((median(heapB) - median(heapA)).toFixed(1)) : null;
  const heapAllowed = Math.max(4, median(heapA) * 0.1);
  const leak = {
    warm_up_s: warm,
    rss_start_mb: samples[0].rss_mb,
    rss_first_half_median_mb: middle,
    rss_second_half_median_mb: last,
    growth_mb: last - middle,
    allowed_growth_mb: Math.round(allowed),
    rss_peak_mb: Math.max(...samples.map((s) => s.rss_mb)),
    live_heap_mb: liveHeap.map((h) => h.mb),
    live_heap_growth_mb: heapGrowth,
    allowed_heap_growth_mb: Math.round(heapAllowed),
  };
  const flat = leak.growth_mb <= allowed && (heapGrowth === null || heapGrowth <= heapAllowed);
  ok = traffic.errors === 0 && (!judged || flat);
  const result = { ok, memory_judged: judged, seconds: SECONDS, rate: RATE, loadavg_after: loadavg()[0], traffic, leak, samples };
  writeFileSync(join(root, "bench/soak.json"), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `soak ${SECONDS} s at ${RATE} req/s: ${traffic.requests} operations (${Object.entries(traffic.counts).map(([k, v]) => `${k} ${v}`).join(", ")}), ` +
      `${traffic.errors} errors, p50 ${traffic.p50_ms} ms, p99 ${traffic.p99_ms} ms\n` +
      (judged
        ? `after ${warm} s of warm-up: RSS median ${middle} MB then ${last} MB (growth ${leak.growth_mb} MB, allowed ${leak.allowed_growth_mb} MB); ` +
          `start ${leak.rss_start_mb} MB, peak ${leak.rss_peak_mb} MB\n` +
          `live heap after full collections: ${leak.live_heap_mb.join(", ")} MB (growth ${heapGrowth ?? "n/a: too few full collections"}, allowed ${leak.allowed_heap_growth_mb} MB)\n`
        : `smoke run (< 120 s), memory reported, not judged: RSS ${samples.filter((_, i) => i % Math.ceil(samples.length / 6) === 0).map((x) => `${x.rss_mb} MB at ${x.t} s`).join(", ")}, ` +
          `end ${samples.at(-1).rss_mb} MB; live heap after full collections ${leak.live_heap_mb.join(", ")} MB\n`) +
      (traffic.samples ? `first errors: ${traffic.samples.join(" | ")}\n` : "") +
      `${ok ? "PASS" : "FAIL"}\n`,
  );
} finally {
  await Promise.all([...children].map(stop));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
