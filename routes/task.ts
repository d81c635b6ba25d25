// Task group: run a task (optionally waiting for it to end, idempotently, with a completion
// callback), read a task's metadata. The task allow-list is checked before the control
// plane is asked anything.
import { Type } from "typebox";
import { inputsFromJson, taskMetadata } from "../src/controlplane/interface.ts";
import { runUrl } from "../src/controlplane/console.ts";
import { callbackRunSpec, checkCallbackUrl } from "../src/callbacks.ts";
import { badRequest, ErrorRef, forbidden } from "../src/errors.ts";
import { type App, noBodyIsEmptyObject, requestSignal, route } from "../src/gateway.ts";
import { IdempotencyHeaders, markReplayed, onceFor, startRunOnce } from "../src/idempotency.ts";
import { DEFAULTS } from "../src/options.ts";
import { endedRunOutputs, Phase, runStatus, RunStatusBody, waitForRun } from "../src/runs.ts";
import type { TaskRef } from "../src/allowlist.ts";

const TaskParams = Type.Object({
  domain: Type.String({ minLength: 1, description: "Domain of the task", examples: ["development"] }),
  project: Type.String({ minLength: 1, description: "Project of the task", examples: ["flytesnacks"] }),
  name: Type.String({ minLength: 1, description: "Task name", examples: ["echo"] }),
});
const Version = Type.Optional(Type.String({ minLength: 1, description: "Task version; latest when omitted", examples: ["v1"] }));
const VersionQuery = Type.Object({ version: Version });

const RunTaskQuery = Type.Object({
  version: Version,
  wait: Type.Boolean({ default: false, description: "Wait for the run to end (up to `timeout` seconds) before answering", examples: [true] }),
  timeout: Type.Optional(Type.Integer({ minimum: 1, description: `Seconds to wait with \`wait=true\` (default ${DEFAULTS.runWaitDefaultS}, or the gateway's maximum when lower)`, examples: [60] })),
  callback_url: Type.Optional(
    Type.String({
      minLength: 1,
      description: "http(s) URL the control plane POSTs the run's outcome to when it ends (signed per Standard Webhooks by the embedded plane)",
      examples: ["https://ci.example.com/flyte-callback"],
    }),
  ),
});

const RunStarted = Type.Object(
  {
    url: Type.String({ description: "Link to the run in the console" }),
    name: Type.String({ description: "Run name" }),
    phase: Type.Optional(Phase),
    done: Type.Optional(Type.Boolean({ description: "With `wait=true`: always true in a 200" })),
    error: Type.Optional(Type.String({ description: "Why the run failed; only on failed runs" })),
    progress: Type.Optional(Type.String()),
    outputs: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: "With `wait=true`: the outputs of a succeeded run; null otherwise" })),
  },
  {
    description: "The run started; with `wait=true`, the run ended",
    examples: [
      { url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r3kx9q2m1", name: "r3kx9q2m1" },
      { url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r3kx9q2m1", name: "r3kx9q2m1", phase: "succeeded", done: true, outputs: { x: 3, msg: "hello" } },
    ],
  },
);

const RunWaitedOut = Type.Object(
  { ...RunStatusBody.properties },
  {
    description: "With `wait=true`: the run had not ended when the timeout passed; follow it with GET /run/{name} or /run/{name}/events",
    examples: [{ name: "r3kx9q2m1", phase: "running", url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r3kx9q2m1", done: false }],
  },
);

export default async function taskRoutes(app: App) {
  const { controlPlane, allowTask, consoleBase } = app.gateway;

  const checkAllowed = (task: TaskRef) => {
    if (!allowTask(task)) throw forbidden(`Task ${task.domain}/${task.project}/${task.name} is not in the allowlist`, "task_not_allowed");
  };

  route(app, "run_task", {
    schema: {
      description:
        "Runs a task with the JSON body as its inputs (missing inputs take the task's defaults). " +
        "The run is created in the gateway's project and domain; the path selects the task. " +
        "With `wait=true` the answer waits for the run to end, up to `timeout` seconds: 200 with its phase and outputs " +
        "when it ended (a failed run is still a 200: the call worked, the run failed), else 202 with the phase it is in. " +
        "With `callback_url`, the control plane POSTs the outcome there when the run ends.",
      params: TaskParams,
      querystring: RunTaskQuery,
      headers: IdempotencyHeaders,
      body: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "Task inputs by name", examples: [{ x: 3, msg: "hello" }] })),
      response: {
        200: RunStarted,
        202: RunWaitedOut,
        404: ErrorRef,
        409: ErrorRef,
        422: ErrorRef,
      },
    },
    preValidation: noBodyIsEmptyObject,
    handler: async (request, reply) => {
      const { domain, project, name } = request.params;
      const { version, wait, callback_url } = request.query;
      checkAllowed({ domain, project, name });
      const { runWaitMaxS } = app.gateway;
      const timeout = request.query.timeout ?? Math.min(DEFAULTS.runWaitDefaultS, runWaitMaxS);
      if (timeout > runWaitMaxS) throw badRequest(`timeout must be at most ${runWaitMaxS} seconds`, "bad_timeout");
      const callback = callback_url === undefined ? undefined : checkCallbackUrl(callback_url);
      const task = await controlPlane.getTask(request.credentials, { domain, project, name, version }, { cached: true });
      const body = request.body ?? {};
      const inputs = inputsFromJson(task.spec, body);
      const { project: runProject, domain: runDomain } = controlPlane.settings;
      const once = onceFor(request, "run_task", { task: { domain, project, name, version }, inputs: body, callback_url: callback });
      const runSpec = callbackRunSpec(callback, consoleBase, runProject, runDomain);
      const run = await startRunOnce(controlPlane, request.credentials, task, inputs, runSpec, once);
      markReplayed(reply, run);
      request.auditDetail = { run: run.name };
      if (!wait) return { url: runUrl(consoleBase, runDomain, runProject, run.name), name: run.name };

      const waited = await waitForRun(controlPlane, request.credentials, run.name, timeout * 1000, requestSignal(app, reply));
      const details = waited.details ?? (await controlPlane.getRun(request.credentials, run.name));
      const status = runStatus(consoleBase, details.action);
      if (!status.done) return reply.code(202).send(status);
      return { ...status, outputs: await endedRunOutputs(controlPlane, request.credentials, details, status.phase) };
    },
  });

  route(app, "get_task", {
    schema: {
      description: "Metadata of a task: type, required and defaulted inputs, cache settings, secrets.",
      params: TaskParams,
      querystring: VersionQuery,
      response: {
        200: Type.Object({
          name: Type.String(),
          version: Type.String(),
          task_type: Type.String(),
          required_args: Type.Array(Type.String()),
          default_input_args: Type.Array(Type.String()),
          cache: Type.Object({
            behavior: Type.String(),
            version_override: Type.Union([Type.String(), Type.Null()]),
            serialize: Type.Boolean(),
          }),
          secrets: Type.Array(Type.String()),
        }, {
          examples: [
            {
              name: "echo",
              version: "v1",
              task_type: "echo",
              required_args: ["x"],
              default_input_args: ["msg"],
              cache: { behavior: "disable", version_override: null, serialize: false },
              secrets: [],
            },
          ],
        }),
        404: ErrorRef,
      },
    },
    handler: async (request) => {
      const { domain, project, name } = request.params;
      checkAllowed({ domain, project, name });
      const task = await controlPlane.getTask(request.credentials, { domain, project, name, version: request.query.version });
      return taskMetadata(task);
    },
  });
}
