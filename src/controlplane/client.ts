// Typed client for the Flyte 2 control plane: one method per thing the gateway asks,
// each sending the requests flyte-sdk sends (see WIRE.md), with the caller's
// Authorization/Cookie forwarded verbatim and a deadline on every call.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type CallOptions, type Client, Code, ConnectError, createClient, createContextKey, createContextValues, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, type Http2SessionManager } from "@connectrpc/connect-node";
import { badGateway, fromControlPlane, notFound } from "../errors.ts";
import {
  DataProxyService,
  Filter_Function,
  IdentityService,
  type Inputs,
  type Run,
  type RunDetails,
  RunService,
  RunSpecSchema,
  Sort_Direction,
  type TaskDetails,
  TaskService,
} from "./idl.ts";
import { GuardedHttp2SessionManager } from "./sessions.ts";

export type Protocol = "connect" | "grpc" | "grpc-web";

export interface ControlPlaneSettings {
  /** Base URL of the control plane (`http(s)://host[:port]`). */
  endpoint: string;
  protocol: Protocol;
  org: string;
  /** Project and domain runs are created in. */
  project: string;
  domain: string;
  /** Deadline of every call, in milliseconds. */
  deadlineMs: number;
  /** Wrap every call (metrics). */
  interceptors?: Interceptor[];
}

/** Set on readiness probes, so interceptors can tell them from callers' calls. */
export const PROBE_CALL = createContextKey(false, { description: "readiness probe" });

/** Codes that mean no control plane answered (or only a proxy in front of it did). */
const UNREACHABLE: readonly Code[] = [Code.Unavailable, Code.DeadlineExceeded, Code.Canceled, Code.Unknown, Code.Internal];

/** The caller's credentials, forwarded as they came. */
export interface Credentials {
  authorization?: string | undefined;
  cookie?: string | undefined;
}

export interface TaskRef {
  domain: string;
  project: string;
  name: string;
  version?: string | undefined;
}

/** Task specs are immutable per version, so run_task can reuse one it fetched recently. */
const TASK_CACHE_TTL_MS = 60_000;
const TASK_CACHE_MAX = 512;

export class ControlPlane {
  readonly settings: ControlPlaneSettings;
  /** Shared with the clients of other services (apps, triggers) so they use one HTTP/2 session. */
  readonly transport: Transport;
  private readonly session: Http2SessionManager;
  private readonly identity: Client<typeof IdentityService>;
  private readonly tasks: Client<typeof TaskService>;
  private readonly runs: Client<typeof RunService>;
  private readonly dataProxy: Client<typeof DataProxyService>;
  private readonly taskCache = new Map<string, { details: TaskDetails; expires: number }>();

  constructor(settings: ControlPlaneSettings) {
    this.settings = settings;
    this.session = new GuardedHttp2SessionManager(settings.endpoint, { idleConnectionTimeoutMs: 60_000 });
    const transport = makeTransport(settings, this.session);
    this.transport = transport;
    this.identity = createClient(IdentityService, transport);
    this.tasks = createClient(TaskService, transport);
    this.runs = createClient(RunService, transport);
    // DataProxy is reached through SelectCluster in flyte-sdk; planes that answer it empty
    // (the embedded one, single-cluster deployments) serve it on the same endpoint.
    this.dataProxy = createClient(DataProxyService, transport);
  }

  /** Per-call options: the caller's credentials and nothing else of theirs, and the deadline. */
  call(creds: Credentials): CallOptions {
    const headers: Record<string, string> = {};
    if (creds.authorization) headers.authorization = creds.authorization;
    if (creds.cookie) headers.cookie = creds.cookie;
    return { headers, timeoutMs: this.settings.deadlineMs };
  }

  async userInfo(creds: Credentials) {
    try {
      return await this.identity.userInfo({}, this.call(creds));
    } catch (err) {
      throw fromControlPlane(err);
    }
  }

  /**
   * Task details for a task reference. Without a version, "latest" is the most recently
   * created version, found with ListTasks as flyte-sdk does.
   */
  async getTask(creds: Credentials, ref: TaskRef, { cached = false } = {}): Promise<TaskDetails> {
    const what = `Task ${ref.name} with version ${ref.version ?? "latest"} in ${ref.domain}/${ref.project}`;
    try {
      const version = ref.version ?? (await this.latestVersion(creds, ref));
      if (version === undefined) throw notFound(`${what} not found`);
      const key = `${ref.domain}\u0000${ref.project}\u0000${ref.name}\u0000${version}`;
      const hit = cached ? this.taskCache.get(key) : undefined;
      if (hit && hit.expires > Date.now()) return hit.details;
      const { details } = await this.tasks.getTaskDetails(
        { taskId: { org: this.settings.org, project: ref.project, domain: ref.domain, name: ref.name, version } },
        this.call(creds),
      );
      if (!details) throw notFound(`${what} not found`);
      if (this.taskCache.size >= TASK_CACHE_MAX) this.taskCache.delete(this.taskCache.keys().next().value!);
      this.taskCache.set(key, { details, expires: Date.now() + TASK_CACHE_TTL_MS });
      return details;
    } catch (err) {
      throw fromControlPlane(err, { notFound: what });
    }
  }

