// Cron firing of triggers in the embedded plane. Every active trigger with a schedule has
// a croner job; each firing starts a run of the trigger's task version with the trigger's
// inputs through launchRun, the path CreateRun takes. Deactivating a trigger stops its
// job, and close() stops them all.
import { clone, create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Cron } from "croner";
import { InputsSchema, RunSpecSchema, type TriggerDetails, TriggerDetailsSchema, TriggerStatusSchema } from "../controlplane/idl.ts";
import type { PlaneContext } from "./plane-context.ts";
import { launchRun, newRunName } from "./services/run.ts";
import { type TriggerKey, triggerKeyString, type TriggerStore } from "./trigger-store.ts";

/** The cron expression and time zone of a trigger's schedule, if it has a cron one. */
function cronOf(details: TriggerDetails): { expression: string; timezone: string | undefined } | undefined {
  const automation = details.automationSpec?.automation;
  if (automation?.case !== "schedule") return undefined;
  const expression = automation.value.expression;
  if (expression.case === "cronExpression") return { expression: expression.value, timezone: undefined };
  if (expression.case === "cron") return { expression: expression.value.expression, timezone: expression.value.timezone || undefined };
  return undefined;
}

/** The subject runs started by a trigger are recorded as created by. */
export const triggerSubject = (key: TriggerKey) => `trigger:${key.taskName}/${key.name}`;

export class TriggerScheduler {
  private readonly jobs = new Map<string, Cron>();
  private closed = false;

  constructor(
    private readonly plane: PlaneContext,
    private readonly triggers: TriggerStore,
  ) {}

  /** Schedules every stored active trigger: at start, once the catalog is loaded. */
  start(): void {
    for (const details of this.triggers.active()) this.sync(details);
  }

  /** Number of scheduled jobs; lets operators and tests see that deactivation stops one. */
  scheduled(): number {
    return this.jobs.size;
  }

  /** Makes a trigger's job match its stored state: scheduled when active, gone when not. */
  sync(details: TriggerDetails): void {
    const key = details.id!.name!;
    const id = triggerKeyString(key);
    this.jobs.get(id)?.stop();
    this.jobs.delete(id);
    if (this.closed || !details.spec?.active) return;
    const schedule = cronOf(details);
    if (!schedule) {
      this.plane.log.warn({ trigger: id }, "trigger has no cron schedule; this control plane does not fire it");
      return;
    }
    const job = new Cron(
      schedule.expression,
      {
        name: id,
        timezone: schedule.timezone,
        // A firing that is still running when the next is due is skipped, not stacked.
        protect: true,
        catch: (err) => this.plane.log.warn({ trigger: id, error: (err as Error).message }, "trigger firing failed"),
      },
      () => this.fire(key),
    );
    this.jobs.set(id, job);
  }

  /** One firing: a run of the trigger's task in the trigger's project and domain. */
  private fire(key: TriggerKey): void {
    const details = this.triggers.get(key);
    if (this.closed || !details?.spec?.active) return;
    const task = this.plane.store.getTask({ org: key.org, project: key.project, domain: key.domain, name: key.taskName, version: details.spec.taskVersion });
    if (!task) throw new Error(`task ${key.taskName} version ${details.spec.taskVersion} is not deployed`);
    const runKey = { org: key.org, project: key.project, domain: key.domain, name: newRunName() };
    launchRun(this.plane, runKey, task, details.spec.inputs ?? create(InputsSchema), details.spec.runSpec ?? create(RunSpecSchema), triggerSubject(key));
    const fired = clone(TriggerDetailsSchema, details);
    fired.status ??= create(TriggerStatusSchema);
    fired.status.triggeredAt = timestampNow();
    this.triggers.put(fired);
    this.plane.log.info({ trigger: triggerKeyString(key), run: runKey.name }, "trigger fired");
  }

  close(): void {
    this.closed = true;
    for (const job of this.jobs.values()) job.stop();
    this.jobs.clear();
  }
}
