// RunService: create runs of deployed tasks, read, watch, list and abort them. A run is
// one root action ("a0") executed by the connector of its task type.
import { on } from "node:events";
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  ActionPhase,
  type Inputs,
  InputsSchema,
  type NamedLiteral,
  type RunService,
  type RunSpec,
  RunSpecSchema,
  type TaskSpec,
} from "../../controlplane/idl.ts";
import { subjectKey } from "../auth.ts";
import { checkNotificationSettings } from "../callbacks.ts";
import { runKeyString } from "../executor.ts";
import { invalid, missing, nextToken, page, rootActionRun, runKey, type PlaneContext } from "../plane-context.ts";
import { isTerminal } from "../../controlplane/phase.ts";
import type { RunKey, RunRow, TaskRow } from "../store.ts";
import { runDetails, runSummary } from "../views.ts";
import { actionData } from "./dataproxy.ts";

const NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** Run names as Flyte 2 makes them: a letter and lowercase alphanumerics, 20 long. */
export function newRunName(): string {
  const bytes = randomBytes(19);
  let name = "r";
  for (const b of bytes) name += NAME_ALPHABET[b % NAME_ALPHABET.length];
  return name;
}

/** The inputs a run starts with: the caller's, checked against the interface, plus defaults. */
function completeInputs(spec: TaskSpec, inputs: Inputs): Inputs {
  const declared = spec.taskTemplate?.interface?.inputs?.variables.map((v) => v.key) ?? [];
  const given = new Map(inputs.literals.map((l) => [l.name, l]));
  const unknown = [...given.keys()].filter((name) => !declared.includes(name));
  if (unknown.length > 0) throw invalid(`unknown inputs: ${unknown.join(", ")}`);
  const defaults = new Map(spec.defaultInputs.map((d) => [d.name, d.parameter?.behavior]));
  const literals: NamedLiteral[] = [];
  for (const name of declared) {
    const literal = given.get(name);
    if (literal) literals.push(literal);
    else {
      const behavior = defaults.get(name);
      if (behavior?.case !== "default") throw invalid(`required input ${name} is missing`);
      literals.push({ name, value: behavior.value } as NamedLiteral);
    }
  }
  return create(InputsSchema, { literals, context: inputs.context });
}


/**
 * Stores a run of a deployed task and queues it for the executor: the one way a run
 * starts, whether a caller's CreateRun or a trigger's schedule asks for it.
 */
export function launchRun(plane: PlaneContext, key: RunKey, task: TaskRow, inputs: Inputs, runSpec: RunSpec, createdBy: string): RunRow {
  const type = task.spec.taskTemplate?.type ?? "";
  checkNotificationSettings(runSpec);
  if (!plane.store.insertRun(key, task.id, type, completeInputs(task.spec, inputs), runSpec, createdBy)) {
    throw new ConnectError(`run ${key.name} already exists`, Code.AlreadyExists);
  }
  plane.executor.submit(key);
  return plane.store.getRun(key)!;
}

export function runService(plane: PlaneContext): Partial<ServiceImpl<typeof RunService>> {
  const { store, executor } = plane;

  const loadRun = (key: RunKey): RunRow => {
    const run = store.getRun(key);
    if (!run) throw missing(`run ${key.name} not found`);
    return run;
  };
  const details = (run: RunRow) => runDetails(run, store.getTask(run.taskId)?.spec, plane.progress?.latest(run));

  /** Current details, then every change, until the run ends or the caller goes away. */
  async function* watch(key: RunKey, context: HandlerContext) {
    // Listen before the first read so no change between the two is missed.
    const changes = on(executor.events, runKeyString(key), { signal: AbortSignal.any([context.signal, executor.closed]) });
    try {
      let last: ActionPhase | undefined;
      for (;;) {
        const run = loadRun(key);
        if (run.phase !== last) {
          last = run.phase;
          yield run;
        }
        if (isTerminal(run.phase)) return;
        await changes.next();
      }
    } finally {
      await changes.return?.();
    }
  }

  return {
    createRun(req, context) {
      let key: RunKey;
      if (req.id.case === "runId") key = runKey(req.id.value);
      else if (req.id.case === "projectId") {
        const project = req.id.value;
        if (!project.name || !project.domain) throw invalid("project_id needs name and domain");
        key = { org: project.organization, project: project.name, domain: project.domain, name: newRunName() };
      } else throw invalid("run_id or project_id is required");

      if (req.task.case !== "taskId") {
        throw new ConnectError("runs need a deployed task (task_id); deploy the task first", Code.Unimplemented);
      }
      const task = store.getTask(req.task.value);
      if (!task) throw missing(`task ${req.task.value.name} version ${req.task.value.version} not found`);

      let inputs: Inputs;
      if (req.inputWrapper.case === "inputs") inputs = req.inputWrapper.value;
      else if (req.inputWrapper.case === "offloadedInputData") {
        const stored = store.getOffloadedInputs(req.inputWrapper.value.inputsHash);
        if (!stored) throw invalid("offloaded inputs not found; upload them with UploadInputs first");
        inputs = stored;
      } else inputs = create(InputsSchema);

      return { run: runSummary(launchRun(plane, key, task, inputs, req.runSpec ?? create(RunSpecSchema), context.values.get(subjectKey))) };
    },

    abortRun(req, context) {
      const key = runKey(req.runId);
      if (loadRun(key).phase === ActionPhase.ABORTED) return {}; // aborting twice is fine
      if (!executor.abort(key, req.reason ?? "", context.values.get(subjectKey))) {
        throw new ConnectError(`run ${key.name} has already finished`, Code.FailedPrecondition);
      }
      return {};
    },

    getRunDetails(req) {
      return { details: details(loadRun(runKey(req.runId))) };
    },

    async *watchRunDetails(req, context) {
      for await (const run of watch(runKey(req.runId), context)) yield { details: details(run) };
    },

    getActionDetails(req) {
      return { details: details(loadRun(rootActionRun(req.actionId))).action };
    },

    async *watchActionDetails(req, context) {
      for await (const run of watch(rootActionRun(req.actionId), context)) yield { details: details(run).action };
    },

    getActionData(req) {
      return actionData(plane, req.actionId);
    },

    listRuns(req) {
      if (req.scopeBy.case !== "projectId") throw new ConnectError("list runs by project_id", Code.Unimplemented);
      const project = req.scopeBy.value;
      const { limit, offset } = page(req.request);
      const runs = store.listRuns({ org: project.organization, project: project.name, domain: project.domain }, limit, offset);
      return { runs: runs.map(runSummary), token: nextToken(runs.length, limit, offset) };
    },
  };
}