  private async latestVersion(creds: Credentials, ref: TaskRef): Promise<string | undefined> {
    const { tasks } = await this.tasks.listTasks(
      {
        scopeBy: { case: "projectId", value: { organization: this.settings.org, domain: ref.domain, name: ref.project } },
        request: {
          limit: 1,
          sortBy: { key: "created_at", direction: Sort_Direction.DESCENDING },
          filters: [{ function: Filter_Function.EQUAL, field: "name", values: [ref.name] }],
        },
      },
      this.call(creds),
    );
    return tasks[0]?.taskId?.version;
  }

  /** Creates a run of a task in the gateway's project/domain; the plane names it. */
  async createRun(creds: Credentials, task: TaskDetails, inputs: Inputs): Promise<string> {
    return (await this.startRun(creds, task, inputs)).name;
  }

  /**
   * createRun, also answering the new run as the plane reported it (phase included). With
   * a `name` the caller picks the run's name, and the plane refuses a second run of that
   * name (ALREADY_EXISTS): that is what makes idempotent runs safe across replicas.
   */
  async startRun(
    creds: Credentials,
    task: TaskDetails,
    inputs: Inputs,
    runSpec: MessageInitShape<typeof RunSpecSchema> = {},
    options: { name?: string | undefined } = {},
  ): Promise<{ name: string; run: Run }> {
    try {
      const { run } = await this.runs.createRun(
        {
          id: options.name
            ? { case: "runId", value: this.runId(options.name) }
            : {
                case: "projectId",
                value: { organization: this.settings.org, domain: this.settings.domain, name: this.settings.project },
              },
          task: { case: "taskId", value: task.taskId! },
          inputWrapper: { case: "inputs", value: inputs },
          runSpec,
        },
        this.call(creds),
      );
      const name = run?.action?.id?.run?.name;
      if (!name) throw badGateway("the control plane answered CreateRun without a run name");
      return { name, run };
    } catch (err) {
      throw fromControlPlane(err, { notFound: `task ${task.taskId?.name ?? ""}` });
    }
  }

  private runId(name: string) {
    const { org, project, domain } = this.settings;
    return { org, project, domain, name };
  }

  async getRun(creds: Credentials, name: string): Promise<RunDetails> {
    try {
      const { details } = await this.runs.getRunDetails({ runId: this.runId(name) }, this.call(creds));
      if (!details) throw notFound(`run ${name} not found`);
      return details;
    } catch (err) {
      throw fromControlPlane(err, { notFound: `run ${name}` });
    }
  }

  /**
   * The run's details now and at every change (WatchRunDetails), until the plane ends the
   * stream or `signal` aborts it. The caller decides when to stop reading: breaking out of
   * the loop cancels the stream. No deadline but the signal: streams last as long as
   * their reader wants, so every reader passes one that ends.
   */
  async *watchRun(creds: Credentials, name: string, signal: AbortSignal): AsyncGenerator<RunDetails> {
    try {
      const stream = this.runs.watchRunDetails({ runId: this.runId(name) }, { headers: this.call(creds).headers, signal, timeoutMs: 0 /* none: the transport's default is for unary calls */ });
      for await (const { details } of stream) if (details) yield details;
    } catch (err) {
      throw fromControlPlane(err, { notFound: `run ${name}` });
    }
  }

  /** Inputs and outputs of a run's root action. */
  async getRunData(creds: Credentials, details: RunDetails) {
    const actionId = details.action?.id;
    if (!actionId) throw badGateway("the control plane answered GetRunDetails without an action id");
    try {
      return await this.dataProxy.getActionData({ actionId }, this.call(creds));
    } catch (err) {
      throw fromControlPlane(err, { notFound: `data of run ${actionId.run?.name ?? ""}` });
    }
  }

  async abortRun(creds: Credentials, name: string, reason: string): Promise<void> {
    try {
      await this.runs.abortRun({ runId: this.runId(name), reason }, this.call(creds));
    } catch (err) {
      throw fromControlPlane(err, { notFound: `run ${name}`, conflict: `run ${name} has already finished` });
    }
  }

  /**
   * Whether the control plane answers: UserInfo without credentials is cheap, and any
   * answer the plane itself gives (Unauthenticated included) proves it is up.
   */
  async reachable(timeoutMs: number): Promise<boolean> {
    try {
      await this.identity.userInfo({}, { timeoutMs, contextValues: createContextValues().set(PROBE_CALL, true) });
      return true;
    } catch (err) {
      return !UNREACHABLE.includes(ConnectError.from(err).code);
    }
  }

  close(): void {
    this.session.abort();
  }
}

function makeTransport(settings: ControlPlaneSettings, sessionManager: Http2SessionManager): Transport {
  const common = {
    baseUrl: settings.endpoint,
    httpVersion: "2" as const,
    sessionManager,
    defaultTimeoutMs: settings.deadlineMs,
    interceptors: settings.interceptors ?? [],
  };
  switch (settings.protocol) {
    case "grpc":
      return createGrpcTransport(common);
    case "grpc-web":
      return createGrpcWebTransport({ ...common, useBinaryFormat: true });
    default:
      return createConnectTransport({ ...common, useBinaryFormat: true });
  }
}
