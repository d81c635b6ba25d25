// The embedded plane's apps table, in the plane's one SQLite connection: each app is
// kept as its flyteidl2 App message, keyed by org/project/domain/name.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type App, type AppIdentifier, AppSchema } from "../controlplane/idl.ts";

export type AppKey = Omit<AppIdentifier, "$typeName">;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS apps (
  org TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
  app BLOB NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (org, project, domain, name)
);
`;

export class AppStore {
  private readonly stmt: Record<"put" | "get" | "list" | "all", StatementSync>;

  constructor(db: DatabaseSync) {
    db.exec(SCHEMA);
    this.stmt = {
      put: db.prepare(
        `INSERT INTO apps (org, project, domain, name, app, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (org, project, domain, name) DO UPDATE SET app = excluded.app, updated_at = excluded.updated_at`,
      ),
      get: db.prepare(`SELECT app FROM apps WHERE org = ? AND project = ? AND domain = ? AND name = ?`),
      list: db.prepare(
        `SELECT app FROM apps WHERE org = ? AND (? IS NULL OR (project = ? AND domain = ?)) ORDER BY project, domain, name LIMIT ? OFFSET ?`,
      ),
      all: db.prepare(`SELECT app FROM apps`),
    };
  }

  get(key: AppKey): App | undefined {
    const row = this.stmt.get.get(key.org, key.project, key.domain, key.name) as { app: Uint8Array } | undefined;
    return row && fromBinary(AppSchema, row.app);
  }

  put(app: App): void {
    const id = app.metadata!.id!;
    this.stmt.put.run(id.org, id.project, id.domain, id.name, toBinary(AppSchema, app), Date.now());
  }

  /** Apps of an org, or of one project/domain in it. */
  list(scope: { org: string; project?: string; domain?: string }, limit: number, offset: number): App[] {
    const project = scope.project ?? null;
    const rows = this.stmt.list.all(scope.org, project, project, scope.domain ?? null, limit, offset) as Array<{ app: Uint8Array }>;
    return rows.map((row) => fromBinary(AppSchema, row.app));
  }

  all(): App[] {
    return (this.stmt.all.all() as Array<{ app: Uint8Array }>).map((row) => fromBinary(AppSchema, row.app));
  }
}
