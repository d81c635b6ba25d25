// `webhookTask({...})`: a webhook task as flyteidl2 `TaskIdentifier` + `TaskSpec`, ready
// for `TaskService.DeployTask` on any Flyte 2 control plane (or this project's embedded
// one), and as the catalog entry that declares the same task in a catalog file.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { WEBHOOK_TASK_TYPE } from "./connectors/webhook.ts";
import { parseWebhookConfig, type WebhookMethod } from "./connectors/webhook-config.ts";
import type { TaskIdentifier, TaskSpec } from "./controlplane/idl.ts";
import { parseCatalog } from "./local/catalog.ts";

export interface WebhookTaskOptions {
  name: string;
  org?: string;
  /** Default `flytesnacks`. */
  project?: string;
  /** Default `development`. */
  domain?: string;
  /** Default `v1`. */
  version?: string;
  description?: string;
  /** Input names to Python-style type strings: `{"user": "str", "count": "int"}`. */
  inputs?: Record<string, string>;
  /** Default values of inputs, as JSON. */
  defaults?: Record<string, JsonValue>;
  /** Names of the secrets the task uses (`{secrets.NAME}`), declared in its security context. */
  secrets?: string[];
  url: string;
  /** Default POST. */
  method?: WebhookMethod | Lowercase<WebhookMethod>;
  headers?: Record<string, string>;
  data?: JsonValue;
  showData?: boolean;
  showUrl?: boolean;
  /** Seconds, or a duration like `"10s"` / `"PT10S"`; default 10 s. */
  timeout?: number | string;
  /** Default 1 MiB. */
  maxResponseBytes?: number;
  followRedirects?: boolean;
}

export interface WebhookTaskDefinition {
  taskId: TaskIdentifier;
  spec: TaskSpec;
  /** The same task as an entry of a catalog file's `tasks` list. */
  catalogEntry: JsonObject;
}

/** Builds a webhook task; a bad configuration throws here, naming the field. */
export function webhookTask(options: WebhookTaskOptions): WebhookTaskDefinition {
  const config: JsonObject = { url: options.url };
  const set = (key: string, value: JsonValue | undefined) => {
    if (value !== undefined) config[key] = value;
  };
  set("method", options.method?.toUpperCase());
  set("headers", options.headers);
  set("data", options.data);
  set("show_data", options.showData);
  set("show_url", options.showUrl);
  set("timeout", options.timeout);
  set("max_response_bytes", options.maxResponseBytes);
  set("follow_redirects", options.followRedirects);
  parseWebhookConfig(config, Object.keys(options.inputs ?? {}));

  const catalogEntry: JsonObject = { name: options.name, type: WEBHOOK_TASK_TYPE, config };
  for (const key of ["project", "domain", "version", "description", "inputs", "defaults", "secrets"] as const) {
    if (options[key] !== undefined) catalogEntry[key] = options[key] as JsonValue;
  }
  const [task] = parseCatalog({ tasks: [catalogEntry] }, { org: options.org ?? "", project: "flytesnacks", domain: "development" }, "webhookTask");
  return { taskId: task!.id, spec: task!.spec, catalogEntry };
}
