// The webhook connector as flyteidl2 connector services, so a Flyte deployment can route
// `webhook` tasks to `flyte-webhook connector`. CreateTask makes the call and answers with
// its outcome encoded in `resource_meta`; GetTask decodes it. Nothing is kept in memory,
// so any replica answers GetTask and a restart loses no result.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { pino, type Logger } from "pino";
import { type ConnectServer, listenConnect } from "../connect-server.ts";
import { ApiKeys } from "../local/auth.ts";
import {
  AsyncConnectorService,
  ConnectorInfoSchema,
  ConnectorMetadataService,
  InputsSchema,
  type Resource,
  ResourceSchema,
  TaskExecution_Phase,
  TaskSpecSchema,
} from "../controlplane/idl.ts";
import { NO_SECRETS, type SecretSource } from "./secrets.ts";
import { type Connector, failureMessage } from "./types.ts";
import { webhookConnector } from "./webhook.ts";

/** The name this service reports in ConnectorMetadataService. */
export const CONNECTOR_NAME = "flyte-webhook";

/** Secrets the cluster sent with the request win over the service's own. */
const layered = (first: Readonly<Record<string, string>>, then: SecretSource): SecretSource => ({
  get: (name) => (Object.hasOwn(first, name) ? first[name] : then.get(name)),
});

function decodeResource(meta: Uint8Array): Resource {
  try {
    return fromBinary(ResourceSchema, meta);
  } catch {
    throw new ConnectError("resource_meta is not one this connector wrote", Code.InvalidArgument);
  }
}

export interface ConnectorServiceOptions {
  connectors: readonly Connector[];
  secrets: SecretSource;
  log: Logger;
}

export function connectorServices({ connectors, secrets, log }: ConnectorServiceOptions) {
  const byType = new Map(connectors.map((c) => [c.type, c]));
  const info = create(ConnectorInfoSchema, {
    name: CONNECTOR_NAME,
    supportedTaskCategories: connectors.map((c) => ({ name: c.type, version: 0 })),
  });

  const asyncService: Partial<ServiceImpl<typeof AsyncConnectorService>> = {
    async createTask(req, context) {
      const template = req.template;
      const connector = byType.get(template?.type ?? "");
      if (!template || !connector) throw new ConnectError(`task type "${template?.type ?? ""}" is not served here (serves: ${[...byType.keys()].join(", ")})`, Code.InvalidArgument);
      const execution = req.taskExecutionMetadata?.taskExecutionId;
      const runName = execution?.nodeExecutionId?.executionId?.name ?? "";
      let resource: Resource;
      try {
        const outputs = await connector.execute({
          runName,
          task: create(TaskSpecSchema, { taskTemplate: template }),
          inputs: req.inputs ?? create(InputsSchema),
          config: template.custom ?? {},
          // The caller's deadline bounds the call: a cancelled CreateTask stops the request.
          signal: context.signal,
          log: log.child({ run: runName, task: template.id?.name }),
          secrets: layered(req.connection?.secrets ?? {}, secrets),
        });
        resource = create(ResourceSchema, { phase: TaskExecution_Phase.SUCCEEDED, outputs, message: "webhook call succeeded" });
      } catch (err) {
        if (context.signal.aborted) throw new ConnectError("the request was cancelled before the call finished", Code.Canceled);
        resource = create(ResourceSchema, { phase: TaskExecution_Phase.FAILED, message: failureMessage(connector, err) });
      }
      return { resourceMeta: toBinary(ResourceSchema, resource) };
    },

    getTask(req) {
      return { resource: decodeResource(req.resourceMeta) };
    },

    // The call already happened in CreateTask; there is nothing left to stop.
    deleteTask(req) {
      decodeResource(req.resourceMeta);
      return {};
    },
  };

  const metadataService: Partial<ServiceImpl<typeof ConnectorMetadataService>> = {
    getConnector(req) {
      if (req.name !== CONNECTOR_NAME) throw new ConnectError(`no connector named "${req.name}" (this is "${CONNECTOR_NAME}")`, Code.NotFound);
      return { connector: info };
    },
    listConnectors() {
      return { connectors: [info] };
    },
  };

  return (router: ConnectRouter) => {
    router.service(AsyncConnectorService, asyncService);
    router.service(ConnectorMetadataService, metadataService);
  };
}

export interface ConnectorServerOptions {
  /** `host:port`; port 0 picks a free one. */
  addr: string;
  secrets?: SecretSource;
  logger?: Logger;
  /** Bearer keys callers must present; none: open, as Flyte's connectors usually are inside a cluster. */
  apiKeys?: ReadonlyArray<{ token: string; subject: string }>;
}

/** `flyte-webhook connector`: the webhook connector served over Connect, gRPC and gRPC-Web. */
export async function startConnectorServer(options: ConnectorServerOptions): Promise<ConnectServer> {
  const connectors = [webhookConnector()];
  const server = await listenConnect({
    addr: options.addr,
    interceptors: options.apiKeys?.length ? [new ApiKeys(options.apiKeys).interceptor()] : [],
    routes: connectorServices({ connectors, secrets: options.secrets ?? NO_SECRETS, log: options.logger ?? pino({ level: "silent" }) }),
  });
  return {
    ...server,
    async close() {
      await server.close();
      await Promise.all(connectors.map((c) => c.close?.()));
    },
  };
}
