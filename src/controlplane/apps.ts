// App calls to the control plane, as flyte-sdk's remote App makes them: Get by name,
// Update with a new desired state, and Watch until the app reports that state. Unlike
// the reference, a wait answers with the app as it was when it reached the state.
import { clone, create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, createClient } from "@connectrpc/connect";
import { ApiError, badGateway, fromControlPlane, notFound } from "../errors.ts";
import type { ControlPlane, Credentials } from "./client.ts";
import { type App, type AppIdentifier, AppSchema, AppService, AppSpecSchema, DeploymentStatus, DesiredState } from "./idl.ts";

/** An app by name; project and domain default to the gateway's. */
export interface AppRef {
  name: string;
  project?: string | undefined;
  domain?: string | undefined;
}

export type AppState = "active" | "deactivated";

/** The app's deployment status: that of its latest condition, as flyte-sdk reads it. */
export function deploymentStatus(app: App): DeploymentStatus {
  return app.status?.conditions.at(-1)?.deploymentStatus ?? DeploymentStatus.UNSPECIFIED;
}

export const isActive = (app: App) => [DeploymentStatus.ACTIVE, DeploymentStatus.STARTED].includes(deploymentStatus(app));
export const isDeactivated = (app: App) => [DeploymentStatus.UNASSIGNED, DeploymentStatus.STOPPED].includes(deploymentStatus(app));

/** Lowercase status name (`active`, `deploying`, `stopped`, …) for answers and messages. */
export function statusName(app: App): string {
  return (DeploymentStatus[deploymentStatus(app)] ?? "unspecified").toLowerCase();
}

const reached = (app: App, state: AppState) => (state === "active" ? isActive(app) : isDeactivated(app));

export class Apps {
  private readonly client: Client<typeof AppService>;

  constructor(
    private readonly controlPlane: ControlPlane,
    /** How long a wait for a new state may take, in milliseconds. */
    private readonly waitMs: number,
  ) {
    this.client = createClient(AppService, controlPlane.transport);
  }

  private id(ref: AppRef): Omit<AppIdentifier, "$typeName"> {
    const { org, project, domain } = this.controlPlane.settings;
    return { org, project: ref.project || project, domain: ref.domain || domain, name: ref.name };
  }

  async get(creds: Credentials, ref: AppRef): Promise<App> {
    try {
      const { app } = await this.client.get({ identifier: { case: "appId", value: this.id(ref) } }, this.controlPlane.call(creds));
      if (!app) throw badGateway("the control plane answered Get without an app");
      return app;
    } catch (err) {
      throw fromControlPlane(err, { notFound: `App ${ref.name}` });
    }
  }

  /**
   * Asks for an app to be started or stopped. An app already in that state is answered
   * as it is, without an update. With `wait`, the answer is the app once it reports the
   * state; past the wait deadline a 504 says the last status seen.
   */
  async setState(creds: Credentials, ref: AppRef, state: AppState, wait: boolean): Promise<App> {
    const app = await this.get(creds, ref);
    if (reached(app, state)) return app;
    // flyte-sdk sends the app as it got it, with only the desired state changed.
    const desired = clone(AppSchema, app);
    desired.spec ??= create(AppSpecSchema);
    desired.spec.desiredState = state === "active" ? DesiredState.STARTED : DesiredState.STOPPED;
    let updated: App;
    try {
      const answer = await this.client.update(
        {
          app: desired,
          reason: `${state === "active" ? "activate" : "deactivate"} requested through flyte-webhook`,
        },
        this.controlPlane.call(creds),
      );
      if (!answer.app) throw badGateway("the control plane answered Update without an app");
      updated = answer.app;
    } catch (err) {
      throw fromControlPlane(err, { notFound: `App ${ref.name}`, conflict: `App ${ref.name} was changed by someone else; try again` });
    }
    if (!wait || reached(updated, state)) return updated;
    return this.watchUntil(creds, updated, state);
  }

  private async watchUntil(creds: Credentials, app: App, state: AppState): Promise<App> {
    const name = app.metadata?.id?.name ?? "";
    let last = app;
    try {
      const stream = this.client.watch(
        { target: { case: "appId", value: app.metadata!.id! } },
        { ...this.controlPlane.call(creds), timeoutMs: this.waitMs },
      );
      for await (const { event } of stream) {
        if (event.case === "deleteEvent") throw notFound(`App ${name} was deleted while waiting for it`);
        const seen = event.case === "updateEvent" ? event.value.updatedApp : event.value?.app;
        if (!seen) continue;
        last = seen;
        if (deploymentStatus(seen) === DeploymentStatus.FAILED) {
          throw new ApiError(502, "app_failed", `App ${name} failed to ${state === "active" ? "deploy" : "stop"}`);
        }
        if (reached(seen, state)) return seen;
      }
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.DeadlineExceeded) {
        throw new ApiError(504, "app_wait_timeout", `App ${name} is not ${state} after ${this.waitMs} ms; its status is ${statusName(last)}`);
      }
      throw fromControlPlane(err, { notFound: `App ${name}` });
    }
    throw badGateway(`the control plane ended the watch before app ${name} was ${state}; its status is ${statusName(last)}`);
  }
}
