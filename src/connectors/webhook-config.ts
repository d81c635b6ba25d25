// The configuration of a `webhook` task (`TaskTemplate.custom`), as flytekit's WebhookTask
// writes it, checked once at deploy time so a bad task is refused with the field's name
// instead of failing at its first run.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { durationSeconds } from "../controlplane/literals.ts";
import { SECRET_NAME } from "./secrets.ts";
import { referencedRoots, secretNames } from "./template.ts";

export const WEBHOOK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type WebhookMethod = (typeof WEBHOOK_METHODS)[number];

export const DEFAULT_TIMEOUT_SECONDS = 10;
export const MAX_TIMEOUT_SECONDS = 3600;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface WebhookConfig {
  url: string;
  method: WebhookMethod;
  headers: Record<string, string>;
  data: JsonValue;
  showData: boolean;
  showUrl: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
  followRedirects: boolean;
}

/** Keys flytekit writes, ours, and flytekit's older `body` / `show_body` spellings. */
const KEYS = new Set(["url", "method", "headers", "data", "body", "show_data", "show_body", "show_url", "timeout", "max_response_bytes", "follow_redirects"]);

export class WebhookConfigError extends Error {
  override name = "WebhookConfigError";
  constructor(field: string, message: string) {
    super(`config.${field} ${message}`);
  }
}

const isObject = (v: unknown): v is Record<string, JsonValue> => v !== null && typeof v === "object" && !Array.isArray(v);

function bool(config: JsonObject, key: string, alias?: string): boolean {
  const value = config[key] ?? (alias ? config[alias] : undefined) ?? false;
  if (typeof value !== "boolean") throw new WebhookConfigError(key, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function timeoutMs(value: JsonValue | undefined): number {
  if (value === undefined || value === null) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = typeof value === "number" ? value : typeof value === "string" ? durationSeconds(value) : undefined;
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new WebhookConfigError("timeout", `must be seconds (a number) or a duration like "10s" or "PT10S", more than 0 and at most ${MAX_TIMEOUT_SECONDS} s; got ${JSON.stringify(value)}`);
  }
  return Math.ceil(seconds * 1000);
}

/**
 * Parses and checks a webhook task's configuration. `inputs`, when given, are the task's
 * input names: a placeholder naming another input is refused here rather than at run time.
 */
export function parseWebhookConfig(config: JsonObject, inputs?: readonly string[]): WebhookConfig {
  for (const key of Object.keys(config)) {
    if (!KEYS.has(key)) throw new WebhookConfigError(key, `is not a webhook setting (known: ${[...KEYS].join(", ")})`);
  }
  if (config.data !== undefined && config.body !== undefined) throw new WebhookConfigError("data", `and config.body are the same setting; give one`);

  const url = config.url;
  if (typeof url !== "string" || url.trim() === "") throw new WebhookConfigError("url", "is required: the http(s) URL to call");
  if (!/[{}]/.test(url)) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      // reported below
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) throw new WebhookConfigError("url", `must be an http or https URL, got ${JSON.stringify(url)}`);
  }

  const methodValue = config.method ?? "POST";
  const method = typeof methodValue === "string" ? methodValue.toUpperCase() : "";
  if (!(WEBHOOK_METHODS as readonly string[]).includes(method)) {
    throw new WebhookConfigError("method", `must be one of ${WEBHOOK_METHODS.join(", ")}, got ${JSON.stringify(methodValue)}`);
  }

  const headersValue = config.headers ?? {};
  if (!isObject(headersValue)) throw new WebhookConfigError("headers", "must be an object of header names to values");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(headersValue)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new WebhookConfigError(`headers`, `has an invalid header name ${JSON.stringify(name)}`);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new WebhookConfigError(`headers.${name}`, "must be a string");
    }
    headers[name] = String(value);
  }

  const data = (config.data ?? config.body ?? {}) as JsonValue;
  if (method === "GET" && !isObject(data)) throw new WebhookConfigError("data", "must be an object for GET: its entries become query parameters");

  const maxBytes = config.max_response_bytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (typeof maxBytes !== "number" || !Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_RESPONSE_BYTES) {
    throw new WebhookConfigError("max_response_bytes", `must be a whole number of bytes from 1 to ${MAX_RESPONSE_BYTES}`);
  }

  const parsed: WebhookConfig = {
    url,
    method: method as WebhookMethod,
    headers,
    data,
    showData: bool(config, "show_data", "show_body"),
    showUrl: bool(config, "show_url"),
    timeoutMs: timeoutMs(config.timeout),
    maxResponseBytes: maxBytes,
    followRedirects: bool(config, "follow_redirects"),
  };

  const known = inputs && new Set(inputs);
  const field = config.data === undefined && config.body !== undefined ? "body" : "data";
  for (const [key, template] of [["url", parsed.url], ["headers", parsed.headers], [field, parsed.data]] as const) {
    for (const name of secretNames(template)) {
      if (!SECRET_NAME.test(name)) throw new WebhookConfigError(key, `refers to {secrets.${name}}, which is not a valid secret name`);
    }
    for (const name of known ? referencedRoots(template, "inputs") : []) {
      if (!known!.has(name)) throw new WebhookConfigError(key, `refers to {inputs.${name}}, but the task has no input "${name}"`);
    }
  }
  return parsed;
}
