// The connector interface of the embedded control plane's executor: a task template's
// `type` selects a connector, which turns a run's inputs into outputs or fails it.
import type { JsonObject } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { Inputs, Outputs, TaskSpec } from "../controlplane/idl.ts";
import type { SecretSource } from "./secrets.ts";

export interface ConnectorContext {
  /** Run name, for log lines. */
  runName: string;
  task: TaskSpec;
  inputs: Inputs;
  /** Task configuration (`TaskTemplate.custom`). */
  config: JsonObject;
  /** Fires when the run is aborted; a connector must stop promptly when it does. */
  signal: AbortSignal;
  log: Logger;
  /** Resolves `{secrets.NAME}`; values must never reach outputs, logs or error messages. */
  secrets: SecretSource;
  /** The plane's data directory, for connectors that keep files (downloads, build contexts). */
  dataDir?: string;
  /**
   * Reports how far a long run has got, in a short human sentence ("3/5 files, 12 MiB of
   * 40 MiB"); the plane keeps the latest one with the run and shows it in its details.
   */
  progress?(message: string): void;
}

export interface Connector {
  readonly type: string;
  /**
   * Whether a run that was in flight when the plane stopped may be started again. Only
   * connectors without side effects outside the plane say yes; the others' runs fail.
   */
  readonly resumable: boolean;
  /** Checks a task's configuration at deploy time; throws with a message naming the field. */
  validateConfig?(config: JsonObject, spec?: TaskSpec): void;
  execute(ctx: ConnectorContext): Promise<Outputs>;
  /** Releases what the connector holds (connection pools); called when the plane closes. */
  close?(): Promise<void>;
}

/** A failure the connector explains: its message becomes the run's error, as written. */
export class TaskFailure extends Error {
  override name = "TaskFailure";
}

/** A run's error message for what a connector threw: its own words for a TaskFailure. */
export const failureMessage = (connector: Connector, err: unknown): string =>
  err instanceof TaskFailure ? err.message : `${connector.type} task failed: ${(err as Error).message}`;
