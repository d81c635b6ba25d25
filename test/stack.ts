// Test harness: the real embedded control plane and the real gateway on ephemeral
// loopback ports, spoken to over HTTP. Nothing is mocked.
import { Agent, fetch as undiciFetch } from "undici";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createFlyteWebhookApp } from "../src/app.ts";
import type { App } from "../src/gateway.ts";
import { parseCatalog, parseCatalogApps, parseCatalogTriggers } from "../src/local/catalog.ts";
import { type LocalControlPlane, type LocalControlPlaneOptions, startLocalControlPlane } from "../src/local/server.ts";
import type { FlyteWebhookOptions } from "../src/options.ts";

export const TOKEN = "test-token-4f1c2a9e7b";
export const OTHER_TOKEN = "other-token-77aa";

export const TEST_CATALOG = {
  tasks: [
    {
      name: "echo",
      type: "echo",
      inputs: { x: "int", msg: "str" },
      outputs: { x: "int", msg: "str" },
      defaults: { msg: "hi" },
    },
    { name: "slow", type: "echo", inputs: { x: "int" }, outputs: { x: "int" }, config: { delay_ms: 60_000 } },
    { name: "wait-1s", type: "echo", inputs: { x: "int" }, outputs: { x: "int" }, config: { delay_ms: 1000 } },
    {
      name: "typed",
      type: "echo",
      inputs: {
        i: "int",
        f: "float",
        s: "str",
        b: "bool",
        when: "datetime",
        took: "duration",
        nums: "list[int]",
        scores: "dict[str, float]",
        obj: "json",
      },
      outputs: {},
    },
    { name: "echo", project: "other", type: "echo", inputs: { x: "int" }, outputs: { x: "int" } },
    { name: "echo", domain: "production", type: "echo", inputs: { x: "int" }, outputs: { x: "int" } },
    { name: "versioned", version: "v1", type: "echo", inputs: { a: "int" }, outputs: { a: "int" } },
    { name: "versioned", version: "v2", type: "echo", inputs: { b: "int" }, outputs: { b: "int" } },
  ],
};

const CATALOG_DEFAULTS = { org: "", project: "flytesnacks", domain: "development" };

export interface StackOptions {
  gateway?: Partial<Omit<FlyteWebhookOptions, "controlPlane">> & { deadlineMs?: number };
  catalog?: unknown;
  /** Reuse a data directory (restart tests). */
  dir?: string;
  /** Extra options for the embedded control plane (secrets, connectors, ...). */
  plane?: Partial<Omit<LocalControlPlaneOptions, "addr" | "dbPath" | "catalog">>;
}

export interface Stack {
  base: string;
  /** The gateway itself, for app.inject() where many requests must be fast. */
  app: App;
  plane: LocalControlPlane;
  dir: string;
  /** Every log line the gateway wrote. */
  logs: string[];
  fetch(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<Response>;
  /** fetch + JSON body. */
  call(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<{ status: number; body: any; headers: Headers }>;
  /** Polls get_run until `done` (bounded). */
  waitDone(name: string, timeoutMs?: number): Promise<any>;
  close(options?: { keepDir?: boolean }): Promise<void>;
  closeGateway(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "flyte-webhook-test-"));
  const plane = await startLocalControlPlane({
    addr: "127.0.0.1:0",
    dbPath: join(dir, "flyte.db"),
    apiKeys: [
      { token: TOKEN, subject: "tester" },
      { token: OTHER_TOKEN, subject: "other" },
    ],
    catalog: parseCatalog(options.catalog ?? TEST_CATALOG, CATALOG_DEFAULTS),
    apps: parseCatalogApps(options.catalog ?? TEST_CATALOG, CATALOG_DEFAULTS),
    triggers: parseCatalogTriggers(options.catalog ?? TEST_CATALOG, CATALOG_DEFAULTS),
    ...options.plane,
  });
  return attachGateway(plane, dir, options);
}

export async function attachGateway(plane: LocalControlPlane, dir: string, options: StackOptions = {}): Promise<Stack> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const { deadlineMs, ...gatewayOptions } = options.gateway ?? {};
  const app = createFlyteWebhookApp({
    ...gatewayOptions,
    logger: { level: "trace", stream: sink },
    controlPlane: { endpoint: plane.url, deadlineMs: deadlineMs ?? 5000 },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

  const doFetch: Stack["fetch"] = (path, init = {}) => {
    const { token = TOKEN, json, headers, ...rest } = init;
    const h = new Headers(headers);
    if (token !== null && !h.has("authorization")) h.set("authorization", `Bearer ${token}`);
    if (json !== undefined) h.set("content-type", "application/json");
    return fetch(`${base}${path}`, { ...rest, headers: h, body: json !== undefined ? JSON.stringify(json) : rest.body });
  };
  const call: Stack["call"] = async (path, init) => {
    const res = await doFetch(path, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body, headers: res.headers };
  };
  let gatewayClosed = false;
  const closeGateway = async () => {
    if (gatewayClosed) return;
    gatewayClosed = true;
    await app.close();
  };
  return {
    base,
    app,
    plane,
    dir,
    logs,
    fetch: doFetch,
    call,
    async waitDone(name, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { status, body } = await call(`/run/${name}`);
        if (status !== 200) throw new Error(`get_run ${name}: ${status} ${JSON.stringify(body)}`);
        if (body.done) return body;
        if (Date.now() > deadline) throw new Error(`run ${name} not done after ${timeoutMs} ms: ${JSON.stringify(body)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    closeGateway,
    async close({ keepDir = false } = {}) {
      await closeGateway();
      await plane.close();
      if (!keepDir && !options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A loopback port with nothing listening on it. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits until `check()` holds or `timeoutMs` passes; the caller asserts afterwards. */
export async function settle(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Requests on a client of their own, for tests that abort them: an aborted fetch can leave
 * an unused socket in the shared pool, and closing the gateway would wait for it.
 */
export function ownClient(base: string) {
  const agent = new Agent();
  return {
    fetch: (path: string, init: { method?: string; json?: unknown; signal?: AbortSignal } = {}) =>
      undiciFetch(`${base}${path}`, {
        method: init.method ?? "GET",
        headers: { authorization: `Bearer ${TOKEN}`, ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
        dispatcher: agent,
      }) as unknown as Promise<Response>,
    close: () => agent.destroy(),
  };
}
