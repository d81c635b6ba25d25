// Hugging Face prefetch against a fake hub on loopback: real downloads compared byte for
// byte, skipping and forcing, tokens from secrets (and never in outputs or logs), abort in
// the middle of a streamed file, progress in the run's details, and the prefetch run
// endpoints refusing runs of other tasks.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runUrl } from "../src/controlplane/console.ts";
import { secretsFrom } from "../src/connectors/secrets.ts";
import { type FakeHub, GOOD_TOKEN, modelRepo, startFakeHub } from "./fake-hub.ts";
import { type Stack, startStack } from "./stack.ts";

let hub: FakeHub;
let stack: Stack;
let out: string;
const BAD_TOKEN = "hf_bad_token_0987654321";

beforeAll(async () => {
  hub = await startFakeHub({
    "acme/tiny-model": modelRepo(),
    "acme/gated-model": { gated: true, files: { "config.json": Buffer.from("{}"), "weights.bin": Buffer.alloc(2 * 1024 * 1024, 7) } },
    "acme/hanging": { hang: true, files: {} },
    "acme/hostile": { files: { "big.bin": Buffer.alloc(1024 * 1024) }, redirectTo: "http://169.254.169.254/latest/meta-data/" },
  });
  out = mkdtempSync(join(tmpdir(), "flyte-webhook-prefetch-"));
  stack = await startStack({
    plane: {
      secrets: secretsFrom({ env: { FLYTE_SECRET_HF_TOKEN: GOOD_TOKEN, FLYTE_SECRET_WRONG_TOKEN: BAD_TOKEN } }),
      hfPrefetch: { endpoint: hub.url, requestTimeoutMs: 1000, idleTimeoutMs: 2000, progressIntervalMs: 0, roots: [out] },
    },
  });
});
afterAll(async () => {
  await stack.close();
  await hub.close();
  rmSync(out, { recursive: true, force: true });
});

const prefetch = async (query: string) => {
  const res = await stack.call(`/prefetch/hf-model?${query}`, { method: "POST" });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { name: string; url: string; phase: string; done: boolean };
};

