import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { createFlyteWebhookApp } from "../src/app.ts";
import type { Connector } from "../src/connectors/types.ts";
import { echoConnector } from "../src/connectors/echo.ts";
import { OutputsSchema } from "../src/controlplane/idl.ts";
import { parseCatalog } from "../src/local/catalog.ts";
import { startLocalControlPlane } from "../src/local/server.ts";
import { startStack, TOKEN } from "./stack.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("restart of the embedded control plane", () => {
  it("keeps finished runs and resumes in-flight runs of resumable task types", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-restart-"));
    dirs.push(dir);
    const first = await startStack({ dir });
    const done = await first.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 11, msg: "kept" } });
    await first.waitDone(done.body.name);
    const inflight = await first.call("/run-task/development/flytesnacks/wait-1s", { method: "POST", json: { x: 12 } });
    expect((await first.call(`/run/${inflight.body.name}`)).body.done).toBe(false);
    await first.close({ keepDir: true });

    const second = await startStack({ dir });
    try {
      expect((await second.call(`/run/${done.body.name}`)).body).toMatchObject({ phase: "succeeded", done: true });
      expect((await second.call(`/run/${done.body.name}/io`)).body.outputs).toEqual({ x: 11, msg: "kept" });
      const resumed = await second.waitDone(inflight.body.name, 10_000);
      expect(resumed.phase).toBe("succeeded");
      expect((await second.call(`/run/${inflight.body.name}/io`)).body.outputs).toEqual({ x: 12 });
    } finally {
      await second.close();
    }
  });

  it("fails in-flight runs of task types with outside effects, saying why", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-webhook-restart-"));
    dirs.push(dir);
    // A task type whose effect happens outside the plane: it must not run twice.
    const outside: Connector = {
      type: "outside",
      resumable: false,
      async execute({ signal }) {
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
        return create(OutputsSchema);
      },
    };
    const catalog = parseCatalog({ tasks: [{ name: "effect", type: "outside", inputs: {}, outputs: {} }] }, { org: "", project: "flytesnacks", domain: "development" });
    const start = () =>
      startLocalControlPlane({
        addr: "127.0.0.1:0",
        dbPath: join(dir, "flyte.db"),
        apiKeys: [{ token: TOKEN, subject: "tester" }],
        catalog,
        connectors: [echoConnector, outside],
      });
    const plane = await start();
    const app = createFlyteWebhookApp({ logger: false, controlPlane: { endpoint: plane.url } });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const created = (await (await fetch(`${base}/run-task/development/flytesnacks/effect`, { method: "POST", headers, body: "{}" })).json()) as { name: string };
    await app.close();
    await plane.close();

    const again = await start();
    const app2 = createFlyteWebhookApp({ logger: false, controlPlane: { endpoint: again.url } });
    await app2.listen({ host: "127.0.0.1", port: 0 });
    try {
      const base2 = `http://127.0.0.1:${(app2.server.address() as { port: number }).port}`;
      const run = (await (await fetch(`${base2}/run/${created.name}`, { headers })).json()) as { error?: string };
      expect(run).toMatchObject({ phase: "failed", done: true });
      expect(run.error).toContain("not resumed because their effect may already have happened");
    } finally {
      await app2.close();
      await again.close();
    }
  });
});
