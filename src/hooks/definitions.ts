// The hooks file: which signed inbound webhooks the gateway accepts at `POST /hooks/{hook}`.
// Each hook names how its sender signs (verifier), the secret it signs with (by secret
// name, never the value), which deliveries start a run (filters), the task and how its
// inputs are built from the payload, and the service credential the gateway uses toward
// the control plane (also by name). Loaded and checked at start: a bad file names the
// hook and the field, and the process stops before it listens.
import { readFileSync } from "node:fs";
import { Type, type Static } from "typebox";
import { Value } from "typebox/value";
import type { Allow, TaskRef } from "../allowlist.ts";
import { checkCallbackUrl } from "../callbacks.ts";
import { standardWebhooksKey } from "../standard-webhooks.ts";
import { SECRET_NAME, type SecretSource, secretEnvName } from "../connectors/secrets.ts";
import { referencedRoots, secretNames } from "../connectors/template.ts";
import { ApiError } from "../errors.ts";

export const VERIFIERS = ["github", "standard-webhooks", "slack"] as const;
export type Verifier = (typeof VERIFIERS)[number];

/** Headers a template may not copy into a run's inputs: signatures and credentials. */
export const UNREADABLE_HEADERS = new Set([
  "authorization",
  "cookie",
  "x-hub-signature",
  "x-hub-signature-256",
  "webhook-signature",
  "svix-signature",
  "x-slack-signature",
]);

/** A value a filter accepts: JSON scalars, compared exactly. */
const Accepted = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
const AcceptedValues = Type.Union([Accepted, Type.Array(Accepted, { minItems: 1 })]);

