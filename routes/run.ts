// Run group: status, inputs/outputs and abort of runs in the gateway's project/domain.
// Unlike the reference, these endpoints honour the task allow-list: a run of a task that
// is not allowed answers 403, so a run name cannot be used to reach a forbidden task.
import { Type } from "typebox";
import type { Credentials } from "../src/controlplane/client.ts";
import { ErrorRef, forbidden } from "../src/errors.ts";
import fastifySse from "@fastify/sse";
import { type App, requestSignal, route } from "../src/gateway.ts";
import { runEvents } from "../src/run-events.ts";
import { AbortBody, checkedRun, RunIoBody, runInputsOutputs, runStatus, RunStatusBody } from "../src/runs.ts";

const RunParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128, description: "Run name", examples: ["r3kx9q2m1"] }) });

export default async function runRoutes(app: App) {
  const { controlPlane, allowTask, consoleBase } = app.gateway;
  await app.register(fastifySse, { heartbeatInterval: app.gateway.events.heartbeatMs });

  /** Run details, after checking that the run's task is allowed. */
  const allowedRun = (creds: Credentials, name: string) =>
    checkedRun(controlPlane, creds, name, (task) => {
      if (!task || !allowTask({ domain: task.domain, project: task.project, name: task.name })) {
        throw forbidden(`Run ${name} is of a task that is not in the allowlist`, "task_not_allowed");
      }
    });

  route(app, "get_run", {
    schema: {
      description: "Phase of a run and whether it is done.",
      params: RunParams,
      response: { 200: RunStatusBody, 404: ErrorRef },
    },
    handler: async (request) => runStatus(consoleBase, (await allowedRun(request.credentials, request.params.name)).action),
  });

  route(app, "get_run_io", {
    schema: {
      description: "Inputs of a run, and its outputs once it has succeeded (null before, and when it did not succeed).",
      params: RunParams,
      response: { 200: RunIoBody, 404: ErrorRef },
    },
    handler: async (request) => {
      const details = await allowedRun(request.credentials, request.params.name);
      const { name } = runStatus(consoleBase, details.action);
      return { name, ...(await runInputsOutputs(controlPlane, request.credentials, details)) };
    },
  });

  route(app, "get_run_events", {
    // No Accept negotiation: the endpoint only streams, and errors before the stream
    // starts (403, 404) keep the one JSON error shape.
    sse: { kind: "manual", heartbeat: true },
    schema: {
      description:
        "Server-Sent Events of a run: `phase` now and at every change (`{name, phase, url, done, error?, progress?}`), " +
        "`outputs` once it has ended (`{name, outputs}`, null unless it succeeded), then the stream ends. " +
        "Heartbeat comments keep proxies from closing it; `timeout` ends a stream that reached its longest life, " +
        "`error` one the control plane broke.",
      params: RunParams,
      response: {
        200: {
          description: "An event stream",
          content: {
            "text/event-stream": {
              schema: Type.String(),
              example:
                'id: 1\nevent: phase\ndata: {"name":"r3kx9q2m1","phase":"running","url":"…","done":false}\n\n' +
                'id: 2\nevent: phase\ndata: {"name":"r3kx9q2m1","phase":"succeeded","url":"…","done":true}\n\n' +
                'id: 3\nevent: outputs\ndata: {"name":"r3kx9q2m1","outputs":{"x":3,"msg":"hello"}}\n\n',
            },
          },
        },
        404: ErrorRef,
      },
    },
    handler: async (request, reply) => {
      const { name } = request.params;
      await allowedRun(request.credentials, name);
      const expired = AbortSignal.timeout(app.gateway.events.maxMs);
      const stop = AbortSignal.any([requestSignal(app, reply), expired]);
      await reply.sse.send(runEvents(request, controlPlane, request.credentials, consoleBase, name, { stop, expired }));
    },
  });

  route(app, "abort_run", {
    schema: {
      description: "Asks the control plane to abort a run.",
      params: RunParams,
      querystring: Type.Object({
        reason: Type.String({ default: app.gateway.abortReason, maxLength: 1024, description: "Recorded with the abort", examples: ["not needed"] }),
      }),
      response: { 200: AbortBody, 404: ErrorRef, 409: ErrorRef },
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
