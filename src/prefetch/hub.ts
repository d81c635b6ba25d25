// A small client of the Hugging Face Hub HTTP API, as huggingface_hub uses it: the
// revision's commit (`/api/models/{repo}/revision/{rev}`), the file tree of that commit
// (`/api/models/{repo}/tree/{sha}?recursive=true`, paged by Link headers) and file
// downloads (`/{repo}/resolve/{sha}/{path}`, redirected to a CDN for large files; undici
// drops the token when a redirect leaves the hub's origin). Every request has a deadline.
import { createWriteStream } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Dispatcher, request } from "undici";
import { TaskFailure } from "../connectors/types.ts";
import { ForbiddenAddressError, type OutboundDispatchers, outboundDispatchers, readCapped } from "../outbound.ts";

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

export interface HubFile {
  path: string;
  size: number;
}

export interface HubOptions {
  /** `HF_ENDPOINT`. */
  endpoint: string;
  /** How long the hub may take to start answering, and to answer an API call in full. */
  requestTimeoutMs: number;
  /** How long a download may stall without a byte arriving. */
  idleTimeoutMs: number;
}

export interface HubAuth {
  token: string | undefined;
  /** Name of the secret the token came from, for messages. */
  tokenKey: string;
}

/** An API answer (a file list page, commit info) larger than this is not the Hub's. */
const MAX_API_BODY = 32 * 1024 * 1024;

/**
 * The dispatchers of hub calls: the plane's guarded outbound agent (no link-local or
 * metadata addresses, also after a redirect to a CDN), with deadlines on headers and on
 * body stalls.
 */
export function hubDispatchers(options: HubOptions): OutboundDispatchers {
  return outboundDispatchers({ connectTimeoutMs: options.requestTimeoutMs, headersTimeoutMs: options.requestTimeoutMs, bodyTimeoutMs: options.idleTimeoutMs });
}

export class Hub {
  private readonly base: URL;

  constructor(
    private readonly options: HubOptions,
    private readonly dispatcher: Dispatcher,
    private readonly auth: HubAuth,
    private readonly repo: string,
  ) {
    this.base = new URL(options.endpoint.endsWith("/") ? options.endpoint : `${options.endpoint}/`);
  }

  private headers(url: URL): Record<string, string> {
    // The token only ever goes to the hub itself (paging links are checked too).
    const own = url.origin === this.base.origin;
    return { "user-agent": "flyte-webhook", ...(own && this.auth.token ? { authorization: `Bearer ${this.auth.token}` } : {}) };
  }

  /** The commit a revision points at. */
  async commit(revision: string, signal: AbortSignal): Promise<string> {
    const info = (await this.json(new URL(`api/models/${this.repo}/revision/${encodeURIComponent(revision)}`, this.base), signal)) as { sha?: unknown };
    if (typeof info.sha !== "string" || !/^[0-9a-f]{7,64}$/.test(info.sha)) throw new TaskFailure(`the hub gave no commit for ${this.repo}@${revision}`);
    return info.sha;
  }

  /** Every file of a commit, with its size. */
  async files(commit: string, signal: AbortSignal): Promise<HubFile[]> {
    const files: HubFile[] = [];
    let url: URL | undefined = new URL(`api/models/${this.repo}/tree/${commit}?recursive=true&expand=false`, this.base);
    for (let page = 0; url && page < 1000; page++) {
      const { body, next } = await this.jsonPage(url, signal);
      if (!Array.isArray(body)) throw new TaskFailure(`the hub's file list of ${this.repo} is not a list`);
      for (const entry of body as Array<{ type?: unknown; path?: unknown; size?: unknown; lfs?: { size?: unknown } }>) {
        if (entry.type !== "file") continue;
        const size = typeof entry.lfs?.size === "number" ? entry.lfs.size : entry.size;
        if (typeof entry.path !== "string" || typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
          throw new TaskFailure(`the hub's file list of ${this.repo} has an entry without a path or size`);
        }
        files.push({ path: entry.path, size });
      }
      url = next;
    }
    return files;
  }

