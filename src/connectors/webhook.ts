// The `webhook` task type (flytekit's WebhookTask / WebhookConnector): one HTTP call,
// templated from the run's inputs and secrets. Any 2xx answer succeeds with an `info`
// output; anything else fails the run with a message that holds no secret value. The same
// implementation runs inside the embedded plane and behind `flyte-webhook connector`.
import { create } from "@bufbuild/protobuf";
import { request } from "undici";
import { type Outputs, OutputsSchema, type TaskSpec } from "../controlplane/idl.ts";
import { literalsToJson } from "../controlplane/interface.ts";
import { parseTypeString, toLiteral } from "../controlplane/literals.ts";
import { maskUrl } from "../logging.ts";
import { describeOutboundFailure, type OutboundDispatchers, outboundDispatchers, readCapped, ResponseTooLargeError } from "../outbound.ts";
import { render, renderUrl, type TemplateScope, TemplateError, textOf } from "./template.ts";
import { TaskFailure, type Connector, type ConnectorContext } from "./types.ts";
import { parseWebhookConfig, type WebhookConfig } from "./webhook-config.ts";

export const WEBHOOK_TASK_TYPE = "webhook";
/** Every webhook task has one output, `info`, an object (flytekit's `dict`). */
export const WEBHOOK_OUTPUTS: Readonly<Record<string, string>> = { info: "json" };
/** How much of a failed call's answer its error message quotes. */
const ERROR_BODY_CHARS = 500;
const INFO_TYPE = parseTypeString("json");

const inputNames = (spec: TaskSpec | undefined) => spec?.taskTemplate?.interface?.inputs?.variables.map((v) => v.key);

/** Replaces every secret value used by the call with `***`, longest first. */
function redactor(values: ReadonlySet<string>) {
  const secrets = [...values].filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
  const text = (s: string) => secrets.reduce((out, secret) => out.replaceAll(secret, "***"), s);
  const deep = (value: unknown): unknown => {
    if (typeof value === "string") return text(value);
    if (Array.isArray(value)) return value.map(deep);
    if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [text(k), deep(v)]));
    return value;
  };
  return { text, deep };
}

/** GET sends `data` as query parameters; a list becomes a repeated parameter. */
function withQuery(url: URL, data: unknown): URL {
  const out = new URL(url);
  for (const [key, value] of Object.entries((data ?? {}) as Record<string, unknown>)) {
    for (const item of Array.isArray(value) ? value : [value]) out.searchParams.append(key, textOf(item));
  }
  return out;
}

function parseResponse(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString("utf8");
  if (contentType && /^application\/([\w.+-]*\+)?json\b/i.test(contentType.trim())) {
    try {
      return JSON.parse(text);
    } catch {
      // Declared JSON but is not: keep the text, as a reader of the output would want.
    }
  }
  return text;
}

/** A failed call's reason in words, without the caller's secrets. */
function describeFailure(err: unknown, config: WebhookConfig): string {
  if (err instanceof ResponseTooLargeError) return `the response body is larger than max_response_bytes (${config.maxResponseBytes} bytes)`;
  return describeOutboundFailure(err, config.timeoutMs);
}

export interface WebhookConnector extends Connector {
  close(): Promise<void>;
}

export function webhookConnector(dispatchers: OutboundDispatchers = outboundDispatchers()): WebhookConnector {
  async function execute(ctx: ConnectorContext): Promise<Outputs> {
    const config = parseWebhookConfig(ctx.config, inputNames(ctx.task));
    const inputs = literalsToJson(ctx.inputs.literals);
    const used = new Set<string>();
    const real: TemplateScope = {
      roots: { inputs },
      secret(name) {
        const value = ctx.secrets.get(name);
        if (value !== undefined) used.add(value).add(encodeURIComponent(value));
        return value;
      },
    };
    // The same templates again with `***` for secrets: what outputs and messages show.
    const shown: TemplateScope = { roots: { inputs }, secret: (name) => (ctx.secrets.get(name) === undefined ? undefined : "***") };

    let target: URL;
    let display: string;
    let headers: Record<string, string>;
    let data: unknown;
    let shownData: unknown;
    try {
      const url = renderUrl(config.url, real);
      display = renderUrl(config.url, shown);
      data = render(config.data, real);
      shownData = render(config.data, shown);
      headers = Object.fromEntries(Object.entries(config.headers).map(([name, value]) => [name, textOf(render(value, real))]));
      try {
        target = new URL(url);
      } catch {
        throw new TaskFailure(`webhook url ${JSON.stringify(display)} is not a valid URL`);
      }
      if (target.protocol !== "http:" && target.protocol !== "https:") throw new TaskFailure(`webhook url ${JSON.stringify(display)} is not an http(s) URL`);
    } catch (err) {
      if (err instanceof TemplateError) throw new TaskFailure(`webhook template: ${err.message}`);
      throw err;
    }
    const redact = redactor(used);
    let body: string | undefined;
    if (config.method === "GET") {
      target = withQuery(target, data);
      try {
        display = withQuery(new URL(display), shownData).toString();
      } catch {
        // a secret in the host or port can make the shown form unparsable: show it without the query
      }
    } else if (!(config.method === "DELETE" && isEmpty(data))) {
      body = JSON.stringify(data);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    }
    display = redact.text(display);
    const where = `${config.method} ${display}`;

    const started = performance.now();
    let status: number;
    let answer: Buffer;
    let contentType: string | undefined;
    try {
      const response = await request(target, {
        method: config.method,
        headers,
        body,
        dispatcher: config.followRedirects ? dispatchers.following : dispatchers.direct,
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(config.timeoutMs)]),
        headersTimeout: config.timeoutMs,
        bodyTimeout: config.timeoutMs,
      });
      status = response.statusCode;
      const type = response.headers["content-type"];
      contentType = Array.isArray(type) ? type[0] : type;
      answer = await readCapped(response.body, config.maxResponseBytes);
    } catch (err) {
      if (ctx.signal.aborted) throw err; // the run was aborted: the executor records that
      throw new TaskFailure(`webhook ${where}: ${redact.text(describeFailure(err, config))}`);
    }
    ctx.log.info({ method: config.method, url: maskUrl(display), status, ms: Math.round(performance.now() - started) }, "webhook called");

    if (status < 200 || status > 299) {
      const text = redact.text(answer.toString("utf8"));
      const excerpt = text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text;
      const hint = status >= 300 && status < 400 && !config.followRedirects ? " (redirects are not followed unless config.follow_redirects is true)" : "";
      throw new TaskFailure(`webhook ${where} answered ${status}${hint}${excerpt ? `: ${excerpt}` : ""}`);
    }
    const info: Record<string, unknown> = { status_code: status, response_data: redact.deep(parseResponse(answer, contentType)) };
    if (config.showData) info.input_data = redact.deep(shownData);
    if (config.showUrl) info.url = display;
    return create(OutputsSchema, { literals: [{ name: "info", value: toLiteral(info, INFO_TYPE, "info") }] });
  }

  return {
    type: WEBHOOK_TASK_TYPE,
    // The call may already have reached the other side: never repeat it after a crash.
    resumable: false,
    validateConfig(config, spec) {
      parseWebhookConfig(config, inputNames(spec));
    },
    execute,
    close: () => dispatchers.close(),
  };
}

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === "object" && Object.keys(value).length === 0);
}
