// The `image_build` task type: writes the spec's Dockerfile into a build context and runs
// the configured builder (docker, podman or buildah) on it. With no builder configured,
// or none found, the run fails saying so: it never reports an image that was not built.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { literalsToJson, outputsFromJson } from "../controlplane/interface.ts";
import { buildCommands, findExecutable, type ImageBuilderSetting } from "../image/builders.ts";
import { dockerfile } from "../image/dockerfile.ts";
import { DEFAULT_IMAGE_NAME, isImageName, specDigest, specFromJson, specToJson } from "../image/spec.ts";
import { IMAGE_BUILD_TYPE } from "../system-tasks.ts";
import { type Connector, TaskFailure } from "./types.ts";

export interface ImageBuildOptions {
  /** `FLYTE_LOCAL_IMAGE_BUILDER`; undefined: no builder, every build fails saying so. */
  builder: ImageBuilderSetting | undefined;
  /** Longest a build may take (default one hour). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Builder output kept for the run's error: the end is where builders say what failed. */
const OUTPUT_TAIL = 2000;

export function imageBuildConnector(options: ImageBuildOptions): Connector {
  const timeoutMs = options.timeoutMs ?? 3600_000;
  return {
    type: IMAGE_BUILD_TYPE,
    // A build half done when the plane stopped is not known to be complete.
    resumable: false,
    async execute(ctx) {
      const inputs = literalsToJson(ctx.inputs.literals);
      let spec;
      try {
        spec = specFromJson(inputs.spec);
      } catch (err) {
        throw new TaskFailure((err as Error).message);
      }
      const requested = typeof inputs.target_image === "string" && inputs.target_image !== "" ? inputs.target_image : undefined;
      if (requested !== undefined && !isImageName(requested)) throw new TaskFailure(`target_image "${requested}" is not an image name such as my-image:tag`);
      const image = requested ?? `${DEFAULT_IMAGE_NAME}:${specDigest(spec)}`;
      const text = dockerfile(spec, image);

      if (!options.builder) {
        throw new TaskFailure(
          "no image builder is configured in this control plane: set FLYTE_LOCAL_IMAGE_BUILDER to docker, podman or buildah; the image was not built",
        );
      }
      const executable = await findExecutable(options.builder.executable, options.env);
      if (!executable) {
        throw new TaskFailure(`image builder ${options.builder.tool} was not found (looked for "${options.builder.executable}"); the image was not built`);
      }

      const base = ctx.dataDir ? join(ctx.dataDir, "image-builds") : tmpdir();
      await mkdir(base, { recursive: true });
      const context = await mkdtemp(join(base, `${ctx.runName}-`));
      try {
        const dockerfilePath = join(context, "Dockerfile");
        await writeFile(dockerfilePath, text);
        const commands = buildCommands({ tool: options.builder.tool, executable }, { image, platforms: spec.platform, dockerfile: dockerfilePath, context });
        const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
        for (const [index, argv] of commands.entries()) {
          ctx.progress?.(`step ${index + 1}/${commands.length}: ${options.builder.tool} ${argv.slice(1, 3).join(" ")}`);
          await runCommand(argv, { signal, env: builderEnv(options.env ?? process.env), log: ctx.log, tool: options.builder.tool, timeoutMs });
        }
        return outputsFromJson(ctx.task, {
          image,
          spec: specToJson(spec),
          dockerfile: text,
          builder: options.builder.tool,
          command: commands.map((argv) => argv.join(" ")),
        });
      } finally {
        await rm(context, { recursive: true, force: true });
      }
    },
  };
}

/** The plane's environment without its secrets and API keys: a build needs neither. */
function builderEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith("FLYTE_SECRET_") && key !== "FLYTE_LOCAL_API_KEYS"));
}

interface StepOptions {
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  log: { info(obj: object, msg: string): void };
  tool: string;
  timeoutMs: number;
}

function runCommand(argv: string[], { signal, env, log, tool, timeoutMs }: StepOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    log.info({ command: argv }, "image build step");
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], signal, env });
    let tail = "";
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (err) => {
      if (signal.aborted && !(signal.reason instanceof DOMException && signal.reason.name === "TimeoutError")) reject(err);
      else if (signal.aborted) reject(new TaskFailure(`${tool} did not finish within ${Math.round(timeoutMs / 1000)} s; the image was not built`));
      else reject(new TaskFailure(`${tool} could not be started: ${(err as NodeJS.ErrnoException).code ?? err.message}; the image was not built`));
    });
    child.on("close", (code, sig) => {
      if (code === 0) resolve();
      else if (!signal.aborted) {
        const why = code !== null ? `exited with code ${code}` : `was stopped by ${sig}`;
        reject(new TaskFailure(`${tool} ${why}; the image was not built${tail.trim() ? `. Last output:\n${tail.trim()}` : ""}`));
      }
    });
  });
}
