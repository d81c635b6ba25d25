// What every service of the embedded control plane shares.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Executor } from "./executor.ts";
import type { ProgressStore } from "./progress.ts";
import type { RunKey, Store } from "./store.ts";
import { ROOT_ACTION } from "./views.ts";

export interface PlaneContext {
  store: Store;
  executor: Executor;
  log: Logger;
  /** What connectors last reported about their runs. */
  progress?: ProgressStore;
}

export const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);
export const missing = (message: string) => new ConnectError(message, Code.NotFound);

/** Checks that a run identifier names a run: every part but org must be present. */
export function runKey(id: { org: string; project: string; domain: string; name: string } | undefined): RunKey {
  if (!id || !id.project || !id.domain || !id.name) throw invalid("run_id needs project, domain and name");
  return { org: id.org, project: id.project, domain: id.domain, name: id.name };
}

/** The run of an action identifier; only root actions ("a0") exist in this plane. */
export function rootActionRun(id: { run?: RunKey; name: string } | undefined): RunKey {
  if (id?.name !== ROOT_ACTION) throw missing("action not found");
  return runKey(id.run);
}

/** Paging tokens of the embedded plane are offsets. */
export function page(request: { limit: number; token: string } | undefined): { limit: number; offset: number } {
  const limit = Math.min(request?.limit || 100, 1000);
  const offset = request?.token ? Number.parseInt(request.token, 10) : 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw invalid("invalid page token");
  return { limit, offset };
}

export const nextToken = (count: number, limit: number, offset: number) => (count < limit ? "" : String(offset + count));
