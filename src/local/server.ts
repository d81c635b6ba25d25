// The embedded control plane: a real Connect server (Connect, gRPC and gRPC-Web over
// cleartext HTTP/2) on loopback, serving the flyteidl2 services the gateway uses, backed
// by SQLite and executing runs with connectors. The gateway reaches it over the network
// exactly as it reaches a remote Flyte.
import type { ConnectError, ConnectRouter } from "@connectrpc/connect";
import type { EventEmitter } from "node:events";
import { listenConnect } from "../connect-server.ts";
import { dirname } from "node:path";
import { pino, type Logger } from "pino";
import { NO_SECRETS, type SecretSource } from "../connectors/secrets.ts";
import type { Connector } from "../connectors/types.ts";
import { echoConnector } from "../connectors/echo.ts";
import { webhookConnector } from "../connectors/webhook.ts";
import { type HfPrefetchOptions, hfPrefetchConnector } from "../connectors/hf-prefetch.ts";
import { imageBuildConnector } from "../connectors/image-build.ts";
import type { ImageBuilderSetting } from "../image/builders.ts";
import { systemTasks } from "../system-tasks.ts";
import { AppService, ClusterService, DataProxyService, IdentityService, RunService, TaskService, TriggerService } from "../controlplane/idl.ts";
import { AppDeployer } from "./app-deployer.ts";
import { AppStore } from "./app-store.ts";
import { ApiKeys } from "./auth.ts";
import { type CallbackOptions, completionCallbacks } from "./callbacks.ts";
import { type CatalogApp, CatalogError, type CatalogTask, type CatalogTrigger } from "./catalog.ts";
import { Executor } from "./executor.ts";
import type { PlaneContext } from "./plane-context.ts";
import { ProgressStore } from "./progress.ts";
import { clusterService } from "./services/cluster.ts";
import { dataProxyService } from "./services/dataproxy.ts";
import { identityService } from "./services/identity.ts";
import { appService } from "./services/app.ts";
import { runService } from "./services/run.ts";
import { checkTask, taskService } from "./services/task.ts";
import { declareTrigger, triggerService } from "./services/trigger.ts";
import { Store } from "./store.ts";
import { TriggerScheduler } from "./trigger-scheduler.ts";
import { TriggerStore } from "./trigger-store.ts";

/** Fresh per plane: connectors may hold connection pools that the plane's close() releases. */
export const defaultConnectors = (): Connector[] => [echoConnector, webhookConnector()];

export interface LocalControlPlaneOptions {
  /** `host:port`; port 0 picks a free one. */
  addr: string;
  /** SQLite file, or ":memory:". */
  dbPath: string;
  apiKeys: ReadonlyArray<{ token: string; subject: string }>;
  catalog?: readonly CatalogTask[];
  /** Catalog apps and triggers (triggers name tasks of the catalog or already deployed). */
  apps?: readonly CatalogApp[];
  triggers?: readonly CatalogTrigger[];
  /** How long an app stays DEPLOYING (or SCALING_DOWN) before it is ACTIVE (STOPPED); default 1 s. */
  appTransitionMs?: number;
  connectors?: readonly Connector[];
  logger?: Logger;
  maxConcurrentRuns?: number;
  /** Values for `{secrets.NAME}` in task configurations; none by default. */
  secrets?: SecretSource;
  /** Where connectors keep files; default: beside the database (a temp dir for ":memory:"). */
  dataDir?: string;
  /** Organization of the system tasks (build-image, prefetch-hf-model); default empty. */
  org?: string;
  /** `FLYTE_LOCAL_IMAGE_BUILDER`; unset: image builds fail saying no builder is configured. */
  imageBuilder?: ImageBuilderSetting | undefined;
  /** Hugging Face Hub settings of the prefetch task (`HF_ENDPOINT`, deadlines). */
  hfPrefetch?: HfPrefetchOptions;
  /** Completion callbacks: signing secret, retries and deadlines. */
  callbacks?: CallbackOptions;
}

