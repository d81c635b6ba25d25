// Run progress of the embedded control plane: the latest sentence a connector reported
// for a run, kept in its own table of the plane's database so it survives a restart and
// shows in the run's details (as the message of the attempt's latest cluster event, the
// field where a Flyte 2 plane tells what an attempt is doing).
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RunKey } from "./store.ts";

export interface RunProgress {
  message: string;
  updatedAt: number;
}

export class ProgressStore {
  private readonly put: StatementSync;
  private readonly get: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS run_progress (
      org TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
      message TEXT NOT NULL, updated_at INTEGER NOT NULL,
      PRIMARY KEY (org, project, domain, name)
    )`);
    this.put = db.prepare(
      `INSERT INTO run_progress (org, project, domain, name, message, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (org, project, domain, name) DO UPDATE SET message = excluded.message, updated_at = excluded.updated_at`,
    );
    this.get = db.prepare(`SELECT message, updated_at FROM run_progress WHERE org = ? AND project = ? AND domain = ? AND name = ?`);
  }

  set(key: RunKey, message: string): void {
    this.put.run(key.org, key.project, key.domain, key.name, message.slice(0, 1024), Date.now());
  }

  latest(key: RunKey): RunProgress | undefined {
    const row = this.get.get(key.org, key.project, key.domain, key.name) as { message: string; updated_at: number } | undefined;
    return row && { message: row.message, updatedAt: Number(row.updated_at) };
  }
}
