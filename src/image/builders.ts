// The image builders the embedded control plane can drive, and the command lines each one
// really takes for a Dockerfile build: `docker buildx build`, `podman build`, `buildah
// build`, with a push when the image name carries a registry.
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { basename, delimiter, isAbsolute, join } from "node:path";

export const BUILDER_TOOLS = ["docker", "podman", "buildah"] as const;
export type BuilderTool = (typeof BUILDER_TOOLS)[number];

export interface ImageBuilderSetting {
  tool: BuilderTool;
  /** A name looked up on PATH, or a path. */
  executable: string;
}

/**
 * `FLYTE_LOCAL_IMAGE_BUILDER`: `docker`, `podman` or `buildah` (found on PATH), a path
 * whose file name is one of them (`/usr/local/bin/podman`), or `tool=/path/to/executable`
 * for a wrapper with another name.
 */
export function parseImageBuilder(value: string): ImageBuilderSetting {
  const text = value.trim();
  const eq = text.indexOf("=");
  const [toolText, executable] = eq >= 0 ? [text.slice(0, eq), text.slice(eq + 1)] : [basename(text), text];
  const tool = BUILDER_TOOLS.find((t) => t === toolText);
  if (!tool || !executable) {
    throw new Error(`expected ${BUILDER_TOOLS.join(", ")}, a path to one of them, or tool=/path/to/executable; got "${value}"`);
  }
  if (eq >= 0 && !isAbsolute(executable)) throw new Error(`the executable after "${tool}=" must be an absolute path; got "${executable}"`);
  return { tool, executable };
}

/** The executable's path, or undefined when it is not there or not executable. */
export async function findExecutable(executable: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const candidates = executable.includes("/") ? [executable] : (env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, executable));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A registry host is the first path part when it has a dot or a port, or is localhost. */
export function hasRegistry(image: string): boolean {
  const slash = image.indexOf("/");
  if (slash < 0) return false;
  const first = image.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost";
}

export interface BuildPlan {
  image: string;
  platforms: readonly string[];
  dockerfile: string;
  context: string;
}

/** The argument lists to run, in order, for one build (the executable comes first). */
export function buildCommands(builder: { tool: BuilderTool; executable: string }, plan: BuildPlan): string[][] {
  const exe = builder.executable;
  const push = hasRegistry(plan.image);
  const platform = plan.platforms.join(",");
  const file = ["--file", plan.dockerfile, plan.context];
  if (builder.tool === "docker") {
    return [[exe, "buildx", "build", "--tag", plan.image, "--platform", platform, push ? "--push" : "--load", ...file]];
  }
  // podman and buildah: several platforms build into a manifest list, pushed with all its images.
  const multi = plan.platforms.length > 1;
  const build = [exe, "build", multi ? "--manifest" : "--tag", plan.image, "--platform", platform, ...file];
  if (!push) return [build];
  return [build, multi ? [exe, "manifest", "push", "--all", plan.image, `docker://${plan.image}`] : [exe, "push", plan.image]];
}
