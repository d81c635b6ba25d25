// The catalog file of the embedded control plane: tasks, apps and triggers declared in
// JSON (task interfaces with Python-style type strings), deployed at start. Loading is
// idempotent: the same file twice leaves the same state.
import { readFileSync } from "node:fs";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { Cron } from "croner";
import {
  IdentifierSchema,
  ResourceType,
  type TaskIdentifier,
  TaskIdentifierSchema,
  type TaskSpec,
  TaskSpecSchema,
} from "../controlplane/idl.ts";
import { LiteralError, parseTypeString, toLiteral } from "../controlplane/literals.ts";
import { WEBHOOK_OUTPUTS, WEBHOOK_TASK_TYPE } from "../connectors/webhook.ts";

export class CatalogError extends Error {
  override name = "CatalogError";
}

export interface CatalogTask {
  id: TaskIdentifier;
  spec: TaskSpec;
}

const TASK_KEYS = new Set(["project", "domain", "name", "version", "type", "inputs", "outputs", "defaults", "config", "secrets", "description"]);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** An app the plane serves: its public URL and whether it starts active. */
export interface CatalogApp {
  org: string;
  project: string;
  domain: string;
  name: string;
  url: string;
  active: boolean;
}

/** A trigger: runs of `task` on a cron `schedule` (5 fields, or 6 with seconds first). */
export interface CatalogTrigger {
  org: string;
  project: string;
  domain: string;
  task: string;
  /** Task version to run; the latest deployed when omitted. */
  version: string | undefined;
  name: string;
  schedule: string;
  /** IANA time zone of the schedule; UTC when omitted. */
  timezone: string | undefined;
  active: boolean;
  /** Inputs of every run, as JSON; the task's defaults fill the rest. */
  inputs: Record<string, unknown>;
  description: string;
}

export interface Catalog {
  tasks: CatalogTask[];
  apps: CatalogApp[];
  triggers: CatalogTrigger[];
}

type Defaults = { org: string; project: string; domain: string };

export function readCatalogFile(path: string, defaults: Defaults): CatalogTask[] {
  return readCatalog(path, defaults).tasks;
}

