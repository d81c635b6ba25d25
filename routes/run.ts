// Run group: status, inputs/outputs and abort of runs in the gateway's project/domain.
// Unlike the reference, these endpoints honour the task allow-list: a run of a task that
// is not allowed answers 403, so a run name cannot be used to reach a forbidden task.
import { Type } from "typebox";
import { runUrl } from "../src/controlplane/console.ts";
import type { Credentials } from "../src/controlplane/client.ts";
import type { RunDetails } from "../src/controlplane/idl.ts";
import { literalsToJson } from "../src/controlplane/interface.ts";
import { isTerminal, phaseName } from "../src/controlplane/phase.ts";
import { badGateway, ErrorRef, forbidden } from "../src/errors.ts";
import { type App, route } from "../src/gateway.ts";

const RunParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128, description: "Run name", examples: ["r3kx9q2m1"] }) });
const Phase = Type.String({
  description: "Lowercase phase: queued, waiting_for_resources, initializing, running, paused, succeeded, failed, aborted, timed_out, recovered",
  examples: ["succeeded"],
});

export default async function runRoutes(app: App) {
  const { controlPlane, allowTask, consoleBase } = app.gateway;

  /** Run details, after checking that the run's task is allowed. */
  async function allowedRun(creds: Credentials, name: string): Promise<RunDetails> {
    const details = await controlPlane.getRun(creds, name);
    const meta = details.action?.metadata?.spec;
    const task = meta?.case === "task" ? meta.value.id : undefined;
    if (!task || !allowTask({ domain: task.domain, project: task.project, name: task.name })) {
      throw forbidden(`Run ${name} is of a task that is not in the allowlist`, "task_not_allowed");
    }
    return details;
  }

  const status = (details: RunDetails) => {
    const id = details.action?.id?.run;
    const raw = details.action?.status?.phase ?? 0;
    const phase = phaseName(raw);
    if (!id || phase === undefined) throw badGateway("the control plane answered with a run without a name or phase");
    const result = details.action?.result;
    return {
      name: id.name,
      phase,
      url: runUrl(consoleBase, id.domain, id.project, id.name),
      done: isTerminal(raw),
      // Beyond the reference: why a run failed, so callers need not open the console.
      ...(result?.case === "errorInfo" ? { error: result.value.message } : {}),
    };
  };

  route(app, "get_run", {
    schema: {
      description: "Phase of a run and whether it is done.",
      params: RunParams,
      response: {
        200: Type.Object({
          name: Type.String(),
          phase: Phase,
          url: Type.String(),
          done: Type.Boolean(),
          error: Type.Optional(Type.String({ description: "Why the run failed; only on failed runs" })),
        }, {
          examples: [
            { name: "r3kx9q2m1", phase: "succeeded", url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r3kx9q2m1", done: true },
          ],
        }),
        404: ErrorRef,
      },
    },
    handler: async (request) => status(await allowedRun(request.credentials, request.params.name)),
  });

  route(app, "get_run_io", {
    schema: {
      description: "Inputs of a run, and its outputs once it has succeeded (null before, and when it did not succeed).",
      params: RunParams,
      response: {
        200: Type.Object({
          name: Type.String(),
          inputs: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
          outputs: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
        }, { examples: [{ name: "r3kx9q2m1", inputs: { x: 3, msg: "hello" }, outputs: { x: 3, msg: "hello" } }] }),
        404: ErrorRef,
      },
    },
    handler: async (request) => {
      const details = await allowedRun(request.credentials, request.params.name);
      const { name } = status(details);
      const data = await controlPlane.getRunData(request.credentials, details);
      return {
        name,
        inputs: data.inputs ? literalsToJson(data.inputs.literals) : null,
        outputs: data.outputs ? literalsToJson(data.outputs.literals) : null,
      };
    },
  });

  route(app, "abort_run", {
    schema: {
      description: "Asks the control plane to abort a run.",
      params: RunParams,
      querystring: Type.Object({
        reason: Type.String({ default: app.gateway.abortReason, maxLength: 1024, description: "Recorded with the abort", examples: ["not needed"] }),
      }),
      response: {
        200: Type.Object(
          { name: Type.String(), status: Type.Literal("abort_requested"), reason: Type.String() },
          { examples: [{ name: "r3kx9q2m1", status: "abort_requested", reason: "not needed" }] },
        ),
        404: ErrorRef,
        409: ErrorRef,
      },
    },
    handler: async (request) => {
      const { name } = request.params;
      const { reason } = request.query;
      await allowedRun(request.credentials, name);
      await controlPlane.abortRun(request.credentials, name, reason);
      return { name, status: "abort_requested" as const, reason };
    },
  });
}