const TaskSelector = Type.Object(
  {
    domain: Type.String({ minLength: 1 }),
    project: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    version: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const Filters = Type.Object(
  {
    /** Header name (any case) → accepted value(s). */
    headers: Type.Optional(Type.Record(Type.String(), AcceptedValues)),
    /** Dotted path into the payload → accepted value(s). */
    payload: Type.Optional(Type.Record(Type.String(), AcceptedValues)),
  },
  { additionalProperties: false },
);

const HookSchema = Type.Object(
  {
    verifier: Type.Union([Type.Literal("github"), Type.Literal("standard-webhooks"), Type.Literal("slack")]),
    secret: Type.String(),
    credential: Type.String(),
    task: TaskSelector,
    inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    filters: Type.Optional(Filters),
    callback_url: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const HooksFileSchema = Type.Object({ hooks: Type.Record(Type.String(), HookSchema) }, { additionalProperties: false });

/** One hook as the file declares it. */
export type HookDefinition = Static<typeof HookSchema>;
/** Hooks by name, as `createFlyteWebhookApp({hooks})` takes them. */
export type HookDefinitions = Record<string, HookDefinition>;

/** A checked hook, ready for requests: header filter names lowercased, the callback URL normalised. */
export interface Hook extends Omit<HookDefinition, "inputs" | "filters"> {
  name: string;
  inputs: Record<string, unknown>;
  filters: { headers: Record<string, unknown[]>; payload: Record<string, unknown[]> };
}

/** Hook names become a URL path segment. */
const HOOK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Raised for a hooks file or option that cannot be used; the message names the hook and the field. */
export class HookConfigError extends Error {
  override name = "HookConfigError";
}

interface Problem {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/** `/hooks/gh/task/name` → `hook "gh": task.name: `. */
function where(instancePath: string): string {
  const parts = instancePath.split("/").slice(1).map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  if (parts[0] !== "hooks" || parts.length < 2) return parts.length ? `${parts.join(".")}: ` : "";
  const field = parts.slice(2).join(".");
  return `hook "${parts[1]}": ${field ? `${field}: ` : ""}`;
}

/** The most useful sentence about a failed schema check, in the file's own words. */
function describe(problems: Problem[]): string {
  const extra = problems.find((p) => p.keyword === "additionalProperties");
  if (extra) return `${where(extra.instancePath)}unknown field "${(extra.params.additionalProperties as string[])[0]}"`;
  const missing = problems.find((p) => p.keyword === "required");
  if (missing) return `${where(missing.instancePath)}missing field "${(missing.params.requiredProperties as string[])[0]}"`;
  const at = problems[0]!.instancePath;
  const here = problems.filter((p) => p.instancePath === at && p.keyword !== "anyOf");
  const allowed = here.filter((p) => p.keyword === "const").map((p) => JSON.stringify(p.params.allowedValue));
  if (allowed.length > 0) return `${where(at)}must be one of ${allowed.join(", ")}`;
  if (at.includes("/filters/")) return `${where(at)}must be a string, number, boolean or null, or a non-empty list of them`;
  return `${where(at)}${[...new Set(here.map((p) => p.message))].join(" or ")}`;
}

/** Checks a hooks document (`{"hooks": {...}}`) and answers the hooks by name. */
export function parseHooks(document: unknown): Map<string, Hook> {
  const problems = [...Value.Errors(HooksFileSchema, document)] as unknown as Problem[];
  if (problems.length > 0) throw new HookConfigError(describe(problems));
  const hooks = new Map<string, Hook>();
  for (const [name, definition] of Object.entries((document as Static<typeof HooksFileSchema>).hooks)) {
    hooks.set(name, checkHook(name, definition));
  }
  return hooks;
}

function checkHook(name: string, definition: HookDefinition): Hook {
  const fail = (field: string, message: string): never => {
    throw new HookConfigError(`hook "${name}": ${field}: ${message}`);
  };
  if (!HOOK_NAME.test(name)) {
    throw new HookConfigError(`hook "${name}": a hook name is 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  for (const field of ["secret", "credential"] as const) {
    if (!SECRET_NAME.test(definition[field])) fail(field, "expected a secret name (letters, digits, \".\", \"_\", \"-\"), not a value");
  }
  const inputs = definition.inputs ?? {};
  if (secretNames(inputs).length > 0) fail("inputs", "{secrets.…} is not allowed: run inputs are readable by anyone who can read the run");
  for (const header of referencedRoots(inputs, "headers")) {
    if (UNREADABLE_HEADERS.has(header.toLowerCase())) fail("inputs", `{headers.${header}} is not allowed: signatures and credentials stay out of run inputs`);
    if (header !== header.toLowerCase()) fail("inputs", `{headers.${header}}: header names are lowercase ({headers.${header.toLowerCase()}})`);
  }
  let callbackUrl = definition.callback_url;
  if (callbackUrl !== undefined) {
    try {
      callbackUrl = checkCallbackUrl(callbackUrl, "callback_url");
    } catch (err) {
      if (err instanceof ApiError) fail("callback_url", err.message.replace(/^callback_url /, ""));
      throw err;
    }
  }
  const asList = (value: unknown) => (Array.isArray(value) ? value : [value]);
  const headers: Record<string, unknown[]> = {};
  for (const [header, accepted] of Object.entries(definition.filters?.headers ?? {})) headers[header.toLowerCase()] = asList(accepted);
  const payload: Record<string, unknown[]> = {};
  for (const [path, accepted] of Object.entries(definition.filters?.payload ?? {})) {
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(path)) fail(`filters.payload`, `"${path}" is not a dotted path (pull_request.base.ref)`);
    payload[path] = asList(accepted);
  }
  return {
    ...definition,
    ...(callbackUrl !== undefined ? { callback_url: callbackUrl } : {}),
    name,
    inputs,
    filters: { headers, payload },
  };
}

/**
 * What a hook needs from the running gateway: its task allowed, and its secrets present
 * (they are read again on every delivery, so a rotated secret takes effect at once).
 */
export function checkHooksUsable(hooks: ReadonlyMap<string, Hook>, context: { allowTask: Allow<TaskRef>; secrets: SecretSource }): void {
  for (const hook of hooks.values()) {
    const { domain, project, name } = hook.task;
    if (!context.allowTask({ domain, project, name })) {
      throw new HookConfigError(`hook "${hook.name}": task: ${domain}/${project}/${name} is not in the task allow-list`);
    }
    for (const field of ["secret", "credential"] as const) {
      const secret = context.secrets.get(hook[field]);
      if (secret === undefined || secret === "") {
        throw new HookConfigError(`hook "${hook.name}": ${field}: secret "${hook[field]}" is not set (${secretEnvName(hook[field])}, or a file of that name in FLYTE_WEBHOOK_SECRETS_DIR)`);
      }
    }
    if (hook.verifier === "standard-webhooks" && !standardWebhooksKey(context.secrets.get(hook.secret)!)) {
      throw new HookConfigError(`hook "${hook.name}": secret: secret "${hook.secret}" is not a Standard Webhooks key (base64, optionally after "whsec_")`);
    }
  }
}

/** Reads a hooks file (`{"hooks": {...}}`) and answers its hooks, checked, in the form the `hooks` option takes. */
export function readHooksFile(path: string): HookDefinitions {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new HookConfigError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new HookConfigError(`not valid JSON: ${(err as Error).message}`);
  }
  parseHooks(document);
  return (document as Static<typeof HooksFileSchema>).hooks;
}

/** The `hooks` option of createFlyteWebhookApp, checked as a hooks file is. */
export function hooksFromOptions(
  definitions: HookDefinitions | undefined,
  context: { allowTask: Allow<TaskRef>; secrets: SecretSource },
): Map<string, Hook> {
  if (definitions === undefined) return new Map();
  const hooks = parseHooks({ hooks: definitions });
  checkHooksUsable(hooks, context);
  return hooks;
}
