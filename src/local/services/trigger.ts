// TriggerService: read and list triggers, and activate or pause them with UpdateTriggers,
// as flyte-sdk's remote Trigger does. Triggers come from the catalog (declareTrigger);
// the scheduler fires the active ones.
import { clone, create, equals } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { inputsFromJson } from "../../controlplane/interface.ts";
import {
  type Inputs,
  type TriggerDetails,
  TriggerAutomationSpecSchema,
  TriggerAutomationSpecType,
  TriggerDetailsSchema,
  TriggerMetadataSchema,
  TriggerSchema,
  type TriggerName,
  type TriggerService,
  TriggerSpecSchema,
  TriggerStatusSchema,
} from "../../controlplane/idl.ts";
import { subjectKey } from "../auth.ts";
import { CatalogError, type CatalogTrigger } from "../catalog.ts";
import { invalid, missing, nextToken, page, type PlaneContext } from "../plane-context.ts";
import type { TriggerScheduler } from "../trigger-scheduler.ts";
import type { TriggerKey, TriggerStore } from "../trigger-store.ts";
import { identity } from "../views.ts";

function triggerKey(name: TriggerName | undefined): TriggerKey {
  if (!name?.project || !name.domain || !name.taskName || !name.name) throw invalid("trigger name needs project, domain, task_name and name");
  return { org: name.org, project: name.project, domain: name.domain, taskName: name.taskName, name: name.name };
}

const summary = (details: TriggerDetails) =>
  create(TriggerSchema, {
    id: details.id,
    metadata: details.metadata,
    status: details.status,
    active: details.spec?.active ?? false,
    automationSpec: details.automationSpec,
  });

/**
 * Deploys a catalog trigger: bound to the named (or latest) version of its task, with
 * its inputs checked against the task's interface and completed with the task's
 * defaults. The same entry again changes nothing; a changed one is a new revision.
 */
export function declareTrigger(plane: PlaneContext, triggers: TriggerStore, entry: CatalogTrigger): void {
  const where = `catalog trigger ${entry.task}/${entry.name}`;
  const scope = { org: entry.org, project: entry.project, domain: entry.domain };
  const task = entry.version
    ? plane.store.getTask({ ...scope, name: entry.task, version: entry.version })
    : plane.store.listTasks(scope, entry.task, 1, 0)[0];
  if (!task) throw new CatalogError(`${where}: task ${entry.task}${entry.version ? ` version ${entry.version}` : ""} is not deployed in ${entry.project}/${entry.domain}`);
  let inputs: Inputs;
  try {
    inputs = inputsFromJson(task.spec, entry.inputs);
  } catch (err) {
    throw new CatalogError(`${where}: ${(err as Error).message}`);
  }
  const spec = create(TriggerSpecSchema, { inputs, runSpec: {}, active: entry.active, taskVersion: task.id.version, description: entry.description });
  const automationSpec = create(TriggerAutomationSpecSchema, {
    type: TriggerAutomationSpecType.TYPE_SCHEDULE,
    automation: {
      case: "schedule",
      value: {
        expression: entry.timezone
          ? { case: "cron", value: { expression: entry.schedule, timezone: entry.timezone } }
          : { case: "cronExpression", value: entry.schedule },
      },
    },
  });
  const key = { ...scope, taskName: entry.task, name: entry.name };
  const existing = triggers.get(key);
  if (existing?.spec && existing.automationSpec && equals(TriggerSpecSchema, existing.spec, spec) && equals(TriggerAutomationSpecSchema, existing.automationSpec, automationSpec)) {
    return;
  }
  const now = timestampNow();
  triggers.put(
    create(TriggerDetailsSchema, {
      id: { name: key, revision: (existing?.id?.revision ?? 0n) + 1n },
      metadata: { deployedBy: identity("catalog"), updatedBy: identity("catalog") },
      spec,
      status: { deployedAt: existing?.status?.deployedAt ?? now, updatedAt: now, triggeredAt: existing?.status?.triggeredAt },
      automationSpec,
      description: entry.description,
    }),
  );
}

export function triggerService(triggers: TriggerStore, scheduler: TriggerScheduler): Partial<ServiceImpl<typeof TriggerService>> {
  const load = (key: TriggerKey): TriggerDetails => {
    const details = triggers.get(key);
    if (!details) throw missing(`trigger ${key.name} of task ${key.taskName} not found`);
    return details;
  };

  return {
    getTriggerDetails(req) {
      return { trigger: load(triggerKey(req.name)) };
    },

    listTriggers(req) {
      const { limit, offset } = page(req.request);
      const scope = req.scopeBy;
      let found: TriggerDetails[];
      if (scope.case === "org") found = triggers.list({ org: scope.value }, limit, offset);
      else if (scope.case === "projectId") {
        found = triggers.list({ org: scope.value.organization, project: scope.value.name, domain: scope.value.domain }, limit, offset);
      } else if (scope.case === "taskName" || scope.case === "taskId") {
        const { org, project, domain, name } = scope.value;
        found = triggers.list({ org, project, domain, taskName: name }, limit, offset);
        if (scope.case === "taskId") found = found.filter((t) => t.spec?.taskVersion === scope.value.version);
      } else throw invalid("list triggers by org, project_id, task_name or task_id");
      return { triggers: found.map(summary), token: nextToken(found.length, limit, offset) };
    },

    updateTriggers(req, context) {
      if (req.names.length === 0) throw invalid("names must name at least one trigger");
      // Every trigger is looked up before any changes, so an unknown name changes nothing.
      const found = req.names.map((name) => load(triggerKey(name)));
      const subject = context.values.get(subjectKey);
      for (const details of found) {
        if (details.spec?.active === req.active) continue;
        const updated = clone(TriggerDetailsSchema, details);
        updated.spec!.active = req.active;
        updated.id!.revision += 1n;
        updated.metadata = create(TriggerMetadataSchema, { deployedBy: updated.metadata?.deployedBy, updatedBy: identity(subject) });
        updated.status ??= create(TriggerStatusSchema);
        updated.status.updatedAt = timestampNow();
        triggers.put(updated);
        scheduler.sync(updated);
      }
      return {};
    },
  };
}
