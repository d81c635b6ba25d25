// build_image: spec checks and naming, the generated Dockerfile, the builder's real
// command lines (the builder is a script that records what it was given), and the run
// failing — never succeeding — when no builder is there.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, configFromEnv } from "../src/config.ts";
import { runUrl } from "../src/controlplane/console.ts";
import { buildCommands, parseImageBuilder } from "../src/image/builders.ts";
import { dockerfile } from "../src/image/dockerfile.ts";
import { checkBuildParams, imageRequest, specDigest, specFromJson, specToJson } from "../src/image/spec.ts";
import { type Stack, startStack } from "./stack.ts";

/** Writes an executable named `tool` that records its arguments and the Dockerfile it was given. */
function recordingBuilder(dir: string, tool: string, { exitCode = 0, sleep = 0 } = {}) {
  const calls = join(dir, "calls");
  mkdirSync(calls, { recursive: true });
  const script = join(dir, tool);
  writeFileSync(
    script,
    `#!/bin/sh
n=$(ls "${calls}" | grep -c args)
printf '%s\\n' "$@" > "${calls}/$n.args"
prev=""
for a in "$@"; do
  if [ "$prev" = "--file" ]; then cp "$a" "${calls}/$n.Dockerfile"; fi
  prev="$a"
done
${sleep ? `sleep ${sleep}` : ""}
${exitCode ? `echo "step 3/7: apt-get failed: boom" >&2; exit ${exitCode}` : "exit 0"}
`,
  );
  chmodSync(script, 0o755);
  const recorded = () =>
    readdirSync(calls)
      .filter((f) => f.endsWith(".args"))
      .sort()
      .map((f) => {
        const n = f.split(".")[0];
        const df = join(calls, `${n}.Dockerfile`);
        return { args: readFileSync(join(calls, f), "utf8").trimEnd().split("\n"), dockerfile: existsSync(df) ? readFileSync(df, "utf8") : undefined };
      });
  const reset = () => {
    rmSync(calls, { recursive: true, force: true });
    mkdirSync(calls);
  };
  return { script, recorded, reset };
}

describe("image spec naming (flyte-sdk's Image._get_hash_digest)", () => {
  it("hashes the base image and layers as flyte-sdk does", () => {
    // md5("ghcr.io/flyteorg/flyte:py3.12-v2.6.5" + "curl" + "git" + "numpy" + "pandas>=2"), computed with Python's hashlib.
    const request = imageRequest({ apt_packages: ["curl", "git"], pip_packages: ["numpy", "pandas>=2"] });
    expect(request.spec.baseImage).toBe("ghcr.io/flyteorg/flyte:py3.12-v2.6.5");
    expect(request.image).toBe("flyte:d82f297e9189508d9c0cd5de42384925");
    // Pre-releases add "True" before the packages, as PipOption.update_hash does.
    expect(imageRequest({ base_image: "python:3.11-slim", pip_packages: ["torch"], pre: true, name: "trainer" }).image).toBe(
      "trainer:b8461048977dd2df70b27a9fdc74bd84",
    );
  });

  it("gives the same spec the same name, and a different spec another", () => {
    const a = imageRequest({ pip_packages: ["numpy"], name: "x" });
    expect(imageRequest({ pip_packages: ["numpy"], name: "x" }).image).toBe(a.image);
    expect(imageRequest({ pip_packages: ["numpy==2.0"], name: "x" }).image).not.toBe(a.image);
    expect(imageRequest({ pip_packages: ["numpy"], pre: true, name: "x" }).image).not.toBe(a.image);
    expect(imageRequest({ pip_packages: ["numpy"], python_version: "3.11", name: "x" }).image).not.toBe(a.image); // base tag carries it
    // As in flyte-sdk, platforms are not part of the name.
    expect(imageRequest({ pip_packages: ["numpy"], platform: ["linux/arm64"], name: "x" }).image).toBe(a.image);
  });

  it("round-trips the spec through the JSON a run carries", () => {
    const { spec } = imageRequest({ base_image: "python:3.12-slim", apt_packages: ["curl"], pip_packages: ["a", "b[c]>=1,<2"], pre: true });
    const back = specFromJson(JSON.parse(JSON.stringify(specToJson(spec))));
    expect(specDigest(back)).toBe(specDigest(spec));
    expect(back.platform).toEqual(["linux/amd64"]);
  });

  it("refuses values that could change the Dockerfile, naming the parameter", () => {
    expect(checkBuildParams({ pip_packages: ["numpy; rm -rf /"] })[0]).toMatch(/^pip_packages: /);
    expect(checkBuildParams({ pip_packages: ["numpy\nRUN curl evil"] })[0]).toMatch(/^pip_packages: /);
    expect(checkBuildParams({ apt_packages: ["curl && wget x"] })[0]).toMatch(/^apt_packages: /);
    expect(checkBuildParams({ base_image: "python:3.12\nRUN evil" })[0]).toMatch(/^base_image: /);
    expect(checkBuildParams({ platform: ["windows/amd64"] })[0]).toMatch(/^platform: /);
    expect(checkBuildParams({ python_version: "2.7" })[0]).toMatch(/^python_version: /);
    expect(checkBuildParams({ name: "Upper/Case" })[0]).toMatch(/^name: /);
    expect(() => specFromJson({ baseImage: "python:3.12", layers: [{ aptPackages: { packages: ["$(evil)"] } }] })).toThrow(/apt_packages/);
    expect(
      checkBuildParams({ base_image: "localhost:5000/team/app:1.0", pip_packages: ["uvicorn[standard]==0.30.1"], apt_packages: ["git=1:2.39.2-1.1"], name: "ghcr.io/me/app" }),
    ).toEqual([]);
  });
});