/** Polls get_prefetch_hf_model until the run is done. */
async function finished(name: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await stack.call(`/prefetch/hf-model/${name}`);
    expect(status).toBe(200);
    if (body.done) return body;
    if (Date.now() > deadline) throw new Error(`prefetch ${name} not done: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const io = async (name: string) => (await stack.call(`/prefetch/hf-model/${name}/io`)).body;
const resolves = () => hub.requests.filter((r) => r.path.includes("/resolve/")).length;

describe("prefetch_hf_model", () => {
  const dir = () => join(out, "tiny");

  it("downloads every file of the repository, byte for byte, and lists them in the outputs", async () => {
    const started = await prefetch(`repo=acme/tiny-model&raw_data_path=${encodeURIComponent(dir())}`);
    expect(started).toEqual({
      name: expect.stringMatching(/^r[a-z0-9]{19}$/),
      url: runUrl(new URL(stack.plane.url).origin, "development", "flytesnacks", started.name),
      phase: expect.stringMatching(/^(queued|running)$/),
      done: false,
    });
    const run = await finished(started.name);
    expect(run).toMatchObject({ phase: "succeeded", done: true, progress: expect.stringMatching(/^4\/4 files, 6\.0 MiB of 6\.0 MiB/) });

    const repo = hub.repos["acme/tiny-model"]!;
    for (const [path, body] of Object.entries(repo.files)) expect(readFileSync(join(dir(), path)).equals(body), path).toBe(true);
    expect(readdirSync(dir()).sort()).toEqual(["README.md", "config.json", "model.safetensors", "tokenizer"]); // no partial files left

    const { name, phase, inputs, outputs } = await io(started.name);
    expect({ name, phase }).toEqual({ name: started.name, phase: "succeeded" });
    expect(inputs).toMatchObject({ repo: "acme/tiny-model", raw_data_path: dir(), task: "auto", modality: ["text"], hf_token_key: "HF_TOKEN", force: 0, disk: "50Gi" });
    expect(outputs).toMatchObject({
      path: dir(),
      uri: `file://${dir()}`,
      artifact_name: "tiny-model",
      repo: "acme/tiny-model",
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
      total_bytes: Object.values(repo.files).reduce((n, b) => n + b.length, 0),
    });
    expect(outputs.files).toEqual(
      expect.arrayContaining(Object.entries(repo.files).map(([path, body]) => ({ path, size: body.length, status: "downloaded" }))),
    );
    // The large file came from the CDN on another origin, which never saw a token.
    expect(hub.cdnRequests.some((r) => r.path.includes("model.safetensors"))).toBe(true);
  });

  it("skips files already present on a second prefetch", async () => {
    const before = resolves();
    const run = await finished((await prefetch(`repo=acme/tiny-model&raw_data_path=${encodeURIComponent(dir())}`)).name);
    expect(run.phase).toBe("succeeded");
    const { outputs } = await io(run.name);
    expect(outputs.files.every((f: { status: string }) => f.status === "skipped")).toBe(true);
    expect(outputs.downloaded_bytes).toBe(0);
    expect(resolves()).toBe(before);
  });

  it("downloads everything again with force (the reference ignores it)", async () => {
    const repo = hub.repos["acme/tiny-model"]!;
    writeFileSync(join(dir(), "config.json"), Buffer.alloc(repo.files["config.json"]!.length, 0x20)); // same size, other bytes
    const before = resolves();
    const run = await finished((await prefetch(`repo=acme/tiny-model&force=1&raw_data_path=${encodeURIComponent(`file://${dir()}`)}`)).name);
    expect(run.phase).toBe("succeeded");
    expect(resolves() - before).toBe(4);
    expect(readFileSync(join(dir(), "config.json")).equals(repo.files["config.json"]!)).toBe(true);
    expect((await io(run.name)).outputs.downloaded_bytes).toBe((await io(run.name)).outputs.total_bytes);
  });

  it("stores under the first root by default, named after the artifact", async () => {
    const run = await finished((await prefetch("repo=acme/tiny-model&artifact_name=tiny_v1")).name);
    expect(run.phase).toBe("succeeded");
    expect((await io(run.name)).outputs).toMatchObject({ path: join(out, "tiny_v1"), artifact_name: "tiny_v1" });
  });

  it("writes only under the allowed roots (default: the data directory's prefetch folder)", async () => {
    const own = await startStack({ plane: { hfPrefetch: { endpoint: hub.url, requestTimeoutMs: 1000 } } });
    try {
      const call = async (query: string) => {
        const { body } = await own.call(`/prefetch/hf-model?${query}`, { method: "POST" });
        return own.waitDone(body.name, 15_000);
      };
      const ok = await call("repo=acme/tiny-model");
      expect(ok.phase).toBe("succeeded");
      expect((await own.call(`/run/${ok.name}/io`)).body.outputs.path).toBe(join(own.dir, "prefetch", "acme/tiny-model"));
      for (const outside of [out, join(own.dir, "prefetch", ".."), "../escape", `file://${join(own.dir, "flyte.db")}`]) {
        const refused = await call(`repo=acme/tiny-model&raw_data_path=${encodeURIComponent(outside)}`);
        expect(refused.phase, outside).toBe("failed");
        expect(refused.error).toContain("is outside the directories models may be written to (FLYTE_LOCAL_PREFETCH_ROOTS:");
      }
    } finally {
      await own.close();
    }
  });

  it("uses the token from the secret for a gated repository, and never shows it", async () => {
    const target = join(out, "gated");
    const run = await finished((await prefetch(`repo=acme/gated-model&raw_data_path=${encodeURIComponent(target)}`)).name);
    expect(run.phase).toBe("succeeded");
    expect(readFileSync(join(target, "weights.bin")).equals(hub.repos["acme/gated-model"]!.files["weights.bin"]!)).toBe(true);
    expect(hub.requests.filter((r) => r.path.includes("gated-model")).every((r) => r.authorization === `Bearer ${GOOD_TOKEN}`)).toBe(true);
    expect(hub.cdnRequests.every((r) => r.authorization === undefined)).toBe(true);
    expect(JSON.stringify(await io(run.name))).not.toContain(GOOD_TOKEN);
    expect(stack.logs.join("")).not.toContain(GOOD_TOKEN);
  });

  it("fails a gated repository without a token, saying which secret is missing", async () => {
    const run = await finished((await prefetch("repo=acme/gated-model&hf_token_key=NOT_SET")).name);
    expect(run.phase).toBe("failed");
    expect(run.error).toBe(
      "repository acme/gated-model is gated and needs a Hugging Face token, but the secret NOT_SET is not set (FLYTE_SECRET_NOT_SET or a file in FLYTE_LOCAL_SECRETS_DIR)",
    );
  });

  it("fails with a clear message when the hub refuses the token", async () => {
    const run = await finished((await prefetch("repo=acme/gated-model&hf_token_key=WRONG_TOKEN")).name);
    expect(run.phase).toBe("failed");
    expect(run.error).toBe("the hub refused the token from secret WRONG_TOKEN (HTTP 401): it is invalid or expired");
    expect(JSON.stringify(run)).not.toContain(BAD_TOKEN);
  });

  it("fails an unknown repository, and a hub that does not answer within the deadline", async () => {
    const missing = await finished((await prefetch("repo=acme/no-such-model")).name);
    expect(missing).toMatchObject({ phase: "failed", error: expect.stringMatching(/^repository acme\/no-such-model was not found on http:\/\/127\.0\.0\.1:/) });
    const started = Date.now();
    const hanging = await finished((await prefetch("repo=acme/hanging")).name);
    expect(hanging).toMatchObject({ phase: "failed", error: expect.stringMatching(/did not answer in time/) });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("refuses a download redirected to a cloud metadata address", async () => {
    const run = await finished((await prefetch("repo=acme/hostile")).name);
    expect(run.phase).toBe("failed");
    expect(run.error).toMatch(/^downloading big\.bin was refused: 169\.254\.169\.254 is a link-local or cloud metadata address/);
  });

  it("answers at once while the download goes on, shows progress, and an abort stops the transfer", async () => {
    hub.throttle = 1024 * 1024; // the 6 MiB file takes about 6 s
    const target = join(out, "aborted");
    try {
      const posted = Date.now();
      const { name } = await prefetch(`repo=acme/tiny-model&raw_data_path=${encodeURIComponent(target)}`);
      expect(Date.now() - posted).toBeLessThan(1000);

      // Wait until bytes of the large file have arrived, and see them in the run's progress.
      let status;
      const deadline = Date.now() + 5000;
      do {
        status = (await stack.call(`/prefetch/hf-model/${name}`)).body;
        await new Promise((r) => setTimeout(r, 20));
      } while (!/[1-9][0-9.]* MiB of 6\.0 MiB/.test(status.progress ?? "") && Date.now() < deadline);
      expect(status).toMatchObject({ phase: "running", done: false, progress: expect.stringMatching(/^3\/4 files, [1-5]\.\d MiB of 6\.0 MiB$/) });

      // The gateway is not blocked by the prefetch under way.
      const health = Date.now();
      expect((await stack.call("/health")).status).toBe(200);
      expect(Date.now() - health).toBeLessThan(500);

      const aborted = await stack.call(`/prefetch/hf-model/${name}/abort?reason=changed+my+mind`, { method: "POST" });
      expect(aborted.body).toEqual({ name, status: "abort_requested", reason: "changed my mind" });
      expect((await finished(name)).phase).toBe("aborted");
      expect((await io(name)).outputs).toBeNull();

      const transfer = hub.cdnRequests.filter((r) => r.path.includes("model.safetensors")).at(-1)!;
      for (let i = 0; i < 50 && !transfer.closedEarly; i++) await new Promise((r) => setTimeout(r, 20));
      expect(transfer.closedEarly).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(join(target, "model.safetensors"))).toBe(false);
      expect(existsSync(join(target, "model.safetensors.incomplete"))).toBe(false);
    } finally {
      hub.throttle = 0;
    }
  });

  it("answers 400 naming the parameter for bad values", async () => {
    const cases: Array<[string, RegExp]> = [
      ["repo=not%20a%20repo", /^repo: /],
      ["repo=acme/../etc", /^repo: /],
      ["repo=acme/m&disk=lots", /^disk: "lots" is not a quantity/],
      ["repo=acme/m&memory=8GB", /^memory: /],
      ["repo=acme/m&artifact_name=a%20b", /^artifact_name: /],
      ["repo=acme/m&hf_token_key=bad/key", /^hf_token_key: /],
      ["repo=acme/m&force=-1", /force/],
      ["", /repo/],
    ];
    for (const [query, detail] of cases) {
      const { status, body } = await stack.call(`/prefetch/hf-model?${query}`, { method: "POST" });
      expect(status, query).toBe(400);
      expect(body.detail, query).toMatch(detail);
    }
  });

  it("takes modality as repeated parameters or as the JSON list flyte-sdk's app reads", async () => {
    const a = await prefetch("repo=acme/hanging&modality=text&modality=image");
    expect((await io(a.name)).inputs.modality).toEqual(["text", "image"]);
    const b = await stack.call("/prefetch/hf-model?repo=acme/hanging", { method: "POST", json: ["audio"] });
    expect((await io(b.body.name)).inputs.modality).toEqual(["audio"]);
    await stack.call(`/prefetch/hf-model/${a.name}/abort`, { method: "POST" });
    await stack.call(`/prefetch/hf-model/${b.body.name}/abort`, { method: "POST" });
  });
});

describe("prefetch run endpoints", () => {
  it("answer 404 for a run of another task, and leave it alone", async () => {
    const echo = await stack.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } });
    const name = echo.body.name;
    for (const [path, method] of [[`/prefetch/hf-model/${name}`, "GET"], [`/prefetch/hf-model/${name}/io`, "GET"], [`/prefetch/hf-model/${name}/abort`, "POST"]] as const) {
      const { status, body } = await stack.call(path, { method });
      expect(status, path).toBe(404);
      expect(body).toMatchObject({ detail: `Prefetch run ${name} not found`, code: "not_found" });
    }
    expect((await stack.call(`/run/${name}`)).body.done).toBe(false); // not aborted
    await stack.call(`/run/${name}/abort`, { method: "POST" });
  });

  it("answer 404 for an unknown run and 401 without credentials", async () => {
    expect((await stack.call("/prefetch/hf-model/rnosuchrun")).status).toBe(404);
    expect((await stack.call("/prefetch/hf-model/rnosuchrun", { token: null })).status).toBe(401);
  });

  it("stay reachable when a task allow-list keeps the run endpoints from the system task", async () => {
    const limited = await startStack({
      gateway: { taskAllowlist: ["echo"] },
      plane: { hfPrefetch: { endpoint: hub.url, requestTimeoutMs: 1000 } },
    });
    try {
      const { body } = await limited.call("/prefetch/hf-model?repo=acme/no-such-model", { method: "POST" });
      expect((await limited.call(`/run/${body.name}`)).status).toBe(403);
      expect((await limited.call(`/prefetch/hf-model/${body.name}`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
