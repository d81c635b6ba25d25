// App lifecycle in the embedded plane. An app asked to start passes through a short
// DEPLOYING phase before it is ACTIVE, one asked to stop through SCALING_DOWN before it
// is STOPPED, so a caller that waits sees a real transition. Every change is stored
// first, then told to watchers as (updated, old).
import { EventEmitter } from "node:events";
import { clone, create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { deploymentStatus } from "../controlplane/apps.ts";
import {
  type App,
  AppConditionSchema,
  type AppIdentifier,
  AppIngressSchema,
  AppSchema,
  DeploymentStatus,
  DesiredState,
} from "../controlplane/idl.ts";
import type { AppKey, AppStore } from "./app-store.ts";
import type { CatalogApp } from "./catalog.ts";
import { invalid, missing } from "./plane-context.ts";
import { identity } from "./views.ts";

export const appKeyString = (key: AppKey) => `${key.org}/${key.project}/${key.domain}/${key.name}`;

/** Conditions kept per app: enough history to read, bounded. */
const MAX_CONDITIONS = 10;

const wantsRunning = (desired: DesiredState) => desired === DesiredState.STARTED || desired === DesiredState.ACTIVE;

export class AppDeployer {
  /** Emits `appKeyString(key)` with (updated, old) on every change of an app. */
  readonly events = new EventEmitter({ captureRejections: false });
  private readonly transitions = new Map<string, NodeJS.Timeout>();
  private readonly closing = new AbortController();

  constructor(
    private readonly store: AppStore,
    /** How long DEPLOYING and SCALING_DOWN last, in milliseconds. */
    private readonly transitionMs: number,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Aborted when the plane closes: ends open watches. */
  get closed(): AbortSignal {
    return this.closing.signal;
  }

  /**
   * A catalog app is deployed as declared, like a redeploy: its URL and its active flag
   * win over what was stored. Loading the same entry again changes nothing.
   */
  declare(entry: CatalogApp): void {
    const id = { org: entry.org, project: entry.project, domain: entry.domain, name: entry.name };
    const existing = this.store.get(id);
    const status = entry.active ? DeploymentStatus.ACTIVE : DeploymentStatus.STOPPED;
    const desiredState = entry.active ? DesiredState.STARTED : DesiredState.STOPPED;
    if (existing && existing.status?.ingress?.publicUrl === entry.url && deploymentStatus(existing) === status && existing.spec?.desiredState === desiredState) {
      return;
    }
    const app = existing
      ? clone(AppSchema, existing)
      : create(AppSchema, { metadata: { id }, spec: {}, status: { createdAt: timestampNow() } });
    app.metadata!.revision += 1n;
    app.spec!.desiredState = desiredState;
    app.status!.ingress = create(AppIngressSchema, { publicUrl: entry.url });
    this.record(app, status, "declared in the catalog");
    this.store.put(app);
  }

  /** After a restart: an app caught mid-transition ends it at once. */
  recover(): void {
    for (const app of this.store.all()) {
      const status = deploymentStatus(app);
      if (status === DeploymentStatus.DEPLOYING || status === DeploymentStatus.SCALING_DOWN) this.finish(app.metadata!.id!);
    }
  }

  /**
   * Applies an Update: the app takes the given spec, and a change between running and
   * stopped starts a transition. Asking for the state an app is in, or is moving to,
   * starts nothing new.
   */
  update(id: AppIdentifier | undefined, spec: App["spec"], subject: string): App {
    if (!id?.project || !id.domain || !id.name) throw invalid("app.metadata.id needs project, domain and name");
    const current = this.store.get(id);
    if (!current) throw missing(`app ${id.name} not found`);
    const desired = spec?.desiredState ?? DesiredState.UNSPECIFIED;
    if (desired === DesiredState.UNSPECIFIED) throw invalid("app.spec.desired_state is required");
    const start = wantsRunning(desired);
    const status = deploymentStatus(current);
    const goal = start ? DeploymentStatus.ACTIVE : DeploymentStatus.STOPPED;
    const moving = start ? DeploymentStatus.DEPLOYING : DeploymentStatus.SCALING_DOWN;
    const deactivated = status === DeploymentStatus.STOPPED || status === DeploymentStatus.UNASSIGNED;

    const updated = clone(AppSchema, current);
    updated.spec = spec;
    if (status === goal || status === moving || (!start && deactivated) || (start && status === DeploymentStatus.STARTED)) {
      this.store.put(updated);
      return updated;
    }
    updated.metadata!.revision += 1n;
    this.record(updated, moving, start ? "deploying" : "scaling down", subject);
    this.save(updated, current);
    const key = appKeyString(id);
    clearTimeout(this.transitions.get(key));
    this.transitions.set(
      key,
      setTimeout(() => {
        this.transitions.delete(key);
        this.finish(id);
      }, this.transitionMs),
    );
    return updated;
  }

  /** Ends a transition: the app reaches the state its spec asks for. */
  private finish(id: AppKey): void {
    const current = this.store.get(id);
    if (!current) return;
    const start = wantsRunning(current.spec?.desiredState ?? DesiredState.UNSPECIFIED);
    const updated = clone(AppSchema, current);
    this.record(updated, start ? DeploymentStatus.ACTIVE : DeploymentStatus.STOPPED, start ? "active" : "stopped");
    this.save(updated, current);
  }

  private record(app: App, status: DeploymentStatus, message: string, subject?: string): void {
    const condition = create(AppConditionSchema, {
      deploymentStatus: status,
      lastTransitionTime: timestampNow(),
      message,
      revision: app.metadata?.revision ?? 0n,
      ...(subject ? { actor: identity(subject) } : {}),
    });
    app.status!.conditions = [...app.status!.conditions, condition].slice(-MAX_CONDITIONS);
    app.status!.currentReplicas = status === DeploymentStatus.ACTIVE ? 1 : 0;
    app.status!.lastUpdatedAt = condition.lastTransitionTime;
  }

  private save(updated: App, old: App): void {
    this.store.put(updated);
    this.events.emit(appKeyString(updated.metadata!.id!), updated, old);
  }

  /** Stops every pending transition and ends open watches. */
  close(): void {
    for (const timer of this.transitions.values()) clearTimeout(timer);
    this.transitions.clear();
    this.closing.abort();
  }
}