  /** Streams one file of a commit to `dest`; `onBytes` sees every chunk's length. */
  async download(commit: string, file: HubFile, dest: string, signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
    const path = file.path.split("/").map(encodeURIComponent).join("/");
    const url = new URL(`${this.repo}/resolve/${commit}/${path}`, this.base);
    const response = await this.send(url, signal, file.path);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        onBytes(chunk.length);
        done(null, chunk);
      },
    });
    try {
      await pipeline(response.body, counter, createWriteStream(dest), { signal });
    } catch (err) {
      throw signal.aborted ? err : transportFailure(err, `downloading ${file.path}`, this.base);
    }
  }

  private async json(url: URL, signal: AbortSignal): Promise<unknown> {
    return (await this.jsonPage(url, signal)).body;
  }

  private async jsonPage(url: URL, signal: AbortSignal): Promise<{ body: unknown; next: URL | undefined }> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)]);
    const response = await this.send(url, deadline, undefined);
    let body: unknown;
    try {
      body = JSON.parse((await readCapped(response.body, MAX_API_BODY)).toString("utf8"));
    } catch (err) {
      if (signal.aborted) throw err;
      throw deadline.aborted ? timeoutFailure(this.base) : new TaskFailure(`the hub answered ${url.pathname} with something other than JSON`);
    }
    const link = /<([^>]+)>;\s*rel="next"/.exec(String(response.headers.link ?? ""));
    const next = link ? new URL(link[1]!, url) : undefined;
    if (next && next.origin !== this.base.origin) throw new TaskFailure("the hub's next-page link leaves the hub; refusing to follow it");
    return { body, next };
  }

  private async send(url: URL, signal: AbortSignal, file: string | undefined): Promise<Dispatcher.ResponseData> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method: "GET", headers: this.headers(url), signal, dispatcher: this.dispatcher });
    } catch (err) {
      if (signal.aborted && !(signal.reason instanceof DOMException && signal.reason.name === "TimeoutError")) throw err;
      throw signal.aborted ? timeoutFailure(this.base) : transportFailure(err, file ? `downloading ${file}` : "asking the hub", this.base);
    }
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      throw this.refusal(response.statusCode, String(response.headers["x-error-code"] ?? ""), file);
    }
    return response;
  }

  /** Our own sentence for a refusal: the hub's text is never passed on. */
  private refusal(status: number, code: string, file: string | undefined): TaskFailure {
    const { token, tokenKey } = this.auth;
    const repo = this.repo;
    const noToken = `the secret ${tokenKey} is not set (FLYTE_SECRET_${tokenKey} or a file in FLYTE_LOCAL_SECRETS_DIR)`;
    if (code === "GatedRepo") {
      return new TaskFailure(
        token
          ? `the token from secret ${tokenKey} has no access to gated repository ${repo} (HTTP ${status}); accept its terms on the hub with that account`
          : `repository ${repo} is gated and needs a Hugging Face token, but ${noToken}`,
      );
    }
    if (code === "RepoNotFound") {
      return new TaskFailure(`repository ${repo} was not found on ${this.base.origin}${token ? "" : ` (if it is private, a token is needed and ${noToken})`}`);
    }
    if (code === "RevisionNotFound" || code === "EntryNotFound") return new TaskFailure(`${file ?? "revision"} of ${repo} was not found on the hub`);
    if (status === 401) {
      return new TaskFailure(token ? `the hub refused the token from secret ${tokenKey} (HTTP 401): it is invalid or expired` : `the hub asks for a token for ${repo}, but ${noToken}`);
    }
    if (status === 403) return new TaskFailure(`the hub denied access to ${repo} (HTTP 403)${token ? ` with the token from secret ${tokenKey}` : ""}`);
    if (status === 404) return new TaskFailure(`${file ? `file ${file} of ` : ""}repository ${repo} was not found on ${this.base.origin}`);
    if (status === 429) return new TaskFailure("the hub is rate limiting these requests (HTTP 429); try again later");
    return new TaskFailure(`the hub answered HTTP ${status}${file ? ` for ${file}` : ""}`);
  }
}

function timeoutFailure(base: URL): TaskFailure {
  return new TaskFailure(`the hub at ${base.origin} did not answer in time`);
}

function transportFailure(err: unknown, what: string, base: URL): TaskFailure {
  if (err instanceof ForbiddenAddressError) return new TaskFailure(`${what} was refused: ${err.message}`);
  const code = (err as { code?: string }).code;
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") return timeoutFailure(base);
  if (code === "UND_ERR_BODY_TIMEOUT") return new TaskFailure(`${what} stalled: the hub at ${base.origin} sent nothing for too long`);
  return new TaskFailure(`${what} failed: the hub at ${base.origin} could not be reached or broke off (${code ?? (err as Error).name})`);
}
