// DataProxyService: inputs uploaded ahead of CreateRun, and a run's inputs and outputs.
import { createHash } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ActionPhase, type DataProxyService, InputsSchema } from "../../controlplane/idl.ts";
import { invalid, missing, rootActionRun, type PlaneContext } from "../plane-context.ts";
import type { RunKey } from "../store.ts";

/** Inputs of a run's root action, and its outputs once it has succeeded. */
export function actionData(plane: PlaneContext, actionId: { run?: RunKey; name: string } | undefined) {
  const run = plane.store.getRun(rootActionRun(actionId));
  if (!run) throw missing("run not found");
  return { inputs: run.inputs, outputs: run.phase === ActionPhase.SUCCEEDED ? run.outputs : undefined };
}

export const dataProxyService = (plane: PlaneContext): Partial<ServiceImpl<typeof DataProxyService>> => ({
  uploadInputs(req) {
    if (!req.inputs) throw invalid("inputs are required");
    // Content-addressed, so uploading the same inputs twice (SDK retries) stores them once.
    const hash = createHash("sha256").update(toBinary(InputsSchema, req.inputs)).digest("hex");
    plane.store.putOffloadedInputs(hash, req.inputs);
    return { offloadedInputData: { uri: `flyte-local://inputs/${hash}`, inputsHash: hash } };
  },

  getActionData(req) {
    return actionData(plane, req.actionId);
  },
});
