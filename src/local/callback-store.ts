// Completion-callback deliveries of the embedded control plane, one row per rule that a
// run's end matched, in the plane's database. A row is written in the transaction that
// ends the run and keeps its rendered request, so a delivery outlives restarts and every
// attempt sends the same bytes under the same webhook id.
import { randomBytes } from "node:crypto";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RenderedDelivery } from "./callback-template.ts";
import type { RunKey } from "./store.ts";

export type DeliveryState = "pending" | "delivered" | "given_up";

export interface CallbackDelivery extends RenderedDelivery {
  id: string;
  run: RunKey;
  attempts: number;
  nextAttemptAt: number;
  state: DeliveryState;
  lastError: string | undefined;
}

type Row = Record<string, unknown>;

export class CallbackStore {
  private readonly stmt: Record<string, StatementSync>;

  constructor(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS callback_deliveries (
      id TEXT PRIMARY KEY,
      org TEXT NOT NULL, project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
      url TEXT NOT NULL, method TEXT NOT NULL, headers TEXT NOT NULL, body TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'given_up')), last_error TEXT,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending';`);
    const prepare = (sql: string) => db.prepare(sql);
    this.stmt = {
      insert: prepare(
        `INSERT INTO callback_deliveries (id, org, project, domain, name, url, method, headers, body, next_attempt_at, state, last_error, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      due: prepare(`SELECT * FROM callback_deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`),
      nextDue: prepare(`SELECT MIN(next_attempt_at) AS at FROM callback_deliveries WHERE state = 'pending'`),
      pending: prepare(`SELECT COUNT(*) AS n FROM callback_deliveries WHERE state = 'pending'`),
      ofRun: prepare(`SELECT * FROM callback_deliveries WHERE org = ? AND project = ? AND domain = ? AND name = ? ORDER BY created_at, id`),
      claim: prepare(`UPDATE callback_deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'`),
      unclaim: prepare(`UPDATE callback_deliveries SET attempts = attempts - 1, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'`),
      settle: prepare(`UPDATE callback_deliveries SET state = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?`),
    };
  }

  /** Records a delivery to make; `problem` records one that can never be made, as given up. */
  add(run: RunKey, delivery: RenderedDelivery, problem?: string): string {
    const id = randomBytes(15).toString("base64url");
    const now = Date.now();
    this.stmt.insert!.run(
      id, run.org, run.project, run.domain, run.name,
      delivery.url, delivery.method, JSON.stringify(delivery.headers), delivery.body,
      now, problem === undefined ? "pending" : "given_up", problem ?? null, now, now,
    );
    return id;
  }

  /** Pending deliveries whose next attempt is due, earliest first. */
  due(now: number, limit: number): CallbackDelivery[] {
    return (this.stmt.due!.all(now, limit) as Row[]).map(deliveryRow);
  }

  /** When the earliest pending delivery is due; undefined when none is pending. */
  nextDue(): number | undefined {
    const row = this.stmt.nextDue!.get() as { at: number | null } | undefined;
    return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
  }

  pendingCount(): number {
    return Number((this.stmt.pending!.get() as { n: number }).n);
  }

  ofRun(run: RunKey): CallbackDelivery[] {
    return (this.stmt.ofRun!.all(run.org, run.project, run.domain, run.name) as Row[]).map(deliveryRow);
  }

  /**
   * Counts an attempt before it is made and moves the next one to `retryAt`: should the
   * process die mid-attempt, the delivery is tried again then, not lost and not doubled now.
   */
  claim(id: string, retryAt: number): boolean {
    return this.stmt.claim!.run(retryAt, Date.now(), id).changes > 0;
  }

  /** Takes back an attempt that was cut short by the plane stopping: it is due again at once. */
  unclaim(id: string): void {
    const now = Date.now();
    this.stmt.unclaim!.run(now, now, id);
  }

  delivered(id: string): void {
    const now = Date.now();
    this.stmt.settle!.run("delivered", now, null, now, id);
  }

  retryAt(id: string, at: number, error: string): void {
    this.stmt.settle!.run("pending", at, error, Date.now(), id);
  }

  giveUp(id: string, error: string): void {
    const now = Date.now();
    this.stmt.settle!.run("given_up", now, error, now, id);
  }
}

function deliveryRow(row: Row): CallbackDelivery {
  return {
    id: row.id as string,
    run: { org: row.org as string, project: row.project as string, domain: row.domain as string, name: row.name as string },
    url: row.url as string,
    method: row.method as string,
    headers: JSON.parse(row.headers as string) as Record<string, string>,
    body: row.body as string,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    state: row.state as DeliveryState,
    lastError: row.last_error === null || row.last_error === undefined ? undefined : String(row.last_error),
  };
}
