// What a verified delivery says: its body read as JSON or as a form, the filters that
// decide whether it starts a run, and the run's inputs rendered from it with the webhook
// connector's templating (`{payload.pull_request.number}`, `{headers.x-github-event}`).
import type { IncomingHttpHeaders } from "node:http";
import secureJson from "secure-json-parse";
import { render, TemplateError } from "../connectors/template.ts";
import { ApiError, badRequest } from "../errors.ts";
import { type Hook, UNREADABLE_HEADERS } from "./definitions.ts";

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function parseJson(text: string, what: string): unknown {
  try {
    // Refuses `__proto__` and `constructor.prototype` keys, as the gateway's JSON bodies do.
    return secureJson.parse(text, undefined, { protoAction: "error", constructorAction: "error" });
  } catch {
    throw badRequest(`${what} is not valid JSON`, "invalid_json");
  }
}

/** A form's fields; a field given several times is the list of its values. */
function formFields(text: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    const seen = fields[key];
    fields[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return { ...fields };
}

/**
 * The payload of a verified body, by its content type: JSON (`application/json`, `…+json`)
 * or a form (`application/x-www-form-urlencoded`). A form whose only field is `payload`
 * (GitHub's form deliveries, Slack's interactive requests) is the JSON in that field;
 * any other form (Slack's slash commands) is its fields. An empty body is `{}`.
 */
export function readPayload(body: Buffer, contentType: string | undefined): unknown {
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const text = body.toString("utf8");
  if (mediaType === "application/x-www-form-urlencoded") {
    const fields = formFields(text);
    const keys = Object.keys(fields);
    if (keys.length === 1 && keys[0] === "payload" && typeof fields.payload === "string") return parseJson(fields.payload, "the form's payload field");
    return fields;
  }
  if (text.trim() === "") return {};
  if (mediaType === "application/json" || mediaType.endsWith("+json") || mediaType === "") return parseJson(text, "the body");
  throw new ApiError(415, "unsupported_media_type", `a hook reads JSON or form bodies, not ${mediaType}`);
}

/** The headers a template and the filters may read: lowercase names, without signatures and credentials. */
export function readableHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const readable: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (UNREADABLE_HEADERS.has(name) || value === undefined) continue;
    readable[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return readable;
}

/** The value at a dotted path (`pull_request.base.ref`, `commits.0.id`), or undefined. */
function at(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split(".")) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (isObject(current) && Object.hasOwn(current, key)) current = current[key];
    else return undefined;
  }
  return current;
}

/** Whether a delivery passes every filter of its hook: each named header and field equals one of its accepted values. */
export function passesFilters(hook: Hook, payload: unknown, headers: Record<string, string>): boolean {
  for (const [name, accepted] of Object.entries(hook.filters.headers)) {
    // Header values are text: a filter's `1` accepts the header "1".
    if (!Object.hasOwn(headers, name) || !accepted.some((value) => String(value) === headers[name])) return false;
  }
  for (const [path, accepted] of Object.entries(hook.filters.payload)) {
    const value = at(payload, path);
    if (value === undefined || !accepted.includes(value)) return false;
  }
  return true;
}

/** Slack's Events API handshake: answered with its challenge instead of starting a run. */
export function slackChallenge(payload: unknown): string | undefined {
  return isObject(payload) && payload.type === "url_verification" && typeof payload.challenge === "string" ? payload.challenge : undefined;
}

/** The run's inputs from the hook's template; a placeholder the payload cannot fill is a 422 naming its path. */
export function hookInputs(hook: Hook, payload: unknown, headers: Record<string, string>): Record<string, unknown> {
  try {
    return render(hook.inputs, { roots: { payload, headers } }) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TemplateError) throw new ApiError(422, "payload_mismatch", `hook ${hook.name}: the payload does not fill the inputs: ${err.message}`);
    throw err;
  }
}
