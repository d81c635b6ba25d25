// Task group: run a task, read a task's metadata. The task allow-list is checked before
// the control plane is asked anything.
import { Type } from "typebox";
import { inputsFromJson, taskMetadata } from "../src/controlplane/interface.ts";
import { runUrl } from "../src/controlplane/console.ts";
import { ErrorRef, forbidden } from "../src/errors.ts";
import { type App, noBodyIsEmptyObject, route } from "../src/gateway.ts";
import type { TaskRef } from "../src/allowlist.ts";

const TaskParams = Type.Object({
  domain: Type.String({ minLength: 1, description: "Domain of the task", examples: ["development"] }),
  project: Type.String({ minLength: 1, description: "Project of the task", examples: ["flytesnacks"] }),
  name: Type.String({ minLength: 1, description: "Task name", examples: ["echo"] }),
});
const VersionQuery = Type.Object({
  version: Type.Optional(Type.String({ minLength: 1, description: "Task version; latest when omitted", examples: ["v1"] })),
});

export default async function taskRoutes(app: App) {
  const { controlPlane, allowTask } = app.gateway;

  const checkAllowed = (task: TaskRef) => {
    if (!allowTask(task)) throw forbidden(`Task ${task.domain}/${task.project}/${task.name} is not in the allowlist`, "task_not_allowed");
  };

  route(app, "run_task", {
    schema: {
      description:
        "Runs a task with the JSON body as its inputs (missing inputs take the task's defaults). " +
        "The run is created in the gateway's project and domain; the path selects the task.",
      params: TaskParams,
      querystring: VersionQuery,
      body: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "Task inputs by name", examples: [{ x: 3, msg: "hello" }] })),
      response: {
        200: Type.Object(
          { url: Type.String({ description: "Link to the run in the console" }), name: Type.String({ description: "Run name" }) },
          { examples: [{ url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/r3kx9q2m1", name: "r3kx9q2m1" }] },
        ),
        404: ErrorRef,
        422: ErrorRef,
      },
    },
    preValidation: noBodyIsEmptyObject,
    handler: async (request) => {
      const { domain, project, name } = request.params;
      checkAllowed({ domain, project, name });
      const task = await controlPlane.getTask(request.credentials, { domain, project, name, version: request.query.version }, { cached: true });
      const inputs = inputsFromJson(task.spec, request.body ?? {});
      const run = await controlPlane.createRun(request.credentials, task, inputs);
      request.auditDetail = { run };
      const { project: runProject, domain: runDomain } = controlPlane.settings;
      return { url: runUrl(app.gateway.consoleBase, runDomain, runProject, run), name: run };
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
