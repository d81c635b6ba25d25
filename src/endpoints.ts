// The endpoint catalogue: every endpoint the gateway knows, the group it belongs to, and
// the filtering that decides which ones an instance serves. Routes look themselves up
// here by name, so a disabled endpoint is neither routed nor documented.

export const ENDPOINT_GROUPS = ["core", "task", "run", "app", "trigger", "build", "prefetch", "hooks"] as const;
export type EndpointGroup = (typeof ENDPOINT_GROUPS)[number];

export const GROUP_DESCRIPTIONS: Record<EndpointGroup, string> = {
  core: "Health check and the caller's identity",
  task: "Run tasks and read task metadata",
  run: "Run status, inputs and outputs, abort",
  app: "Manage apps and call their endpoints",
  trigger: "Activate and deactivate triggers",
  build: "Build container images",
  prefetch: "Prefetch Hugging Face models",
  hooks: "Signed inbound webhooks (GitHub, Standard Webhooks, Slack) that start runs",
};

export interface Endpoint {
  readonly name: string;
  readonly group: EndpointGroup;
  readonly method: "GET" | "POST";
  /** Path in Fastify syntax (`:param`). */
  readonly path: string;
  /** Served without a bearer token: the health check, and signed hooks that prove themselves by signature. */
  readonly public?: boolean;
  readonly summary: string;
}

export const ENDPOINTS = [
  { name: "health", group: "core", method: "GET", path: "/health", public: true, summary: "Health check" },
  { name: "me", group: "core", method: "GET", path: "/me", summary: "Who the credentials belong to" },
  { name: "run_task", group: "task", method: "POST", path: "/run-task/:domain/:project/:name", summary: "Run a task" },
  { name: "get_task", group: "task", method: "GET", path: "/task/:domain/:project/:name", summary: "Task metadata" },
  { name: "get_run", group: "run", method: "GET", path: "/run/:name", summary: "Run status" },
  { name: "get_run_io", group: "run", method: "GET", path: "/run/:name/io", summary: "Run inputs and outputs" },
  { name: "get_run_events", group: "run", method: "GET", path: "/run/:name/events", summary: "Live run events (Server-Sent Events)" },
  { name: "abort_run", group: "run", method: "POST", path: "/run/:name/abort", summary: "Abort a run" },
  { name: "get_app", group: "app", method: "GET", path: "/app/:name", summary: "App status" },
  { name: "activate_app", group: "app", method: "POST", path: "/app/:name/activate", summary: "Activate an app" },
  { name: "deactivate_app", group: "app", method: "POST", path: "/app/:name/deactivate", summary: "Deactivate an app" },
  { name: "call_app", group: "app", method: "POST", path: "/app/:name/call", summary: "Call an app endpoint" },
  { name: "activate_trigger", group: "trigger", method: "POST", path: "/trigger/:task_name/:trigger_name/activate", summary: "Activate a trigger" },
  { name: "deactivate_trigger", group: "trigger", method: "POST", path: "/trigger/:task_name/:trigger_name/deactivate", summary: "Deactivate a trigger" },
  { name: "build_image", group: "build", method: "POST", path: "/build-image", summary: "Build a container image" },
  { name: "prefetch_hf_model", group: "prefetch", method: "POST", path: "/prefetch/hf-model", summary: "Prefetch a Hugging Face model" },
  { name: "get_prefetch_hf_model", group: "prefetch", method: "GET", path: "/prefetch/hf-model/:run_name", summary: "Prefetch run status" },
  { name: "get_prefetch_hf_model_io", group: "prefetch", method: "GET", path: "/prefetch/hf-model/:run_name/io", summary: "Prefetch run inputs and outputs" },
  { name: "abort_prefetch_hf_model", group: "prefetch", method: "POST", path: "/prefetch/hf-model/:run_name/abort", summary: "Abort a prefetch run" },
  { name: "hook", group: "hooks", method: "POST", path: "/hooks/:hook", public: true, summary: "Receive a signed webhook and start its run" },
] as const satisfies readonly Endpoint[];

export type EndpointName = (typeof ENDPOINTS)[number]["name"];
export const ENDPOINT_NAMES: readonly EndpointName[] = ENDPOINTS.map((e) => e.name);

/** Raised for a filter that names nothing real or names both kinds at once. */
export class EndpointFilterError extends Error {
  override name = "EndpointFilterError";
}

export interface EndpointFilter {
  /** Groups to enable; `"all"` enables every group. */
  endpointGroups?: readonly string[] | undefined;
  /** Individual endpoints to enable, by name. */
  endpoints?: readonly string[] | undefined;
}

/**
 * Resolves a filter to the set of enabled endpoint names. With neither list given every
 * endpoint is enabled, as in the reference.
 */
export function resolveEnabledEndpoints(filter: EndpointFilter): ReadonlySet<EndpointName> {
  const { endpointGroups, endpoints } = filter;
  if (endpointGroups !== undefined && endpoints !== undefined) {
    throw new EndpointFilterError("endpointGroups and endpoints cannot both be set: use one or the other");
  }
  if (endpoints !== undefined) {
    const unknown = endpoints.filter((name) => !(ENDPOINT_NAMES as readonly string[]).includes(name));
    if (unknown.length > 0) {
      throw new EndpointFilterError(
        `unknown endpoint(s): ${unknown.join(", ")}; valid endpoints are: ${ENDPOINT_NAMES.join(", ")}`,
      );
    }
    return new Set(endpoints as EndpointName[]);
  }
  if (endpointGroups !== undefined) {
    const valid: readonly string[] = ["all", ...ENDPOINT_GROUPS];
    const unknown = endpointGroups.filter((group) => !valid.includes(group));
    if (unknown.length > 0) {
      throw new EndpointFilterError(
        `unknown endpoint group(s): ${unknown.join(", ")}; valid groups are: ${valid.join(", ")}`,
      );
    }
    const all = endpointGroups.includes("all");
    return new Set(ENDPOINTS.filter((e) => all || endpointGroups.includes(e.group)).map((e) => e.name));
  }
  return new Set(ENDPOINT_NAMES);
}

export function endpoint(name: EndpointName): Endpoint {
  // The catalogue is a literal: every EndpointName is present.
  return ENDPOINTS.find((e) => e.name === name)!;
}
