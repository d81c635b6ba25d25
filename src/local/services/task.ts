// TaskService: deploy task versions, read one, list them ("latest" = newest created).
import { equals } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Filter_Function, type TaskService, TaskSpecSchema, type TaskIdentifier, type TaskSpec } from "../../controlplane/idl.ts";
import { subjectKey } from "../auth.ts";
import { invalid, missing, nextToken, page, type PlaneContext } from "../plane-context.ts";
import type { TaskRow } from "../store.ts";

/** Checks a task before it is stored: an id, a known type, a valid configuration. */
export function checkTask(plane: PlaneContext, id: TaskIdentifier | undefined, spec: TaskSpec | undefined): asserts id is TaskIdentifier {
  if (!id || !id.project || !id.domain || !id.name || !id.version) throw invalid("task_id needs project, domain, name and version");
  const type = spec?.taskTemplate?.type ?? "";
  const connector = plane.executor.connector(type);
  if (!connector) throw invalid(`task type "${type}" has no connector in this control plane`);
  try {
    connector.validateConfig?.(spec?.taskTemplate?.custom ?? {}, spec);
  } catch (err) {
    throw invalid(`task ${id.name}: ${(err as Error).message}`);
  }
}

const metadata = (row: TaskRow) => ({
  shortName: row.spec.shortName || row.id.name,
  deployedAt: timestampFromMs(row.createdAt),
  deployedBy: { principal: { case: "user" as const, value: { id: { subject: row.deployedBy } } } },
  shortDescription: row.spec.documentation?.shortDescription ?? "",
});

export const taskService = (plane: PlaneContext): Partial<ServiceImpl<typeof TaskService>> => ({
  deployTask(req, context) {
    checkTask(plane, req.taskId, req.spec);
    const existing = plane.store.getTask(req.taskId);
    if (existing) {
      // Versions are immutable: the same spec again is a no-op, a different one a conflict.
      if (req.spec && equals(TaskSpecSchema, existing.spec, req.spec)) return {};
      throw new ConnectError(`task ${req.taskId.name} version ${req.taskId.version} already exists with a different spec`, Code.AlreadyExists);
    }
    plane.store.putTask(req.taskId, req.spec!, context.values.get(subjectKey));
    return {};
  },

  getTaskDetails(req) {
    const row = req.taskId && plane.store.getTask(req.taskId);
    if (!row) throw missing("task not found");
    return { details: { taskId: row.id, metadata: metadata(row), spec: row.spec } };
  },

  listTasks(req) {
    if (req.scopeBy.case !== "projectId") throw invalid("list tasks by project_id");
    const project = req.scopeBy.value;
    let name: string | undefined;
    for (const filter of req.request?.filters ?? []) {
      if (filter.field === "name" && filter.function === Filter_Function.EQUAL && filter.values.length === 1) name = filter.values[0];
      else throw new ConnectError(`filter on "${filter.field}" is not supported`, Code.Unimplemented);
    }
    const sort = req.request?.sortBy;
    if (sort && sort.key !== "created_at") throw new ConnectError(`sorting by "${sort.key}" is not supported`, Code.Unimplemented);
    const { limit, offset } = page(req.request);
    const rows = plane.store.listTasks({ org: project.organization, project: project.name, domain: project.domain }, name, limit, offset);
    return { tasks: rows.map((row) => ({ taskId: row.id, metadata: metadata(row) })), token: nextToken(rows.length, limit, offset) };
  },

  listVersions(req) {
    const taskName = req.taskName;
    if (!taskName?.name) throw invalid("task_name is required");
    const { limit, offset } = page(req.request);
    const rows = plane.store.listTasks({ org: taskName.org, project: taskName.project, domain: taskName.domain }, taskName.name, limit, offset);
    return {
      versions: rows.map((row) => ({ version: row.id.version, deployedAt: timestampFromMs(row.createdAt) })),
      token: nextToken(rows.length, limit, offset),
    };
  },
});
