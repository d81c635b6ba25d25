// call_app's outbound request to an app's endpoint: the path is kept inside the app's
// origin, the call has a deadline and a response size cap, the caller's Authorization
// goes along unless turned off (cookies never do), and the answer is shaped as the
// reference shapes it: a 2xx JSON body as is, other 2xx text as {"response": text}, a
// non-2xx status passed on with the start of the app's body in `detail`.
import { Agent, request } from "undici";
import { ApiError, badRequest } from "./errors.ts";

export interface AppCallSettings {
  /** Deadline of the whole call (connect, headers, body), in milliseconds. */
  timeoutMs: number;
  /** Largest app answer read, in bytes; a larger one is a 502. */
  maxResponseBytes: number;
  /** Send the caller's Authorization header to the app. */
  forwardAuthorization: boolean;
}

export const APP_CALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;

type QueryValue = string | number | boolean;

export interface AppRequest {
  method: string;
  path: string;
  payload?: unknown;
  queryParams?: Record<string, QueryValue | QueryValue[]> | undefined;
  authorization?: string | undefined;
  requestId: string;
}

/** How much of a failing app's body goes into `detail`, and how much of it is read. */
const DETAIL_BODY_CHARS = 1000;
const DETAIL_BODY_BYTES = 4 * DETAIL_BODY_CHARS;

type Body = Awaited<ReturnType<typeof request>>["body"];

/** Drops an answer's body and its connection; the abort this causes is expected. */
function discard(body: Body): void {
  body.on("error", () => undefined);
  body.destroy();
}

/** The first `limit` bytes of a body as text, and whether there was more (then dropped). */
async function readUpTo(body: Body, limit: number): Promise<{ text: string; over: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      over = true;
      discard(body);
      break;
    }
    size += chunk.length;
    chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString("utf8"), over };
}

/**
 * The URL `path` names on the app at `endpoint`. Anything that could leave the app's
 * origin or climb above its base path is refused: absolute URLs, `//host`, backslashes,
 * dot segments, and percent-encoded dots, slashes, backslashes or NULs (which servers
 * may decode after we checked).
 */
export function appUrl(endpoint: string, path: string, queryParams: AppRequest["queryParams"] = {}): URL {
  const refuse = (why: string) => badRequest(`path ${JSON.stringify(path)} is not allowed: ${why}`, "invalid_app_path");
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) throw refuse("it is an absolute URL; give a path on the app");
  if (path.startsWith("//")) throw refuse("it names another host");
  if (/[\\\u0000-\u001f\u007f]/.test(path)) throw refuse("it holds a backslash or a control character");
  if (/%(2e|2f|5c|00)/i.test(path)) throw refuse("it holds an encoded dot, slash, backslash or NUL");
  if (path.includes("#")) throw refuse("it holds a fragment");
  const pathPart = path.split("?")[0]!;
  if (pathPart.split("/").some((segment) => segment === "." || segment === "..")) throw refuse("it holds a dot segment");

  const base = new URL(endpoint);
  const basePath = base.pathname.replace(/\/+$/, "");
  const url = new URL(`${base.origin}${basePath}/${path.replace(/^\/+/, "")}`);
  // Belt and braces: whatever the checks above missed, the result must stay under the base.
  if (url.origin !== base.origin || !(url.pathname === basePath || url.pathname.startsWith(`${basePath}/`))) {
    throw refuse("it leaves the app");
  }
  for (const [key, value] of Object.entries(queryParams)) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
  }
  return url;
}

export class AppCaller {
  private readonly agent: Agent;

  constructor(
    private readonly settings: AppCallSettings,
    private readonly userAgent: string,
  ) {
    const timeout = settings.timeoutMs;
    this.agent = new Agent({ connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout });
  }

  /** Calls `request.path` on the app `name` served at `endpoint`; answers with the JSON to return. */
  async call(name: string, endpoint: string, call: AppRequest): Promise<unknown> {
    const method = call.method.toUpperCase();
    const url = appUrl(endpoint, call.path, call.queryParams);
    const withBody = call.payload !== undefined && method !== "GET" && method !== "HEAD";
    const headers: Record<string, string> = { "user-agent": this.userAgent, "x-request-id": call.requestId };
    if (withBody) headers["content-type"] = "application/json";
    if (this.settings.forwardAuthorization && call.authorization) headers.authorization = call.authorization;

    const signal = AbortSignal.timeout(this.settings.timeoutMs);
    const slow = () => new ApiError(504, "app_timeout", `App ${name} did not answer ${call.path} within ${this.settings.timeoutMs} ms`);
    const failed = (err: unknown) =>
      signal.aborted || isTimeout(err)
        ? slow()
        : new ApiError(502, "app_unreachable", `App ${name} could not be reached at its endpoint (${errorCode(err)})`);

    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(url, {
        method: method as (typeof APP_CALL_METHODS)[number],
        headers,
        body: withBody ? JSON.stringify(call.payload) : undefined,
        signal,
        dispatcher: this.agent,
      });
    } catch (err) {
      throw failed(err);
    }
    const status = answer.statusCode;
    const ok = status >= 200 && status < 300;
    const limit = ok ? this.settings.maxResponseBytes : DETAIL_BODY_BYTES;
    const tooLarge = () =>
      new ApiError(502, "app_response_too_large", `App ${name} answered with more than ${this.settings.maxResponseBytes} bytes`);
    if (ok && Number(answer.headers["content-length"]) > limit) {
      discard(answer.body);
      throw tooLarge();
    }
    let read: { text: string; over: boolean };
    try {
      read = await readUpTo(answer.body, limit);
    } catch (err) {
      throw failed(err);
    }

    if (ok) {
      if (read.over) throw tooLarge();
      try {
        return JSON.parse(read.text);
      } catch {
        return { response: read.text };
      }
    }
    if (status >= 400 && status < 600) {
      throw new ApiError(status, "app_error", `Target app returned error: ${read.text.slice(0, DETAIL_BODY_CHARS)}`);
    }
    // Redirects are not followed: they could lead anywhere, credentials included.
    throw new ApiError(502, "app_bad_answer", `App ${name} answered ${call.path} with status ${status}, which is not passed on`);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? "";
  return ["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"].includes(code) || (err as Error).name === "TimeoutError";
}

/** A short, safe reason (an error code, never a message that could carry a URL's secrets). */
function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? "connection failed";
}
