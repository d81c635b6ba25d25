// The task interface as the gateway uses it: caller JSON → the task's Inputs (with
// defaults, and a 422 naming every field that is wrong), Inputs/Outputs → JSON, and the
// task metadata get_task answers with.
import { create } from "@bufbuild/protobuf";
import { invalidInputs } from "../errors.ts";
import { type Inputs, InputsSchema, type Outputs, OutputsSchema, type Literal, type NamedLiteral, type TaskDetails, type TaskSpec } from "./idl.ts";
import { fromLiteral, LiteralError, toLiteral } from "./literals.ts";

/** Inputs of a task spec in interface order, with their default literal where one is set. */
function declaredInputs(spec: TaskSpec | undefined) {
  const defaults = new Map<string, Literal>();
  for (const named of spec?.defaultInputs ?? []) {
    const behavior = named.parameter?.behavior;
    if (behavior?.case === "default") defaults.set(named.name, behavior.value);
  }
  return (spec?.taskTemplate?.interface?.inputs?.variables ?? []).map((entry) => ({
    name: entry.key,
    type: entry.value?.type,
    defaultValue: defaults.get(entry.key),
  }));
}

/**
 * Converts a caller's JSON object into the task's Inputs. Unknown inputs, missing
 * required inputs and values of the wrong type are all reported at once as a 422.
 */
export function inputsFromJson(spec: TaskSpec | undefined, body: Record<string, unknown>): Inputs {
  const declared = declaredInputs(spec);
  const problems: string[] = [];
  const known = new Set(declared.map((d) => d.name));
  for (const key of Object.keys(body)) {
    if (!known.has(key)) problems.push(`${key}: unknown input (the task takes ${[...known].join(", ") || "no inputs"})`);
  }
  const literals: NamedLiteral[] = [];
  for (const input of declared) {
    if (!Object.hasOwn(body, input.name)) {
      if (input.defaultValue) literals.push({ name: input.name, value: input.defaultValue } as NamedLiteral);
      else problems.push(`${input.name}: required input is missing`);
      continue;
    }
    try {
      literals.push({ name: input.name, value: toLiteral(body[input.name], input.type, input.name) } as NamedLiteral);
    } catch (err) {
      if (!(err instanceof LiteralError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw invalidInputs(`invalid inputs: ${problems.join("; ")}`);
  return create(InputsSchema, { literals });
}

/**
 * A connector's results → the task's Outputs, typed by the output interface. A result
 * that does not fit the interface is a bug of the connector, so this throws.
 */
export function outputsFromJson(spec: TaskSpec | undefined, values: Record<string, unknown>): Outputs {
  const variables = spec?.taskTemplate?.interface?.outputs?.variables ?? [];
  const literals = variables
    .filter((v) => values[v.key] !== undefined)
    .map((v) => ({ name: v.key, value: toLiteral(values[v.key], v.value?.type, v.key) }) as NamedLiteral);
  return create(OutputsSchema, { literals });
}

/** Named literals → a JSON object keyed by input/output name. */
export function literalsToJson(literals: readonly NamedLiteral[] | undefined): Record<string, unknown> {
  return Object.fromEntries((literals ?? []).map((named) => [named.name, fromLiteral(named.value)]));
}

/** get_task's answer, computed as flyte-sdk's TaskDetails does. */
export function taskMetadata(details: TaskDetails) {
  const template = details.spec?.taskTemplate;
  const meta = template?.metadata;
  const defaults = new Set((details.spec?.defaultInputs ?? []).map((d) => d.name));
  const inputs = (template?.interface?.inputs?.variables ?? []).map((v) => v.key);
  return {
    name: details.taskId?.name ?? "",
    version: details.taskId?.version ?? "",
    task_type: template?.type ?? "",
    required_args: inputs.filter((name) => !defaults.has(name)),
    default_input_args: [...defaults],
    cache: {
      behavior: !meta?.discoverable ? "disable" : meta.discoveryVersion ? "override" : "auto",
      version_override: meta?.discoveryVersion || null,
      serialize: meta?.cacheSerializable ?? false,
    },
    secrets: (template?.securityContext?.secrets ?? []).map((s) => s.key),
  };
}
