// The `hf_prefetch` task type: downloads every file of a Hugging Face model repository
// (at the commit `main` points to) into a local directory, streaming each file to disk.
// Files already there with the right size are kept unless `force`; an abort stops the
// transfer under way and leaves no partial file behind. Progress goes to the run.
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { literalsToJson, outputsFromJson } from "../controlplane/interface.ts";
import { artifactName, checkPrefetchParams, parseQuantity, type PrefetchParams } from "../prefetch/params.ts";
import { DEFAULT_HF_ENDPOINT, Hub, hubDispatchers, type HubFile, type HubOptions } from "../prefetch/hub.ts";
import { HF_PREFETCH_TYPE } from "../system-tasks.ts";
import { type Connector, type ConnectorContext, TaskFailure } from "./types.ts";

export interface HfPrefetchOptions extends Partial<HubOptions> {
  /** Least time between two progress reports of one run. */
  progressIntervalMs?: number;
  /**
   * Directories models may be written under (`FLYTE_LOCAL_PREFETCH_ROOTS`); default
   * `<data dir>/prefetch`. A `raw_data_path` elsewhere fails the run, so a caller cannot
   * make the plane write over its own files or anything else the process may write.
   */
  roots?: readonly string[];
}

const MiB = 1024 * 1024;
const size = (bytes: number) => (bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${bytes} B`);

export function hfPrefetchConnector(options: HfPrefetchOptions = {}): Connector {
  const hubOptions: HubOptions = {
    endpoint: options.endpoint || DEFAULT_HF_ENDPOINT,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
  };
  return {
    type: HF_PREFETCH_TYPE,
    // Downloads skip what is already on disk, so starting again after a stop is safe.
    resumable: true,
    async execute(ctx) {
      const p = literalsToJson(ctx.inputs.literals) as unknown as PrefetchParams & { force: number };
      const problems = checkPrefetchParams(p);
      if (problems.length > 0) throw new TaskFailure(`invalid prefetch inputs: ${problems.join("; ")}`);
      const tokenKey = p.hf_token_key || "HF_TOKEN";
      const dispatchers = hubDispatchers(hubOptions);
      try {
        // No token means anonymous access, which public repositories allow (as in flyte-sdk).
        const hub = new Hub(hubOptions, dispatchers.following, { token: ctx.secrets.get(tokenKey) || undefined, tokenKey }, p.repo);
        const roots = (options.roots?.length ? options.roots : [join(ctx.dataDir ?? join(tmpdir(), "flyte-webhook"), "prefetch")]).map((r) => resolve(r));
        return await prefetch(ctx, hub, p, options.progressIntervalMs ?? 250, roots);
      } finally {
        // Closes the connections of this run, including one an abort left mid-transfer.
        await dispatchers.following.destroy();
      }
    },
  };
}

async function prefetch(ctx: ConnectorContext, hub: Hub, p: PrefetchParams & { force: number }, progressIntervalMs: number, roots: readonly string[]) {
  const name = artifactName(p.repo, p.artifact_name);
  const root = targetDirectory(p.raw_data_path ?? "", roots, p.artifact_name ? name : p.repo);

  ctx.progress?.(`resolving ${p.repo}`);
  const commit = await hub.commit("main", ctx.signal);
  const files = await hub.files(commit, ctx.signal);
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  const disk = parseQuantity(p.disk ?? "50Gi")!;
  if (totalBytes > disk) throw new TaskFailure(`${p.repo} holds ${size(totalBytes)}, more than disk=${p.disk}`);
  for (const file of files) safePath(root, file.path);

  const report = progressReporter(ctx, files.length, totalBytes, progressIntervalMs);
  const listed: Array<{ path: string; size: number; status: "downloaded" | "skipped" }> = [];
  let downloaded = 0;
  for (const file of files) {
    const target = safePath(root, file.path);
    if (!(p.force > 0) && (await sizeOf(target)) === file.size) {
      listed.push({ path: file.path, size: file.size, status: "skipped" });
      report.fileDone(file.size, true);
      continue;
    }
    await fetchFile(hub, commit, file, target, ctx.signal, report.bytes);
    downloaded += file.size;
    listed.push({ path: file.path, size: file.size, status: "downloaded" });
    report.fileDone(0, false);
  }
  report.finish(listed.filter((f) => f.status === "skipped").length);
  return outputsFromJson(ctx.task, {
    path: root,
    uri: pathToFileURL(root).href,
    artifact_name: name,
    repo: p.repo,
    commit,
    files: listed,
    total_bytes: totalBytes,
    downloaded_bytes: downloaded,
  });
}

/**
 * Where the model goes: `raw_data_path` as a directory or a file:// URI (a relative path is
 * taken under the first root), else `<first root>/<repo id or artifact name>` so a second
 * prefetch finds the first one's files. Anything outside the roots fails the run.
 */
function targetDirectory(rawDataPath: string, roots: readonly string[], fallback: string): string {
  const first = roots[0]!;
  if (!rawDataPath) return join(first, fallback);
  let target: string;
  if (rawDataPath.startsWith("file://")) {
    try {
      target = fileURLToPath(rawDataPath);
    } catch {
      throw new TaskFailure(`raw_data_path ${rawDataPath} is not a valid file:// URI`);
    }
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(rawDataPath)) {
    throw new TaskFailure(`raw_data_path ${rawDataPath}: this control plane stores models on its own disk; give a directory or a file:// URI`);
  } else {
    target = resolve(first, rawDataPath);
  }
  target = resolve(target);
  if (!roots.some((root) => target === root || target.startsWith(root.endsWith(sep) ? root : root + sep))) {
    throw new TaskFailure(`raw_data_path ${rawDataPath} is outside the directories models may be written to (FLYTE_LOCAL_PREFETCH_ROOTS: ${roots.join(", ")})`);
  }
  return target;
}

