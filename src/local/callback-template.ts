// Completion-callback templates as flyteidl2 defines them: a WebhookDeliveryTemplate whose
// URL, header values and body carry Go-template placeholders over
// RunCompletedNotificationTemplateData (`{{.Run.Name}}`, `{{ .Phase }}`, `{{.Error}}`, …).
// Only plain field placeholders are understood (no pipelines, conditionals or functions);
// any other `{{…}}` is left in the text as it is, so a template written for a richer
// renderer still delivers, visibly unrendered. Each value is encoded for where it lands:
// percent-encoded in the URL, JSON-string-escaped in a JSON body, control characters
// removed in headers.
import { HttpMethod, type WebhookDeliveryTemplate } from "../controlplane/idl.ts";

/** What a completion template may refer to: the run, its terminal phase (lowercase) and its error. */
export interface CompletionData {
  org: string;
  project: string;
  domain: string;
  name: string;
  /** `succeeded`, `failed`, `aborted`, `timed_out`: the names callers see. */
  phase: string;
  /** The run's error, the abort reason of an aborted run, or empty. */
  error: string;
}

/** A delivery ready to send: every placeholder rendered. */
export interface RenderedDelivery {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

const PLACEHOLDER = /\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;

function field(data: CompletionData, path: string): string | undefined {
  switch (path) {
    case "Run.Org":
      return data.org;
    case "Run.Project":
      return data.project;
    case "Run.Domain":
      return data.domain;
    case "Run.Name":
      return data.name;
    case "Phase":
      return data.phase;
    case "Error":
      return data.error;
    default:
      return undefined;
  }
}

function render(template: string, data: CompletionData, encode: (value: string) => string): string {
  return template.replace(PLACEHOLDER, (whole, path: string) => {
    const value = field(data, path);
    return value === undefined ? whole : encode(value);
  });
}

const jsonString = (value: string) => JSON.stringify(value).slice(1, -1);
// Header values cannot hold line breaks or other control characters (undici refuses them).
const headerValue = (value: string) => value.replace(/[\u0000-\u001f\u007f]+/g, " ");

/** Methods a callback may use; CONNECT and TRACE make no sense for a delivery. */
const METHODS: Partial<Record<HttpMethod, string>> = {
  [HttpMethod.UNSPECIFIED]: "POST",
  [HttpMethod.GET]: "GET",
  [HttpMethod.HEAD]: "HEAD",
  [HttpMethod.POST]: "POST",
  [HttpMethod.PUT]: "PUT",
  [HttpMethod.DELETE]: "DELETE",
  [HttpMethod.OPTIONS]: "OPTIONS",
  [HttpMethod.PATCH]: "PATCH",
};

/** Headers the deliverer owns: the transport's framing and the Standard Webhooks signature. */
const RESERVED_HEADERS = new Set([
  "host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "expect", "te", "trailer",
  "webhook-id", "webhook-timestamp", "webhook-signature",
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const contentTypeOf = (headers: Record<string, string>) => Object.entries(headers).find(([name]) => name.toLowerCase() === "content-type")?.[1];
const isJson = (contentType: string) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType.trim());

/** Why the plane cannot deliver this template, or undefined when it can. */
export function deliveryProblem(template: WebhookDeliveryTemplate): string | undefined {
  if (METHODS[template.method] === undefined) return `method ${HttpMethod[template.method] ?? template.method} cannot deliver a callback`;
  for (const name of Object.keys(template.headers)) {
    if (!TOKEN.test(name)) return `header name "${name}" is not a valid HTTP header name`;
    if (RESERVED_HEADERS.has(name.toLowerCase())) return `header ${name} is set by the control plane, not by the template`;
  }
  // Any values the run may have keep the URL's shape: they are percent-encoded.
  const sample = { org: "o", project: "p", domain: "d", name: "n", phase: "succeeded", error: "e" };
  let url: URL;
  try {
    url = new URL(render(template.url, sample, encodeURIComponent));
  } catch {
    return "url is not an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "url must be http or https";
  return undefined;
}

/**
 * Renders a template for a run that ended. Without a Content-Type the body is sent as
 * JSON (what Flyte's callbacks are); values go into a JSON body string-escaped, so an
 * error message with quotes or line breaks keeps the body valid.
 */
export function renderDelivery(template: WebhookDeliveryTemplate, data: CompletionData): RenderedDelivery {
  const method = METHODS[template.method] ?? "POST";
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(template.headers)) headers[name] = render(value, data, headerValue);
  const contentType = contentTypeOf(headers);
  const sendsBody = method !== "GET" && method !== "HEAD";
  if (sendsBody && contentType === undefined && template.bodyTemplate !== "") headers["Content-Type"] = "application/json";
  const json = contentType === undefined || isJson(contentType);
  return {
    url: render(template.url, data, encodeURIComponent),
    method,
    headers,
    body: sendsBody ? render(template.bodyTemplate, data, json ? jsonString : (value) => value) : "",
  };
}
