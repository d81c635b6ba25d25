// The embedded control plane's store: tasks and runs in SQLite (node:sqlite, WAL). Every
// write is committed before the RPC that caused it answers, so a run that CreateRun
// acknowledged survives a crash of the process.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ActionPhase,
  type Inputs,
  InputsSchema,
  type Outputs,
  OutputsSchema,
  type RunSpec,
  RunSpecSchema,
  type TaskIdentifier,
  TaskIdentifierSchema,
  type TaskSpec,
  TaskSpecSchema,
} from "../controlplane/idl.ts";

export interface TaskRow {
  id: TaskIdentifier;
  spec: TaskSpec;
  createdAt: number;
  deployedBy: string;
}

export interface RunKey {
  org: string;
  project: string;
  domain: string;
  name: string;
}

export interface RunRow extends RunKey {
  taskId: TaskIdentifier;
  taskType: string;
  inputs: Inputs;
  outputs: Outputs | undefined;
  runSpec: RunSpec;
  phase: ActionPhase;
  error: string | undefined;
  abortReason: string | undefined;
  abortedBy: string | undefined;
  createdBy: string;
  createdAt: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  attempts: number;
}

export const TERMINAL_PHASES = [ActionPhase.SUCCEEDED, ActionPhase.FAILED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT];
const TERMINAL_SQL = TERMINAL_PHASES.join(",");

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  org TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
  spec BLOB NOT NULL, created_at INTEGER NOT NULL, deployed_by TEXT NOT NULL,
  PRIMARY KEY (org, project, domain, name, version)
);
CREATE INDEX IF NOT EXISTS tasks_latest ON tasks (org, project, domain, name, created_at DESC);
CREATE TABLE IF NOT EXISTS runs (
  org TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
  task_id BLOB NOT NULL, task_type TEXT NOT NULL, inputs BLOB NOT NULL, outputs BLOB, run_spec BLOB NOT NULL,
  phase INTEGER NOT NULL CHECK (phase > 0), error TEXT, abort_reason TEXT, aborted_by TEXT,
  created_by TEXT NOT NULL, created_at INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org, project, domain, name)
);
CREATE INDEX IF NOT EXISTS runs_active ON runs (phase) WHERE phase NOT IN (${TERMINAL_SQL});
CREATE INDEX IF NOT EXISTS runs_created ON runs (org, project, domain, created_at DESC);
CREATE TABLE IF NOT EXISTS offloaded_inputs (
  hash TEXT PRIMARY KEY, inputs BLOB NOT NULL, created_at INTEGER NOT NULL
);
`;

type Row = Record<string, unknown>;

export class Store {
  /**
   * The one SQLite connection of the plane. Other stores of the plane (apps, triggers,
   * deliveries) keep their own tables in it so one WAL commit covers everything.
   */
  readonly db: DatabaseSync;
  private readonly stmt: Record<string, StatementSync>;
  private readonly finishHooks: Array<(run: RunRow) => void> = [];

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    this.db.exec(SCHEMA);
    const prepare = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      putTask: prepare(
        `INSERT INTO tasks (org, project, domain, name, version, spec, created_at, deployed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (org, project, domain, name, version) DO UPDATE SET spec = excluded.spec`,
      ),
      getTask: prepare(`SELECT * FROM tasks WHERE org = ? AND project = ? AND domain = ? AND name = ? AND version = ?`),
      listTasks: prepare(
        `SELECT * FROM tasks WHERE org = ? AND project = ? AND domain = ? AND (? IS NULL OR name = ?)
         ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`,
      ),
      insertRun: prepare(
        `INSERT INTO runs (org, project, domain, name, task_id, task_type, inputs, run_spec, phase, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getRun: prepare(`SELECT * FROM runs WHERE org = ? AND project = ? AND domain = ? AND name = ?`),
      listRuns: prepare(
        `SELECT * FROM runs WHERE org = ? AND project = ? AND domain = ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`,
      ),
      activeRuns: prepare(`SELECT * FROM runs WHERE phase NOT IN (${TERMINAL_SQL}) ORDER BY created_at`),
      start: prepare(
        `UPDATE runs SET phase = ?, started_at = ?, attempts = attempts + 1
         WHERE org = ? AND project = ? AND domain = ? AND name = ? AND phase NOT IN (${TERMINAL_SQL})`,
      ),
      requeue: prepare(
        `UPDATE runs SET phase = ? WHERE org = ? AND project = ? AND domain = ? AND name = ? AND phase NOT IN (${TERMINAL_SQL})`,
      ),
      finish: prepare(
        `UPDATE runs SET phase = ?, outputs = ?, error = ?, abort_reason = ?, aborted_by = ?, ended_at = ?
         WHERE org = ? AND project = ? AND domain = ? AND name = ? AND phase NOT IN (${TERMINAL_SQL})`,
      ),
      putInputs: prepare(`INSERT OR IGNORE INTO offloaded_inputs (hash, inputs, created_at) VALUES (?, ?, ?)`),
      getInputs: prepare(`SELECT inputs FROM offloaded_inputs WHERE hash = ?`),
    };
  }

  /** Stores a task version; a version already stored keeps its creation time. */
  putTask(id: TaskIdentifier, spec: TaskSpec, deployedBy: string): void {
    this.stmt.putTask!.run(id.org, id.project, id.domain, id.name, id.version, toBinary(TaskSpecSchema, spec), Date.now(), deployedBy);
  }

  getTask(id: Omit<TaskIdentifier, "$typeName">): TaskRow | undefined {
    const row = this.stmt.getTask!.get(id.org, id.project, id.domain, id.name, id.version) as Row | undefined;
    return row && taskRow(row);
  }

  listTasks(scope: { org: string; project: string; domain: string }, name: string | undefined, limit: number, offset: number): TaskRow[] {
    const rows = this.stmt.listTasks!.all(scope.org, scope.project, scope.domain, name ?? null, name ?? null, limit, offset) as Row[];
    return rows.map(taskRow);
  }

  /** Inserts a new run in QUEUED; false when the name is taken. */
  insertRun(key: RunKey, taskId: TaskIdentifier, taskType: string, inputs: Inputs, runSpec: RunSpec, createdBy: string): boolean {
    try {
      this.stmt.insertRun!.run(
        key.org, key.project, key.domain, key.name,
        toBinary(TaskIdentifierSchema, taskId), taskType, toBinary(InputsSchema, inputs), toBinary(RunSpecSchema, runSpec),
        ActionPhase.QUEUED, createdBy, Date.now(),
      );
      return true;
    } catch (err) {
      if ((err as { errcode?: number }).errcode === 1555 || /UNIQUE constraint/.test(String(err))) return false;
      throw err;
    }
  }

  getRun(key: RunKey): RunRow | undefined {
    const row = this.stmt.getRun!.get(key.org, key.project, key.domain, key.name) as Row | undefined;
    return row && runRow(row);
  }

  listRuns(scope: { org: string; project: string; domain: string }, limit: number, offset: number): RunRow[] {
    return (this.stmt.listRuns!.all(scope.org, scope.project, scope.domain, limit, offset) as Row[]).map(runRow);
  }

  /** Runs that were not terminal, oldest first: what a restart must resume or fail. */
  activeRuns(): RunRow[] {
    return (this.stmt.activeRuns!.all() as Row[]).map(runRow);
  }

  /** QUEUED/…→RUNNING; false when the run already ended (aborted before it started). */
  markRunning(key: RunKey): boolean {
    return this.stmt.start!.run(ActionPhase.RUNNING, Date.now(), key.org, key.project, key.domain, key.name).changes > 0;
  }

  markQueued(key: RunKey): boolean {
    return this.stmt.requeue!.run(ActionPhase.QUEUED, key.org, key.project, key.domain, key.name).changes > 0;
  }

  /**
   * Adds work done in the same transaction as every move of a run to a terminal phase
   * (completion callbacks are recorded there, so no crash can keep the one without the other).
   */
  onFinish(hook: (run: RunRow) => void): void {
    this.finishHooks.push(hook);
  }

  /** Moves a run to a terminal phase once; false when it had already ended. */
  finishRun(
    key: RunKey,
    phase: ActionPhase,
    result: { outputs?: Outputs; error?: string; abortReason?: string; abortedBy?: string },
  ): boolean {
    // A savepoint, not BEGIN: it nests inside a caller's transaction as well.
    this.db.exec("SAVEPOINT finish_run");
    try {
      const changed =
        this.stmt.finish!.run(
          phase,
          result.outputs ? toBinary(OutputsSchema, result.outputs) : null,
          result.error ?? null,
          result.abortReason ?? null,
          result.abortedBy ?? null,
          Date.now(),
          key.org, key.project, key.domain, key.name,
        ).changes > 0;
      if (changed && this.finishHooks.length > 0) {
        const run = this.getRun(key)!;
        for (const hook of this.finishHooks) hook(run);
      }
      this.db.exec("RELEASE finish_run");
      return changed;
    } catch (err) {
      this.db.exec("ROLLBACK TO finish_run; RELEASE finish_run");
      throw err;
    }
  }

  putOffloadedInputs(hash: string, inputs: Inputs): void {
    this.stmt.putInputs!.run(hash, toBinary(InputsSchema, inputs), Date.now());
  }

  getOffloadedInputs(hash: string): Inputs | undefined {
    const row = this.stmt.getInputs!.get(hash) as Row | undefined;
    return row ? fromBinary(InputsSchema, row.inputs as Uint8Array) : undefined;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

function taskRow(row: Row): TaskRow {
  return {
    id: create(TaskIdentifierSchema, {
      org: row.org as string,
      project: row.project as string,
      domain: row.domain as string,
      name: row.name as string,
      version: row.version as string,
    }),
    spec: fromBinary(TaskSpecSchema, row.spec as Uint8Array),
    createdAt: Number(row.created_at),
    deployedBy: row.deployed_by as string,
  };
}

const optionalNumber = (value: unknown) => (value === null || value === undefined ? undefined : Number(value));
const optionalString = (value: unknown) => (value === null || value === undefined ? undefined : String(value));

function runRow(row: Row): RunRow {
  return {
    org: row.org as string,
    project: row.project as string,
    domain: row.domain as string,
    name: row.name as string,
    taskId: fromBinary(TaskIdentifierSchema, row.task_id as Uint8Array),
    taskType: row.task_type as string,
    inputs: fromBinary(InputsSchema, row.inputs as Uint8Array),
    outputs: row.outputs ? fromBinary(OutputsSchema, row.outputs as Uint8Array) : undefined,
    runSpec: fromBinary(RunSpecSchema, row.run_spec as Uint8Array),
    phase: Number(row.phase) as ActionPhase,
    error: optionalString(row.error),
    abortReason: optionalString(row.abort_reason),
    abortedBy: optionalString(row.aborted_by),
    createdBy: row.created_by as string,
    createdAt: Number(row.created_at),
    startedAt: optionalNumber(row.started_at),
    endedAt: optionalNumber(row.ended_at),
    attempts: Number(row.attempts),
  };
}
