// How a run reads to callers, shared by every group that shows runs (run, prefetch, build):
// the status answer, the inputs/outputs answer, and reading a run after a check of its
// task, each written once.
import { Type } from "typebox";
import type { ControlPlane, Credentials } from "./controlplane/client.ts";
import { runUrl } from "./controlplane/console.ts";
import type { ActionDetails, RunDetails, TaskIdentifier } from "./controlplane/idl.ts";
import { literalsToJson } from "./controlplane/interface.ts";
import { isTerminal, phaseName } from "./controlplane/phase.ts";
import { badGateway } from "./errors.ts";

export const Phase = Type.String({
  description: "Lowercase phase: queued, waiting_for_resources, initializing, running, paused, succeeded, failed, aborted, timed_out, recovered",
  examples: ["succeeded"],
});

export const RunStatusBody = Type.Object({
  name: Type.String(),
  phase: Phase,
  url: Type.String(),
  done: Type.Boolean(),
  error: Type.Optional(Type.String({ description: "Why the run failed; only on failed runs" })),
  progress: Type.Optional(Type.String({ description: "The latest progress the control plane reported for the run" })),
}, {
  examples: [{ name: "r3kx9q2m1", phase: "succeeded", url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r3kx9q2m1", done: true }],
});

const JsonObjectOrNull = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]);
export const RunIoBody = Type.Object(
  { name: Type.String(), inputs: JsonObjectOrNull, outputs: JsonObjectOrNull },
  { examples: [{ name: "r3kx9q2m1", inputs: { x: 3, msg: "hello" }, outputs: { x: 3, msg: "hello" } }] },
);

export const AbortBody = Type.Object(
  { name: Type.String(), status: Type.Literal("abort_requested"), reason: Type.String() },
  { examples: [{ name: "r3kx9q2m1", status: "abort_requested", reason: "not needed" }] },
);

/** The parts of a run's root action a status is made of (RunDetails.action or Run.action). */
type ActionView = Pick<ActionDetails, "id" | "status"> & Partial<Pick<ActionDetails, "result" | "attempts">>;

/** `{name, phase, url, done}` (and why it failed, and its progress) of a run's root action. */
export function runStatus(consoleBase: string, action: ActionView | undefined) {
  const id = action?.id?.run;
  const raw = action?.status?.phase ?? 0;
  const phase = phaseName(raw);
  if (!id || phase === undefined) throw badGateway("the control plane answered with a run without a name or phase");
  const result = action?.result;
  const progress = action?.attempts?.at(-1)?.clusterEvents.at(-1)?.message;
  return {
    name: id.name,
    phase,
    url: runUrl(consoleBase, id.domain, id.project, id.name),
    done: isTerminal(raw),
    // Beyond the reference: why a run failed, so callers need not open the console.
    ...(result?.case === "errorInfo" ? { error: result.value.message } : {}),
    ...(progress ? { progress } : {}),
  };
}

/** The task a run runs, from its details. */
export function runTask(details: RunDetails): TaskIdentifier | undefined {
  const spec = details.action?.metadata?.spec;
  return spec?.case === "task" ? spec.value.id : undefined;
}

/**
 * A run's details after `check` has accepted its task; `check` throws the answer a caller
 * gets for a run it may not see through this endpoint.
 */
export async function checkedRun(
  controlPlane: ControlPlane,
  creds: Credentials,
  name: string,
  check: (task: TaskIdentifier | undefined) => void,
): Promise<RunDetails> {
  const details = await controlPlane.getRun(creds, name);
  check(runTask(details));
  return details;
}

/** Inputs of a run, and its outputs once it has succeeded (null before). */
export async function runInputsOutputs(controlPlane: ControlPlane, creds: Credentials, details: RunDetails) {
  const data = await controlPlane.getRunData(creds, details);
  return {
    inputs: data.inputs ? literalsToJson(data.inputs.literals) : null,
    outputs: data.outputs ? literalsToJson(data.outputs.literals) : null,
  };
}

/** The outputs an ended run answers with: its outputs when it succeeded, else null (no data call). */
export async function endedRunOutputs(controlPlane: ControlPlane, creds: Credentials, details: RunDetails, phase: string) {
  return phase === "succeeded" ? (await runInputsOutputs(controlPlane, creds, details)).outputs : null;
}

/**
 * Follows a run with WatchRunDetails until it ends or `boundMs` passes, whichever is first;
 * answers the last details seen and whether the run had ended. `signal` (the caller went
 * away, the gateway is closing) stops the wait early, as the bound does.
 */
export async function waitForRun(
  controlPlane: ControlPlane,
  creds: Credentials,
  name: string,
  boundMs: number,
  signal: AbortSignal,
): Promise<{ details: RunDetails | undefined; ended: boolean }> {
  const stop = AbortSignal.any([AbortSignal.timeout(boundMs), signal]);
  let last: RunDetails | undefined;
  try {
    for await (const details of controlPlane.watchRun(creds, name, stop)) {
      last = details;
      if (isTerminal(details.action?.status?.phase ?? 0)) return { details, ended: true };
    }
  } catch (err) {
    if (!stop.aborted) throw err;
  }
  return { details: last, ended: false };
}