/** A hub file's place under the root; names that would leave it fail the run. */
function safePath(root: string, path: string): string {
  const parts = path.split("/");
  if (path.includes("\\") || path.includes("\0") || parts.some((part) => part === "" || part === "." || part === "..")) {
    throw new TaskFailure(`the hub listed a file named ${JSON.stringify(path)}, which would be written outside ${root}; refusing it`);
  }
  const target = resolve(root, ...parts);
  if (!target.startsWith(root.endsWith(sep) ? root : root + sep)) throw new TaskFailure(`file ${JSON.stringify(path)} would be written outside ${root}`);
  return target;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** Downloads into `<file>.incomplete` and renames it once complete and of the listed size. */
async function fetchFile(hub: Hub, commit: string, file: HubFile, target: string, signal: AbortSignal, onBytes: (n: number) => void) {
  await mkdir(resolve(target, ".."), { recursive: true });
  const partial = `${target}.incomplete`;
  try {
    await hub.download(commit, file, partial, signal, onBytes);
    const got = await sizeOf(partial);
    if (got !== file.size) throw new TaskFailure(`${file.path}: the hub listed ${file.size} bytes but sent ${got ?? 0}`);
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

function progressReporter(ctx: ConnectorContext, fileCount: number, totalBytes: number, intervalMs: number) {
  let filesDone = 0;
  let bytesDone = 0;
  let last = 0;
  const say = (force: boolean, tail = "") => {
    const now = Date.now();
    if (!force && now - last < intervalMs) return;
    last = now;
    ctx.progress?.(`${filesDone}/${fileCount} files, ${size(bytesDone)} of ${size(totalBytes)}${tail}`);
  };
  say(true);
  return {
    bytes(n: number) {
      bytesDone += n;
      say(false);
    },
    fileDone(skippedBytes: number, skipped: boolean) {
      filesDone++;
      bytesDone += skippedBytes;
      say(skipped ? false : true);
    },
    finish(skipped: number) {
      say(true, skipped > 0 ? ` (${skipped} already present)` : "");
    },
  };
}