describe("Dockerfile and builder command lines", () => {
  it("writes the base image, the apt layer, then the pip layer, and names the image", () => {
    const { spec, image } = imageRequest({ base_image: "python:3.12-slim", apt_packages: ["curl", "git"], pip_packages: ["pandas>=2", "numpy"], pre: true });
    const text = dockerfile(spec, image);
    const lines = text.split("\n");
    expect(lines).toContain("FROM python:3.12-slim");
    const apt = lines.findIndex((l) => l.includes("apt-get install -y --no-install-recommends curl git"));
    const pip = lines.findIndex((l) => l.includes("uv pip install --python $UV_PYTHON --pre 'pandas>=2' numpy"));
    expect(apt).toBeGreaterThan(0);
    expect(pip).toBeGreaterThan(apt);
    expect(text).toContain("uv venv $VIRTUALENV --python=3.12");
    expect(text).toContain(`ENV _F_IMG_ID=${image}`);
  });

  it("uses each tool's own command line, pushing only images with a registry", () => {
    const plan = { image: "app:abc", platforms: ["linux/amd64"], dockerfile: "/ctx/Dockerfile", context: "/ctx" };
    expect(buildCommands({ tool: "docker", executable: "docker" }, plan)).toEqual([
      ["docker", "buildx", "build", "--tag", "app:abc", "--platform", "linux/amd64", "--load", "--file", "/ctx/Dockerfile", "/ctx"],
    ]);
    expect(buildCommands({ tool: "docker", executable: "docker" }, { ...plan, image: "ghcr.io/me/app:abc" })[0]).toContain("--push");
    expect(buildCommands({ tool: "podman", executable: "podman" }, { ...plan, image: "localhost:5000/app:abc" })).toEqual([
      ["podman", "build", "--tag", "localhost:5000/app:abc", "--platform", "linux/amd64", "--file", "/ctx/Dockerfile", "/ctx"],
      ["podman", "push", "localhost:5000/app:abc"],
    ]);
    expect(buildCommands({ tool: "buildah", executable: "/usr/bin/buildah" }, { ...plan, image: "quay.io/me/app:abc", platforms: ["linux/amd64", "linux/arm64"] })).toEqual([
      ["/usr/bin/buildah", "build", "--manifest", "quay.io/me/app:abc", "--platform", "linux/amd64,linux/arm64", "--file", "/ctx/Dockerfile", "/ctx"],
      ["/usr/bin/buildah", "manifest", "push", "--all", "quay.io/me/app:abc", "docker://quay.io/me/app:abc"],
    ]);
  });

  it("reads FLYTE_LOCAL_IMAGE_BUILDER as a tool, a path to one, or tool=path", () => {
    expect(parseImageBuilder("podman")).toEqual({ tool: "podman", executable: "podman" });
    expect(parseImageBuilder("/opt/bin/docker")).toEqual({ tool: "docker", executable: "/opt/bin/docker" });
    expect(parseImageBuilder("buildah=/opt/wrap.sh")).toEqual({ tool: "buildah", executable: "/opt/wrap.sh" });
    expect(() => parseImageBuilder("kaniko")).toThrow(/docker, podman, buildah/);
    expect(() => parseImageBuilder("docker=relative.sh")).toThrow(/absolute/);
  });

  it("takes FLYTE_LOCAL_IMAGE_BUILDER and HF_ENDPOINT from the environment, refusing bad values by name", () => {
    const local = configFromEnv({ FLYTE_LOCAL_IMAGE_BUILDER: "/usr/bin/podman", HF_ENDPOINT: "http://127.0.0.1:9999" }).local!;
    expect(local.imageBuilder).toEqual({ tool: "podman", executable: "/usr/bin/podman" });
    expect(local.hfEndpoint).toBe("http://127.0.0.1:9999");
    expect(configFromEnv({}).local).toMatchObject({ imageBuilder: undefined, hfEndpoint: undefined });
    expect(() => configFromEnv({ FLYTE_LOCAL_IMAGE_BUILDER: "kaniko" })).toThrow(ConfigError);
    expect(() => configFromEnv({ FLYTE_LOCAL_IMAGE_BUILDER: "kaniko" })).toThrow(/^FLYTE_LOCAL_IMAGE_BUILDER: /);
    expect(() => configFromEnv({ HF_ENDPOINT: "ftp://hub" })).toThrow(/^HF_ENDPOINT: /);
  });
});

