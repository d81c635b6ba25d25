// Trigger calls to the control plane, as flyte-sdk's remote Trigger makes them: one
// UpdateTriggers naming the trigger, with the active flag to set.
import { type Client, createClient } from "@connectrpc/connect";
import type { TriggerRef } from "../allowlist.ts";
import { fromControlPlane } from "../errors.ts";
import type { ControlPlane, Credentials } from "./client.ts";
import { TriggerService } from "./idl.ts";

export class Triggers {
  private readonly client: Client<typeof TriggerService>;

  constructor(private readonly controlPlane: ControlPlane) {
    this.client = createClient(TriggerService, controlPlane.transport);
  }

  /** Activates or pauses a trigger in the gateway's project and domain. */
  async setActive(creds: Credentials, ref: TriggerRef, active: boolean): Promise<void> {
    const { org, project, domain } = this.controlPlane.settings;
    try {
      await this.client.updateTriggers(
        { names: [{ org, project, domain, name: ref.triggerName, taskName: ref.taskName }], active },
        this.controlPlane.call(creds),
      );
    } catch (err) {
      throw fromControlPlane(err, { notFound: `Trigger ${ref.triggerName} of task ${ref.taskName}` });
    }
  }
}
