// Outbound HTTP for work the gateway or its plane does on a task's behalf (webhook tasks,
// completion callbacks): one keep-alive undici pool per origin, addresses that reach
// cloud metadata services or link-local networks refused (also after DNS resolution, so
// a name that resolves there is refused too), response bodies read with a size cap.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { BlockList, isIP } from "node:net";
import { Agent, buildConnector, type Dispatcher, interceptors } from "undici";

/** Link-local networks (where cloud metadata services live) and AWS's IPv6 metadata address. */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4");
FORBIDDEN.addSubnet("fe80::", 10, "ipv6");
FORBIDDEN.addAddress("fd00:ec2::254", "ipv6");

/** True for addresses outbound calls must not reach; IPv4-mapped IPv6 forms included. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return FORBIDDEN.check(address, family === 4 ? "ipv4" : "ipv6");
}

export class ForbiddenAddressError extends Error {
  override name = "ForbiddenAddressError";
  readonly code = "ERR_FORBIDDEN_ADDRESS";
  constructor(readonly host: string) {
    super(`${host} is a link-local or cloud metadata address; requests there are refused`);
  }
}

export class ResponseTooLargeError extends Error {
  override name = "ResponseTooLargeError";
  constructor(readonly limit: number) {
    super(`response body is larger than ${limit} bytes`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails when any address of the name is forbidden (no picking a safe one: rebinding). */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, "");
    if (addresses.some((a) => isForbiddenAddress(a.address))) return callback(new ForbiddenAddressError(hostname), "");
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), "");
    callback(null, first.address, first.family);
  });
}

export interface OutboundDispatchers {
  /** Answers 3xx as they are. */
  direct: Dispatcher;
  /** Follows up to five redirects, each hop through the same address guard. */
  following: Dispatcher;
  close(): Promise<void>;
}

export interface OutboundDeadlines {
  /** Connecting (default 10 s). */
  connectTimeoutMs?: number;
  /** From sending a request to its answer's headers (undici's default when unset). */
  headersTimeoutMs?: number;
  /** Longest wait for the next chunk of a body (undici's default when unset). */
  bodyTimeoutMs?: number;
}

export function outboundDispatchers(deadlines: OutboundDeadlines = {}): OutboundDispatchers {
  const base = buildConnector({ lookup: guardedLookup as never, timeout: deadlines.connectTimeoutMs ?? 10_000 });
  // Every connection, redirect hops included, passes here: IP literals skip DNS, so they
  // are checked before connecting; names are checked by the lookup.
  const connect: buildConnector.connector = (options, callback) => {
    const host = options.hostname.replace(/^\[|\]$/g, "");
    if (isForbiddenAddress(host)) return callback(new ForbiddenAddressError(options.hostname), null);
    return base(options, callback);
  };
  const agent = new Agent({
    connect,
    keepAliveTimeout: 10_000,
    connections: 64,
    ...(deadlines.headersTimeoutMs !== undefined ? { headersTimeout: deadlines.headersTimeoutMs } : {}),
    ...(deadlines.bodyTimeoutMs !== undefined ? { bodyTimeout: deadlines.bodyTimeoutMs } : {}),
  });
  return {
    direct: agent,
    following: agent.compose(interceptors.redirect({ maxRedirections: 5 })),
    close: () => agent.close(),
  };
}

/** Reads a response body up to `limit` bytes; more is an error, and the rest is not read. */
export async function readCapped(body: AsyncIterable<Uint8Array> & { destroy?(err?: Error): unknown }, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) {
      const error = new ResponseTooLargeError(limit);
      body.destroy?.(error);
      throw error;
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks, size);
}

/** The address guard's refusal behind an outbound failure, if that is what it was. */
export function forbiddenAddressOf(err: unknown): ForbiddenAddressError | undefined {
  if (err instanceof ForbiddenAddressError) return err;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause instanceof ForbiddenAddressError ? cause : undefined;
}

/** Why an outbound request failed, in words safe to show: no URL, no header, no body. */
export function describeOutboundFailure(err: unknown, timeoutMs: number): string {
  const forbidden = forbiddenAddressOf(err);
  if (forbidden) return forbidden.message;
  const name = (err as Error).name;
  const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
  if (name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return `no answer within the timeout of ${timeoutMs / 1000} s`;
  }
  if (code === "ECONNREFUSED") return "the connection was refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "the host name could not be resolved";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET") return "the connection was closed before the answer was complete";
  if (code === "UND_ERR_INVALID_ARG" || name === "InvalidArgumentError") return `the request is invalid: ${(err as Error).message}`;
  return `the request failed: ${code ?? (err as Error).message}`;
}
