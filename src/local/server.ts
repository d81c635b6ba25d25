// The embedded control plane: a real Connect server (Connect, gRPC and gRPC-Web over
// cleartext HTTP/2) on loopback, serving the flyteidl2 services the gateway uses, backed
// by SQLite and executing runs with connectors. The gateway reaches it over the network
// exactly as it reaches a remote Flyte.
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import type { ConnectError, ConnectRouter } from "@connectrpc/connect";
import type { EventEmitter } from "node:events";
import { fastify } from "fastify";
import { dirname } from "node:path";
import { pino, type Logger } from "pino";
import { NO_SECRETS, type SecretSource } from "../connectors/secrets.ts";
import type { Connector } from "../connectors/types.ts";
import { echoConnector } from "../connectors/echo.ts";
import { AppService, ClusterService, DataProxyService, IdentityService, RunService, TaskService, TriggerService } from "../controlplane/idl.ts";
import { AppDeployer } from "./app-deployer.ts";
import { AppStore } from "./app-store.ts";
import { ApiKeys } from "./auth.ts";
import { type CatalogApp, CatalogError, type CatalogTask, type CatalogTrigger } from "./catalog.ts";
import { Executor } from "./executor.ts";
import type { PlaneContext } from "./plane-context.ts";
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

export const DEFAULT_CONNECTORS: readonly Connector[] = [echoConnector];

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
}

export interface LocalControlPlane {
  /** Base URL to give the gateway (`http://host:port`). */
  url: string;
  port: number;
  /** Open WatchRunDetails/WatchActionDetails and app Watch streams: lets operators and tests see leaks. */
  openWatches(): number;
  /** Active triggers with a running cron job. */
  scheduledTriggers(): number;
  close(): Promise<void>;
}

/** Listeners of an emitter of per-entity events; events.on() also listens for "error", so each watch counts once. */
const watchers = (events: EventEmitter) => events.eventNames().reduce((sum: number, name) => sum + (name === "error" ? 0 : events.listenerCount(name)), 0);

export function splitAddr(addr: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  if (!match) throw new Error(`expected host:port, got "${addr}"`);
  return { host: match[1]!, port: Number(match[2]) };
}

export async function startLocalControlPlane(options: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const log = options.logger ?? pino({ level: "silent" });
  const store = new Store(options.dbPath);
  const connectors = new Map((options.connectors ?? DEFAULT_CONNECTORS).map((c) => [c.type, c]));
  const dataDir = options.dataDir ?? (options.dbPath === ":memory:" ? undefined : dirname(options.dbPath));
  const executor = new Executor(store, connectors, log, { secrets: options.secrets ?? NO_SECRETS, dataDir }, options.maxConcurrentRuns);
  const plane: PlaneContext = { store, executor, log };

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
  const apps = new AppStore(store.db);
  const deployer = new AppDeployer(apps, options.appTransitionMs ?? 1000);
  for (const app of options.apps ?? []) deployer.declare(app);
  deployer.recover();
  const triggers = new TriggerStore(store.db);
  for (const trigger of options.triggers ?? []) declareTrigger(plane, triggers, trigger);
  const scheduler = new TriggerScheduler(plane, triggers);

  const recovered = executor.recover();
  if (recovered.resumed + recovered.failed > 0) log.info(recovered, "runs in flight at the last stop were recovered");

  const keys = new ApiKeys(options.apiKeys);
  const server = fastify({ http2: true, logger: false });
  await server.register(fastifyConnectPlugin, {
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
  const { host, port } = splitAddr(options.addr);
  await server.listen({ host, port });
  const address = server.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  scheduler.start();

  return {
    url: `http://${urlHost}:${boundPort}`,
    port: boundPort,
    // events.on() also listens for "error"; count each watch once, by its run's event.
    openWatches: () => [executor.events, deployer.events].reduce((sum, events) => sum + watchers(events), 0),
    scheduledTriggers: () => scheduler.scheduled(),
    async close() {
      scheduler.close();
      deployer.close();
      executor.close();
      await server.close();
      store.close();
    },
  };
}
