// Runs queued runs through the connector their task type names, moving each through
// QUEUED → RUNNING → SUCCEEDED/FAILED (or ABORTED at any point), and tells watchers of
// every change. Work is bounded by a concurrency limit; the rest waits in QUEUED.
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { ActionPhase } from "../controlplane/idl.ts";
import type { SecretSource } from "../connectors/secrets.ts";
import { type Connector, failureMessage } from "../connectors/types.ts";
import type { ProgressStore } from "./progress.ts";
import type { RunKey, Store } from "./store.ts";

export const runKeyString = (key: RunKey) => `${key.org}/${key.project}/${key.domain}/${key.name}`;

export class Executor {
  /** Emits `runKeyString(key)` whenever that run's phase changes. */
  readonly events = new EventEmitter({ captureRejections: false });
  private readonly inflight = new Map<string, AbortController>();
  private readonly stopping = new AbortController();
  /** Aborted on close(): watches of runs end, so closing the server does not wait on their streams. */
  readonly closed: AbortSignal = this.stopping.signal;
  private readonly waiting: RunKey[] = [];
  private running = 0;
  private accepting = true;

  constructor(
    private readonly store: Store,
    private readonly connectors: ReadonlyMap<string, Connector>,
    private readonly log: Logger,
    private readonly resources: { secrets: SecretSource; dataDir?: string; progress?: ProgressStore },
    private readonly maxConcurrent = 64,
  ) {
    // Every watcher of a run adds a listener; many watchers of one run are normal.
    this.events.setMaxListeners(0);
  }

  connector(type: string): Connector | undefined {
    return this.connectors.get(type);
  }

  /** Queues a stored run for execution. */
  submit(key: RunKey): void {
    if (!this.accepting) return;
    this.waiting.push(key);
    this.pump();
  }

  /**
   * After a restart: runs whose connector is resumable start again from QUEUED; the
   * others cannot know what their outside effect did, so they fail with the reason.
   */
  recover(): { resumed: number; failed: number } {
    let resumed = 0;
    let failed = 0;
    for (const run of this.store.activeRuns()) {
      const connector = this.connectors.get(run.taskType);
      if (connector?.resumable) {
        this.store.markQueued(run);
        this.submit(run);
        resumed++;
      } else {
        this.store.finishRun(run, ActionPhase.FAILED, {
          error: `the control plane stopped while this run was in flight; runs of task type "${run.taskType}" are not resumed because their effect may already have happened`,
        });
        failed++;
      }
    }
    return { resumed, failed };
  }

  /** Aborts a run; false when it had already reached a terminal phase. */
  abort(key: RunKey, reason: string, abortedBy: string): boolean {
    const changed = this.store.finishRun(key, ActionPhase.ABORTED, { abortReason: reason, abortedBy });
    if (changed) {
      this.inflight.get(runKeyString(key))?.abort();
      this.emit(key);
    }
    return changed;
  }

  /** Stops taking work and cancels what is running; stored phases stay for recovery. */
  close(): void {
    this.accepting = false;
    this.stopping.abort();
    this.waiting.length = 0;
    for (const controller of this.inflight.values()) controller.abort();
  }

  private emit(key: RunKey): void {
    this.events.emit(runKeyString(key));
  }

  private pump(): void {
    while (this.running < this.maxConcurrent && this.waiting.length > 0) {
      const key = this.waiting.shift()!;
      this.running++;
      void this.execute(key).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async execute(key: RunKey): Promise<void> {
    const run = this.store.getRun(key);
    if (!run) return;
    const task = this.store.getTask(run.taskId);
    const connector = this.connectors.get(run.taskType);
    if (!task || !connector) {
      const error = !task ? `task ${run.taskId.name} version ${run.taskId.version} is not deployed` : `no connector serves task type "${run.taskType}"`;
      if (this.store.finishRun(key, ActionPhase.FAILED, { error })) this.emit(key);
      return;
    }
    if (!this.store.markRunning(key)) return; // aborted while queued
    this.emit(key);
    const controller = new AbortController();
    const id = runKeyString(key);
    this.inflight.set(id, controller);
    const log = this.log.child({ run: key.name, task: run.taskId.name });
    try {
      const outputs = await connector.execute({
        runName: key.name,
        task: task.spec,
        inputs: run.inputs,
        config: task.spec.taskTemplate?.custom ?? {},
        signal: controller.signal,
        log,
        secrets: this.resources.secrets,
        dataDir: this.resources.dataDir,
        progress: (message) => {
          // A report racing an abort must not land after the run has ended.
          if (!controller.signal.aborted) this.resources.progress?.set(key, message);
        },
      });
      if (this.store.finishRun(key, ActionPhase.SUCCEEDED, { outputs })) this.emit(key);
    } catch (err) {
      if (controller.signal.aborted) return; // abort() already recorded the outcome
      const error = failureMessage(connector, err);
      log.warn({ error }, "run failed");
      if (this.store.finishRun(key, ActionPhase.FAILED, { error })) this.emit(key);
    } finally {
      this.inflight.delete(id);
    }
  }
}
