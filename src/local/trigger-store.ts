// The embedded plane's triggers table, in the plane's one SQLite connection: each trigger
// is kept as its flyteidl2 TriggerDetails message, keyed by its task and name.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type TriggerDetails, TriggerDetailsSchema, type TriggerName } from "../controlplane/idl.ts";

export type TriggerKey = Omit<TriggerName, "$typeName">;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS triggers (
  org TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, task_name TEXT NOT NULL, name TEXT NOT NULL,
  details BLOB NOT NULL, active INTEGER NOT NULL,
  PRIMARY KEY (org, project, domain, task_name, name)
);
`;

export const triggerKeyString = (key: TriggerKey) => `${key.org}/${key.project}/${key.domain}/${key.taskName}/${key.name}`;

export class TriggerStore {
  private readonly stmt: Record<"put" | "get" | "list" | "active", StatementSync>;

  constructor(db: DatabaseSync) {
    db.exec(SCHEMA);
    this.stmt = {
      put: db.prepare(
        `INSERT INTO triggers (org, project, domain, task_name, name, details, active) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (org, project, domain, task_name, name) DO UPDATE SET details = excluded.details, active = excluded.active`,
      ),
      get: db.prepare(`SELECT details FROM triggers WHERE org = ? AND project = ? AND domain = ? AND task_name = ? AND name = ?`),
      list: db.prepare(
        `SELECT details FROM triggers WHERE org = ? AND (? IS NULL OR (project = ? AND domain = ?)) AND (? IS NULL OR task_name = ?)
         ORDER BY project, domain, task_name, name LIMIT ? OFFSET ?`,
      ),
      active: db.prepare(`SELECT details FROM triggers WHERE active = 1`),
    };
  }

  get(key: TriggerKey): TriggerDetails | undefined {
    const row = this.stmt.get.get(key.org, key.project, key.domain, key.taskName, key.name) as { details: Uint8Array } | undefined;
    return row && fromBinary(TriggerDetailsSchema, row.details);
  }

  put(details: TriggerDetails): void {
    const key = details.id!.name!;
    this.stmt.put.run(key.org, key.project, key.domain, key.taskName, key.name, toBinary(TriggerDetailsSchema, details), details.spec?.active ? 1 : 0);
  }

  /** Triggers of an org, optionally of one project/domain and one task. */
  list(scope: { org: string; project?: string; domain?: string; taskName?: string }, limit: number, offset: number): TriggerDetails[] {
    const project = scope.project ?? null;
    const task = scope.taskName ?? null;
    const rows = this.stmt.list.all(scope.org, project, project, scope.domain ?? null, task, task, limit, offset) as Array<{ details: Uint8Array }>;
    return rows.map((row) => fromBinary(TriggerDetailsSchema, row.details));
  }

  active(): TriggerDetails[] {
    return (this.stmt.active.all() as Array<{ details: Uint8Array }>).map((row) => fromBinary(TriggerDetailsSchema, row.details));
  }
}
