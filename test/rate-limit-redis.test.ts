// Rate limits shared by replicas through Redis: a real redis-server (Debian's package,
// installed by scripts/install-system-packages.sh) on a loopback port, two gateways.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachGateway, type Stack, startStack } from "./stack.ts";

const available = spawnSync("redis-server", ["--version"]).status === 0;
if (!available) console.warn("rate-limit-redis: skipped, redis-server is not installed (scripts/install-system-packages.sh installs it)");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let redis: ChildProcess | undefined;
let redisUrl = "";
let a: Stack;
let b: Stack;
let local: Stack;

beforeAll(async () => {
  if (!available) return;
  const port = await freePort();
  redisUrl = `redis://127.0.0.1:${port}`;
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  // Commands wait in ioredis's queue until the server accepts connections.
  const client = new Redis(redisUrl, { retryStrategy: () => 50, maxRetriesPerRequest: null });
  client.on("error", () => undefined);
  const started = await Promise.race([client.ping(), new Promise((r) => setTimeout(() => r("timeout"), 5000))]);
  if (started !== "PONG") throw new Error(`redis-server did not start: ${String(started)}`);
  client.disconnect();
  const rateLimit = { perCredential: 4, redisUrl };
  a = await startStack({ gateway: { rateLimit } });
  b = await attachGateway(a.plane, a.dir, { gateway: { rateLimit } });
  local = await attachGateway(a.plane, a.dir, { gateway: { rateLimit: { perCredential: 4 } } });
});

afterAll(async () => {
  await local?.closeGateway();
  await b?.closeGateway();
  await a?.close();
  redis?.kill("SIGKILL");
});

describe.skipIf(!available)("rate limits in Redis", () => {
  it("two gateways count one credential's requests together", async () => {
    expect((await a.call("/me")).status).toBe(200);
    expect((await b.call("/me")).status).toBe(200);
    expect((await a.call("/me")).status).toBe(200);
    expect((await b.call("/me")).status).toBe(200);
    const limitedA = await a.call("/me");
    const limitedB = await b.call("/me");
    expect([limitedA.status, limitedB.status]).toEqual([429, 429]);
    expect(limitedB.body.code).toBe("rate_limited");
    expect(Number(limitedB.headers.get("retry-after"))).toBeGreaterThan(0);
    // A gateway with counters of its own has seen none of these requests.
    expect((await local.call("/me")).status).toBe(200);
  });

  it("the counters are in Redis under the gateway's namespace, keyed by a hash, never the token", async () => {
    const client = new Redis(redisUrl);
    const keys = await client.keys("flyte-webhook-rate-limit:*");
    client.disconnect();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(" ")).not.toContain("test-token");
  });

  it("when Redis goes away, requests are served without limits rather than failing", async () => {
    redis!.kill("SIGKILL");
    await new Promise((r) => redis!.once("exit", r));
    const res = await a.call("/me", { token: "other-token-77aa" });
    expect(res.status).toBe(200);
  });
});
