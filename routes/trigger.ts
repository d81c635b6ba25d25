// Trigger group: activate and deactivate a task's trigger in the gateway's project and
// domain. The trigger allow-list is checked before the control plane is asked anything.
import { Type } from "typebox";
import { triggerConsoleUrl } from "../src/controlplane/console.ts";
import type { TriggerRef } from "../src/allowlist.ts";
import type { Credentials } from "../src/controlplane/client.ts";
import { Triggers } from "../src/controlplane/triggers.ts";
import { ErrorRef, forbidden } from "../src/errors.ts";
import { type App, route } from "../src/gateway.ts";

const TriggerParams = Type.Object({
  task_name: Type.String({ minLength: 1, maxLength: 256, description: "Task the trigger belongs to", examples: ["echo"] }),
  trigger_name: Type.String({ minLength: 1, maxLength: 256, description: "Trigger name", examples: ["every-minute"] }),
});
const TriggerState = (active: boolean) =>
  Type.Object(
    {
      task_name: Type.String(),
      trigger_name: Type.String(),
      active: Type.Boolean(),
      url: Type.String({ description: "Console page of the trigger" }),
    },
    {
      examples: [
        {
          task_name: "echo",
          trigger_name: "every-minute",
          active,
          url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/triggers/echo/every-minute",
        },
      ],
    },
  );

export default async function triggerRoutes(app: App) {
  const { controlPlane, allowTrigger, consoleBase } = app.gateway;
  const triggers = new Triggers(controlPlane);

  const setActive = async (credentials: Credentials, ref: TriggerRef, active: boolean) => {
    if (!allowTrigger(ref)) throw forbidden(`Trigger ${ref.taskName}/${ref.triggerName} is not in the allowlist`, "trigger_not_allowed");
    await triggers.setActive(credentials, ref, active);
    const { project, domain } = controlPlane.settings;
    return {
      task_name: ref.taskName,
      trigger_name: ref.triggerName,
      active,
      url: triggerConsoleUrl(consoleBase, domain, project, ref.taskName, ref.triggerName),
    };
  };

  const stateChanges = [
    { endpoint: "activate_trigger", active: true, description: "Activates a trigger: its schedule starts runs of its task again." },
    { endpoint: "deactivate_trigger", active: false, description: "Deactivates (pauses) a trigger: it starts no more runs until activated." },
  ] as const;
  for (const { endpoint, active, description } of stateChanges) {
    route(app, endpoint, {
      schema: { description, params: TriggerParams, response: { 200: TriggerState(active), 404: ErrorRef } },
      handler: async (request) =>
        setActive(request.credentials, { taskName: request.params.task_name, triggerName: request.params.trigger_name }, active),
    });
  }
}
