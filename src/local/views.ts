// Stored runs as the flyteidl2 messages RunService answers with.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ActionDetailsSchema,
  ActionPhase,
  type ActionDetails,
  ErrorInfo_Kind,
  type Run,
  type RunDetails,
  RunDetailsSchema,
  RunSchema,
  type TaskSpec,
} from "../controlplane/idl.ts";
import type { RunProgress } from "./progress.ts";
import type { RunRow } from "./store.ts";

/** The root action of every run is named "a0", as in Flyte 2. */
export const ROOT_ACTION = "a0";

/** A subject as the EnrichedIdentity flyteidl2 reports who did something with. */
export const identity = (subject: string) => ({ principal: { case: "user" as const, value: { id: { subject }, spec: { userHandle: subject } } } });

function actionDetails(run: RunRow, spec: TaskSpec | undefined, progress?: RunProgress): ActionDetails {
  const runId = { org: run.org, project: run.project, domain: run.domain, name: run.name };
  const result =
    run.phase === ActionPhase.FAILED || run.phase === ActionPhase.TIMED_OUT
      ? { case: "errorInfo" as const, value: { message: run.error ?? "", kind: ErrorInfo_Kind.USER } }
      : run.phase === ActionPhase.ABORTED
        ? { case: "abortInfo" as const, value: { reason: run.abortReason ?? "", abortedBy: run.abortedBy ? identity(run.abortedBy) : undefined } }
        : { case: undefined };
  return create(ActionDetailsSchema, {
    id: { run: runId, name: ROOT_ACTION },
    metadata: {
      executedBy: identity(run.createdBy),
      spec: { case: "task", value: { id: run.taskId, taskType: run.taskType, shortName: run.taskId.name } },
    },
    status: {
      phase: run.phase,
      startTime: run.startedAt !== undefined ? timestampFromMs(run.startedAt) : timestampFromMs(run.createdAt),
      endTime: run.endedAt !== undefined ? timestampFromMs(run.endedAt) : undefined,
      attempts: run.attempts,
      durationMs: run.endedAt !== undefined && run.startedAt !== undefined ? BigInt(run.endedAt - run.startedAt) : undefined,
    },
    result,
    spec: spec ? { case: "task", value: spec } : { case: undefined },
    // The attempt under way (or the last one), with the connector's latest progress report.
    attempts:
      run.attempts > 0
        ? [
            {
              attempt: run.attempts,
              phase: run.phase,
              startTime: run.startedAt !== undefined ? timestampFromMs(run.startedAt) : undefined,
              endTime: run.endedAt !== undefined ? timestampFromMs(run.endedAt) : undefined,
              clusterEvents: progress ? [{ occurredAt: timestampFromMs(progress.updatedAt), message: progress.message }] : [],
            },
          ]
        : [],
  });
}

export function runDetails(run: RunRow, spec: TaskSpec | undefined, progress?: RunProgress): RunDetails {
  return create(RunDetailsSchema, { runSpec: run.runSpec, action: actionDetails(run, spec, progress) });
}

export function runSummary(run: RunRow): Run {
  const details = actionDetails(run, undefined);
  return create(RunSchema, { action: { id: details.id, metadata: details.metadata, status: details.status } });
}
