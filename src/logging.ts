// Logger settings of the gateway: credentials never reach a log line. Headers are not
// logged at all; query values whose names suggest a secret are masked in logged URLs;
// `redact` is the second line of defence for anything that logs headers anyway.
import type { FastifyBaseLogger, FastifyRequest, FastifyServerOptions } from "fastify";
import type { DestinationStream, LoggerOptions } from "pino";

export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
];

// `callback`: a callback URL is often a credential itself (chat and CI hooks carry theirs in the path).
const SECRET_PARAM = /token|key|secret|password|passwd|auth|signature|sig|session|cookie|code|callback/i;

/** The URL with the values of secret-looking query parameters replaced by `***`. */
export function maskUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const masked = url
    .slice(q + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // undecodable name: judge it as written
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=***` : pair;
    })
    .join("&");
  return `${url.slice(0, q)}?${masked}`;
}

const serializers = {
  req(request: FastifyRequest) {
    return { method: request.method, url: maskUrl(request.url), remoteAddress: request.ip };
  },
};

/** `false` for silence, pino options (plus a `stream`), or a ready logger instance. */
export type LoggerSetting = boolean | (LoggerOptions & { stream?: DestinationStream | NodeJS.WritableStream }) | FastifyBaseLogger | undefined;

export function loggerOption(logger: LoggerSetting): Pick<FastifyServerOptions, "logger" | "loggerInstance"> {
  if (logger === false) return { logger: false };
  // A ready logger instance is used as given: its owner configured its redaction.
  if (logger && typeof (logger as FastifyBaseLogger).child === "function") return { loggerInstance: logger as FastifyBaseLogger };
  const options = logger === undefined || logger === true ? {} : (logger as LoggerOptions);
  return {
    logger: {
      level: process.env.LOG_LEVEL ?? "info",
      ...options,
      redact: [...REDACT_PATHS, ...(Array.isArray(options.redact) ? options.redact : [])],
      serializers: { ...serializers, ...options.serializers },
    } as FastifyServerOptions["logger"],
  };
}