describe("build_image endpoint with a recording docker", () => {
  let stack: Stack;
  let dir: string;
  let builder: ReturnType<typeof recordingBuilder>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flyte-webhook-builder-"));
    builder = recordingBuilder(dir, "docker");
    stack = await startStack({ plane: { imageBuilder: { tool: "docker", executable: builder.script } } });
  });
  afterAll(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const build = (query: string, init: { json?: unknown } = {}) => stack.call(`/build-image${query}`, { method: "POST", ...init });

  it("builds from a base image (the reference always fails there) and links the run with a string URL", async () => {
    builder.reset();
    const { status, body } = await build("?base_image=python:3.12-slim&pip_packages=numpy&pip_packages=pandas>=2&apt_packages=curl&name=my-image");
    expect(status).toBe(200);
    const expected = imageRequest({ base_image: "python:3.12-slim", pip_packages: ["numpy", "pandas>=2"], apt_packages: ["curl"], name: "my-image" });
    expect(body).toEqual({
      image_build_run_url: runUrl(new URL(stack.plane.url).origin, "development", "flytesnacks", body.run_name),
      image_name: "my-image",
      base_image: "python:3.12-slim",
      pip_packages: ["numpy", "pandas>=2"],
      apt_packages: ["curl"],
      image_uri: expected.image,
      run_name: expect.stringMatching(/^r[a-z0-9]{19}$/),
    });
    expect(typeof body.image_build_run_url).toBe("string");
    const run = await stack.waitDone(body.run_name);
    expect(run.phase).toBe("succeeded");

    const [call] = builder.recorded();
    const context = call!.args.at(-1)!;
    expect(call!.args).toEqual(["buildx", "build", "--tag", expected.image, "--platform", "linux/amd64", "--load", "--file", join(context, "Dockerfile"), context]);
    expect(call!.dockerfile).toBe(dockerfile(expected.spec, expected.image));
    expect(existsSync(context)).toBe(false); // the build context is cleaned up

    const io = await stack.call(`/run/${body.run_name}/io`);
    expect(io.body.outputs).toMatchObject({ image: expected.image, builder: "docker", dockerfile: call!.dockerfile });
    expect(io.body.outputs.spec).toMatchObject({ baseImage: "python:3.12-slim", platform: ["linux/amd64"] });
    expect(io.body.inputs.target_image).toBe(expected.image);
  });

  it("builds the default Flyte base image for both platforms, with the same name for the same spec", async () => {
    builder.reset();
    const first = await build("?apt_packages=git&python_version=3.11&flyte_version=2.6.5");
    const second = await build("?apt_packages=git&python_version=3.11&flyte_version=2.6.5");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ image_name: "flyte", base_image: "flyte-debian-base", pip_packages: null, apt_packages: ["git"] });
    expect(second.body.image_uri).toBe(first.body.image_uri);
    expect(second.body.run_name).not.toBe(first.body.run_name);
    await stack.waitDone(first.body.run_name);
    await stack.waitDone(second.body.run_name);
    const [call] = builder.recorded();
    expect(call!.args.slice(0, 7)).toEqual(["buildx", "build", "--tag", first.body.image_uri, "--platform", "linux/amd64,linux/arm64", "--load"]);
    expect(call!.dockerfile).toContain("FROM ghcr.io/flyteorg/flyte:py3.11-v2.6.5");
  });

  it("takes the list parameters from a JSON body too, as flyte-sdk's FastAPI app reads them", async () => {
    const { status, body } = await build("?name=from-body", { json: { pip_packages: ["requests"], platform: ["linux/arm64"] } });
    expect(status).toBe(200);
    expect(body.pip_packages).toEqual(["requests"]);
    expect((await stack.waitDone(body.run_name)).phase).toBe("succeeded");
  });

  it("answers 400 naming the parameter for bad values, and starts no run", async () => {
    builder.reset();
    const cases: Array<[string, RegExp]> = [
      ["?platform=windows/amd64", /platform: "windows\/amd64" is not valid/],
      ["?pip_packages=numpy%3B%20rm%20-rf%20%2F", /pip_packages: /],
      ["?apt_packages=curl%20%26%26%20evil", /apt_packages: /],
      ["?python_version=2.7", /python_version: /],
      ["?base_image=not%20an%20image", /base_image: /],
      ["?name=Bad%20Name", /name: /],
      ["?pre=maybe", /pre/],
    ];
    for (const [query, detail] of cases) {
      const { status, body } = await build(query);
      expect(status, query).toBe(400);
      expect(body.detail, query).toMatch(detail);
    }
    expect(builder.recorded()).toEqual([]);
  });

  it("needs credentials", async () => {
    expect((await stack.call("/build-image", { method: "POST", token: null })).status).toBe(401);
  });
});