export interface LocalControlPlane {
  /** Base URL to give the gateway (`http://host:port`). */
  url: string;
  port: number;
  /** Open WatchRunDetails/WatchActionDetails and app Watch streams: lets operators and tests see leaks. */
  openWatches(): number;
  /** Active triggers with a running cron job. */
  scheduledTriggers(): number;
  /** Completion callbacks not yet delivered nor given up. */
  pendingCallbacks(): number;
  /** Where the generated callback signing secret is kept; undefined when one was given. */
  callbackSecretFile: string | undefined;
  close(): Promise<void>;
}

/** Listeners of an emitter of per-entity events; events.on() also listens for "error", so each watch counts once. */
const watchers = (events: EventEmitter) => events.eventNames().reduce((sum: number, name) => sum + (name === "error" ? 0 : events.listenerCount(name)), 0);

export async function startLocalControlPlane(options: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const log = options.logger ?? pino({ level: "silent" });
  const store = new Store(options.dbPath);
  // The system tasks' connectors come first so a caller's own connector of the same type wins.
  const system = [imageBuildConnector({ builder: options.imageBuilder }), hfPrefetchConnector(options.hfPrefetch)];
  const connectors = new Map([...system, ...(options.connectors ?? defaultConnectors())].map((c) => [c.type, c]));
  const dataDir = options.dataDir ?? (options.dbPath === ":memory:" ? undefined : dirname(options.dbPath));
  const progress = new ProgressStore(store.db);
  const executor = new Executor(store, connectors, log, { secrets: options.secrets ?? NO_SECRETS, dataDir, progress }, options.maxConcurrentRuns);
  const plane: PlaneContext = { store, executor, log, progress };

  for (const task of options.catalog ?? []) {
    const type = task.spec.taskTemplate?.type ?? "";
    if (!connectors.has(type)) {
      log.warn({ task: task.id.name, type }, "catalog task skipped: no connector serves its type in this build");
      continue;
    }
    try {
      checkTask(plane, task.id, task.spec);
    } catch (err) {
      // A bad catalog is a configuration error of the operator, reported as one.
      throw new CatalogError(`catalog ${(err as ConnectError).rawMessage ?? (err as Error).message}`);
    }
    store.putTask(task.id, task.spec, "catalog");
  }
  for (const task of systemTasks(options.org ?? "", new Set(connectors.keys()))) store.putTask(task.id, task.spec, "system");
  const apps = new AppStore(store.db);
  const deployer = new AppDeployer(apps, options.appTransitionMs ?? 1000);
  for (const app of options.apps ?? []) deployer.declare(app);
  deployer.recover();
  const triggers = new TriggerStore(store.db);
  for (const trigger of options.triggers ?? []) declareTrigger(plane, triggers, trigger);
  const scheduler = new TriggerScheduler(plane, triggers);

  // Before recovery: runs it fails deliver their callbacks too.
  const callbacks = completionCallbacks(store, log, { ...options.callbacks, dataDir });
  const recovered = executor.recover();
  if (recovered.resumed + recovered.failed > 0) log.info(recovered, "runs in flight at the last stop were recovered");

  const keys = new ApiKeys(options.apiKeys);
  const server = await listenConnect({
    addr: options.addr,
    interceptors: [keys.interceptor()],
    routes(router: ConnectRouter) {
      router.service(IdentityService, identityService());
      router.service(TaskService, taskService(plane));
      router.service(RunService, runService(plane));
      router.service(DataProxyService, dataProxyService(plane));
      router.service(ClusterService, clusterService());
      router.service(AppService, appService(apps, deployer));
      router.service(TriggerService, triggerService(triggers, scheduler));
    },
  });
  scheduler.start();
  callbacks.start();

  return {
    url: server.url,
    port: server.port,
    // events.on() also listens for "error"; count each watch once, by its run's event.
    openWatches: () => [executor.events, deployer.events].reduce((sum, events) => sum + watchers(events), 0),
    scheduledTriggers: () => scheduler.scheduled(),
    pendingCallbacks: () => callbacks.pending(),
    callbackSecretFile: callbacks.secretFile,
    async close() {
      scheduler.close();
      deployer.close();
      executor.close();
      await callbacks.close();
      await server.close();
      await Promise.all([...connectors.values()].map((c) => c.close?.()));
      store.close();
    },
  };
}