/** Every part of a catalog file: tasks, apps and triggers. */
export function readCatalog(path: string, defaults: Defaults): Catalog {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CatalogError(`cannot read catalog ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(`catalog ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return { tasks: parseCatalog(doc, defaults, path), apps: parseCatalogApps(doc, defaults, path), triggers: parseCatalogTriggers(doc, defaults, path) };
}

export function parseCatalog(doc: unknown, defaults: { org: string; project: string; domain: string }, source = "catalog"): CatalogTask[] {
  if (!isObject(doc)) throw new CatalogError(`${source}: expected a JSON object with "tasks"`);
  const tasks = doc.tasks ?? [];
  if (!Array.isArray(tasks)) throw new CatalogError(`${source}: "tasks" must be a list`);
  return tasks.map((entry, i) => parseTask(entry, defaults, `${source}: tasks[${i}]`));
}

function parseTask(entry: unknown, defaults: { org: string; project: string; domain: string }, where: string): CatalogTask {
  if (!isObject(entry)) throw new CatalogError(`${where}: expected an object`);
  for (const key of Object.keys(entry)) if (!TASK_KEYS.has(key)) throw new CatalogError(`${where}: unknown field "${key}"`);
  const str = (key: string, fallback?: string): string => {
    const value = entry[key] ?? fallback;
    if (typeof value !== "string" || value === "") throw new CatalogError(`${where}: "${key}" must be a non-empty string`);
    return value;
  };
  const name = str("name");
  where = `${where} (${name})`;
  const id = create(TaskIdentifierSchema, {
    org: defaults.org,
    project: str("project", defaults.project),
    domain: str("domain", defaults.domain),
    name,
    version: str("version", "v1"),
  });
  const typeMap = (key: "inputs" | "outputs") => {
    // A webhook task's output is fixed by its type; the catalog need not spell it out.
    const value = entry[key] ?? (key === "outputs" && entry.type === WEBHOOK_TASK_TYPE ? WEBHOOK_OUTPUTS : {});
    if (!isObject(value)) throw new CatalogError(`${where}: "${key}" must map names to types`);
    return Object.entries(value).map(([varName, typeText]) => {
      if (typeof typeText !== "string") throw new CatalogError(`${where}: ${key}.${varName} must be a type string`);
      try {
        return { key: varName, value: { type: parseTypeString(typeText), description: "" } };
      } catch (err) {
        throw new CatalogError(`${where}: ${key}.${varName}: ${(err as Error).message}`);
      }
    });
  };
  const inputs = typeMap("inputs");
  const outputs = typeMap("outputs");
  const defaultValues = entry.defaults ?? {};
  if (!isObject(defaultValues)) throw new CatalogError(`${where}: "defaults" must be an object`);
  for (const key of Object.keys(defaultValues)) {
    if (!inputs.some((input) => input.key === key)) throw new CatalogError(`${where}: defaults.${key} is not an input`);
  }
  // Only inputs with a default are listed, as flyte-sdk deploys them: the rest are required.
  const defaultInputs = inputs
    .filter((input) => Object.hasOwn(defaultValues, input.key))
    .map((input) => {
      try {
        const literal = toLiteral(defaultValues[input.key], input.value.type, input.key);
        return { name: input.key, parameter: { var: input.value, behavior: { case: "default" as const, value: literal } } };
      } catch (err) {
        throw new CatalogError(`${where}: defaults.${(err as LiteralError).message}`);
      }
    });
  const config = entry.config ?? {};
  if (!isObject(config)) throw new CatalogError(`${where}: "config" must be an object`);
  const secrets = entry.secrets ?? [];
  if (!Array.isArray(secrets) || !secrets.every((s) => typeof s === "string")) throw new CatalogError(`${where}: "secrets" must be a list of names`);
  const description = entry.description;
  if (description !== undefined && typeof description !== "string") throw new CatalogError(`${where}: "description" must be a string`);

  const spec = create(TaskSpecSchema, {
    taskTemplate: {
      id: create(IdentifierSchema, { resourceType: ResourceType.TASK, org: id.org, project: id.project, domain: id.domain, name, version: id.version }),
      type: str("type"),
      interface: { inputs: { variables: inputs }, outputs: { variables: outputs } },
      custom: config as JsonObject,
      metadata: { discoverable: false },
      securityContext: { secrets: (secrets as string[]).map((key) => ({ key })) },
    },
    defaultInputs,
    shortName: name,
    documentation: { shortDescription: description ?? "" },
  });
  return { id, spec };
}

const APP_KEYS = new Set(["project", "domain", "name", "url", "active"]);
const TRIGGER_KEYS = new Set(["project", "domain", "task", "version", "name", "schedule", "timezone", "active", "inputs", "description"]);

/** The entries of a top-level list, each checked to be an object of known fields. */
function entries(doc: unknown, key: "apps" | "triggers", known: Set<string>, source: string) {
  if (!isObject(doc)) throw new CatalogError(`${source}: expected a JSON object`);
  const list = doc[key] ?? [];
  if (!Array.isArray(list)) throw new CatalogError(`${source}: "${key}" must be a list`);
  return list.map((entry, i) => {
    const where = `${source}: ${key}[${i}]`;
    if (!isObject(entry)) throw new CatalogError(`${where}: expected an object`);
    for (const field of Object.keys(entry)) if (!known.has(field)) throw new CatalogError(`${where}: unknown field "${field}"`);
    const str = (field: string, fallback?: string): string => {
      const value = entry[field] ?? fallback;
      if (typeof value !== "string" || value === "") throw new CatalogError(`${where}: "${field}" must be a non-empty string`);
      return value;
    };
    const optional = (field: string) => (entry[field] === undefined ? undefined : str(field));
    const flag = (field: string, fallback: boolean): boolean => {
      const value = entry[field] ?? fallback;
      if (typeof value !== "boolean") throw new CatalogError(`${where}: "${field}" must be true or false`);
      return value;
    };
    return { entry, where, str, optional, flag };
  });
}

export function parseCatalogApps(doc: unknown, defaults: Defaults, source = "catalog"): CatalogApp[] {
  return entries(doc, "apps", APP_KEYS, source).map(({ where, str, flag }) => {
    const url = str("url");
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      // reported below
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) throw new CatalogError(`${where}: "url" must be an http(s) URL`);
    return {
      org: defaults.org,
      project: str("project", defaults.project),
      domain: str("domain", defaults.domain),
      name: str("name"),
      url,
      active: flag("active", false),
    };
  });
}

export function parseCatalogTriggers(doc: unknown, defaults: Defaults, source = "catalog"): CatalogTrigger[] {
  return entries(doc, "triggers", TRIGGER_KEYS, source).map(({ entry, where, str, optional, flag }) => {
    const schedule = str("schedule");
    const timezone = optional("timezone");
    try {
      // A paused job sets no timer; asking for its next run also checks the time zone.
      const job = new Cron(schedule, { paused: true, timezone });
      job.nextRun();
      job.stop();
    } catch (err) {
      throw new CatalogError(`${where}: "schedule" is not a cron expression (or "timezone" is unknown): ${(err as Error).message}`);
    }
    const inputs = entry.inputs ?? {};
    if (!isObject(inputs)) throw new CatalogError(`${where}: "inputs" must map input names to values`);
    return {
      org: defaults.org,
      project: str("project", defaults.project),
      domain: str("domain", defaults.domain),
      task: str("task"),
      version: optional("version"),
      name: str("name"),
      schedule,
      timezone,
      active: flag("active", false),
      inputs,
      description: optional("description") ?? "",
    };
  });
}