describe("image builds that cannot succeed fail", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flyte-webhook-builder-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function failedBuild(plane: Parameters<typeof startStack>[0]) {
    const stack = await startStack(plane);
    try {
      const { status, body } = await stack.call("/build-image?pip_packages=numpy&name=app", { method: "POST" });
      expect(status).toBe(200);
      return await stack.waitDone(body.run_name);
    } finally {
      await stack.close();
    }
  }

  it("with no builder configured, saying so", async () => {
    const run = await failedBuild({});
    expect(run.phase).toBe("failed");
    expect(run.error).toMatch(/no image builder is configured.*FLYTE_LOCAL_IMAGE_BUILDER/);
  });

  it("with a builder that is not installed", async () => {
    const run = await failedBuild({ plane: { imageBuilder: { tool: "podman", executable: join(dir, "missing", "podman") } } });
    expect(run.phase).toBe("failed");
    expect(run.error).toMatch(/image builder podman was not found/);
  });

  it("when the builder exits non-zero, with the end of its output", async () => {
    const builder = recordingBuilder(join(dir, "fails"), "podman", { exitCode: 3 });
    const run = await failedBuild({ plane: { imageBuilder: { tool: "podman", executable: builder.script } } });
    expect(run.phase).toBe("failed");
    expect(run.error).toMatch(/podman exited with code 3; the image was not built/);
    expect(run.error).toContain("apt-get failed: boom");
    // The default base image is multi-arch: podman builds a manifest list.
    expect(builder.recorded()[0]!.args.slice(0, 3)).toEqual(["build", "--manifest", expect.stringMatching(/^app:[0-9a-f]{32}$/)]);
  });

  it("pushes with podman when the name has a registry, and an abort stops the builder", async () => {
    const quick = recordingBuilder(join(dir, "push"), "podman");
    let stack = await startStack({ plane: { imageBuilder: { tool: "podman", executable: quick.script } } });
    const pushed = await stack.call("/build-image?base_image=python:3.12-slim&pip_packages=numpy&name=localhost:5000/team/app", { method: "POST" });
    expect((await stack.waitDone(pushed.body.run_name)).phase).toBe("succeeded");
    expect(quick.recorded().map((c) => c.args.slice(0, 2))).toEqual([
      ["build", "--tag"],
      ["push", pushed.body.image_uri],
    ]);
    await stack.close();

    const slow = recordingBuilder(join(dir, "slow"), "buildah", { sleep: 30 });
    stack = await startStack({ plane: { imageBuilder: { tool: "buildah", executable: slow.script } } });
    try {
      const { body } = await stack.call("/build-image?apt_packages=curl", { method: "POST" });
      const deadline = Date.now() + 5000;
      while (slow.recorded().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const started = Date.now();
      expect((await stack.call(`/run/${body.run_name}/abort`, { method: "POST" })).status).toBe(200);
      expect((await stack.waitDone(body.run_name)).phase).toBe("aborted");
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await stack.close();
    }
  });
});
