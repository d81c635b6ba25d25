// The one error shape and the one place that decides statuses. Routes throw; this module
// turns what they throw (our own ApiError, a Connect error from the control plane, a
// Fastify validation or body error) into {"detail", "code", "request_id"}. Upstream
// messages are never passed through: they can carry secrets or internals.
import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";

export const ErrorBody = Type.Object(
  {
    detail: Type.String({ description: "What went wrong, for a human" }),
    code: Type.String({ description: "Stable snake_case error code" }),
    request_id: Type.String({ description: "Id of the request, also in X-Request-Id and the logs" }),
  },
  {
    $id: "Error",
    description: "Every error answer has this shape",
    examples: [{ detail: "Task development/flytesnacks/secret is not in the allowlist", code: "task_not_allowed", request_id: "6f1c0d0e-3b7a-4f0e-9c3e-2a9d1b7c5e11" }],
  },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Reference to ErrorBody for route response schemas. */
export const ErrorRef = { $ref: "Error#" };

/** What each error status means, as the OpenAPI document tells it. */
export const ERROR_STATUSES: Readonly<Record<number, string>> = {
  400: "Bad request: a parameter or the body is malformed",
  401: "No credentials, or the control plane refused them",
  403: "Not in the allow-list, or denied by the control plane",
  404: "Unknown entity",
  409: "Conflict with the entity's state",
  413: "Request body too large",
  422: "Invalid inputs for the task",
  429: "Rate limited; Retry-After says when to try again",
  502: "The control plane answered badly",
  503: "The control plane is unreachable, or the gateway is overloaded (Retry-After)",
  504: "The control plane did not answer in time",
};

/** ErrorRef with the status's meaning as the response description. */
export const errorResponse = (status: number) => ({ ...ErrorRef, description: ERROR_STATUSES[status] ?? "Error" });

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly statusCode: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

export const badRequest = (detail: string, code = "bad_request") => new ApiError(400, code, detail);
export const unauthorized = (detail: string) => new ApiError(401, "unauthenticated", detail);
export const forbidden = (detail: string, code = "forbidden") => new ApiError(403, code, detail);
export const notFound = (detail: string, code = "not_found") => new ApiError(404, code, detail);
export const badGateway = (detail: string) => new ApiError(502, "control_plane_bad_answer", detail);
export const invalidInputs = (detail: string) => new ApiError(422, "invalid_inputs", detail);

/** How each Connect code from the control plane reaches the caller. */
const CONNECT_STATUS: Record<Code, { status: number; code: string; detail: string }> = {
  [Code.Canceled]: { status: 502, code: "control_plane_canceled", detail: "the control plane canceled the call" },
  [Code.Unknown]: { status: 502, code: "control_plane_error", detail: "the control plane answered with an error" },
  [Code.InvalidArgument]: { status: 400, code: "invalid_argument", detail: "the control plane rejected the request as invalid" },
  [Code.DeadlineExceeded]: { status: 504, code: "control_plane_timeout", detail: "the control plane did not answer in time" },
  [Code.NotFound]: { status: 404, code: "not_found", detail: "not found" },
  [Code.AlreadyExists]: { status: 409, code: "already_exists", detail: "it already exists" },
  [Code.PermissionDenied]: { status: 403, code: "permission_denied", detail: "the control plane denied this action to the caller" },
  [Code.ResourceExhausted]: { status: 429, code: "control_plane_exhausted", detail: "the control plane is rate limiting the caller" },
  [Code.FailedPrecondition]: { status: 409, code: "failed_precondition", detail: "the entity is not in a state that allows this" },
  [Code.Aborted]: { status: 409, code: "conflict", detail: "the control plane aborted the call because of a conflict" },
  [Code.OutOfRange]: { status: 400, code: "out_of_range", detail: "a value is out of range" },
  [Code.Unimplemented]: { status: 502, code: "control_plane_unimplemented", detail: "the control plane does not implement this call" },
  [Code.Internal]: { status: 502, code: "control_plane_error", detail: "the control plane failed internally" },
  [Code.Unavailable]: { status: 503, code: "control_plane_unavailable", detail: "the control plane is unreachable" },
  [Code.DataLoss]: { status: 502, code: "control_plane_error", detail: "the control plane lost data" },
  [Code.Unauthenticated]: { status: 401, code: "unauthenticated", detail: "the control plane did not accept the credentials" },
};

/** Node errors of a connection that was refused, reset or closed under a call. */
const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ERR_HTTP2_GOAWAY_SESSION", "ERR_HTTP2_INVALID_SESSION", "ERR_HTTP2_SESSION_ERROR"]);

/** How the Node transport words a stream the connection's end tore down (RST_STREAM). */
const STREAM_TORN_DOWN = /^http\/2 stream closed with error code (CANCEL|REFUSED_STREAM)\b/;

/**
 * Whether a call failed because the connection to the plane broke rather than because the
 * plane answered. The Node transport reports some of these as INTERNAL (a stream refused
 * on a session the plane dropped when it died), ABORTED (a reset connection) or CANCELED
 * (streams torn down with the connection; the gateway itself cancels only by deadline),
 * which would read as "the plane failed", "conflict" or "canceled"; to the caller they
 * mean the plane is unreachable. Errors the plane itself sends are left alone.
 */
function brokenConnection(err: ConnectError): boolean {
  if (![Code.Internal, Code.Aborted, Code.Unknown, Code.Canceled].includes(err.code)) return false;
  if (err.cause === undefined && STREAM_TORN_DOWN.test(err.rawMessage)) return true;
  let cause: unknown = err.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code && CONNECTION_ERRORS.has(code)) return true;
    if (code === "ERR_HTTP2_STREAM_ERROR" && /REFUSED_STREAM/.test(cause.message)) return true;
  }
  return false;
}

/**
 * Maps an error from a control-plane call. `notFound` names the entity so a 404 says what
 * was missing ("task flytesnacks/development/echo not found").
 */
export function fromControlPlane(err: unknown, context: { notFound?: string; conflict?: string } = {}): ApiError {
  if (err instanceof ApiError) return err;
  const connect = ConnectError.from(err);
  const code = brokenConnection(connect) ? Code.Unavailable : connect.code;
  const mapped = CONNECT_STATUS[code] ?? CONNECT_STATUS[Code.Unknown];
  if (code === Code.NotFound && context.notFound) {
    return new ApiError(404, "not_found", `${context.notFound} not found`);
  }
  if ((code === Code.FailedPrecondition || code === Code.AlreadyExists) && context.conflict) {
    return new ApiError(409, mapped.code, context.conflict);
  }
  return new ApiError(mapped.status, mapped.code, mapped.detail);
}

/** Fastify's own error codes that need a status of their own. */
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "payload_too_large" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: "unsupported_media_type" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: "invalid_json" },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: "invalid_json" },
};

export function errorBody(request: FastifyRequest, code: string, detail: string): ErrorBody {
  // Remembered for the request's access and audit lines.
  request.errorCode = code;
  return { detail, code, request_id: String(request.id) };
}

function handleError(this: FastifyInstance, error: FastifyError | ApiError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) {
    return reply.code(error.statusCode).send(errorBody(request, error.code, error.message));
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return reply.code(400).send(errorBody(request, "invalid_request", fastifyError.message));
  }
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) {
    return reply.code(known.status).send(errorBody(request, known.code, fastifyError.message));
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's client errors carry safe, fixed messages.
    return reply.code(status).send(errorBody(request, "bad_request", fastifyError.message));
  }
  if (error instanceof ConnectError) {
    const mapped = fromControlPlane(error);
    return reply.code(mapped.statusCode).send(errorBody(request, mapped.code, mapped.message));
  }
  request.log.error({ err: error }, "unexpected error");
  return reply.code(500).send(errorBody(request, "internal_error", "internal error; the request id is in the logs"));
}

/** Errors Fastify raises while routing, before any hook or the error handler runs. */
const FRAMEWORK_CODES: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_BAD_URL: { status: 400, code: "bad_url", detail: "the URL is not validly percent-encoded" },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: "uri_too_long", detail: "a path segment of the URL is too long" },
};

/**
 * Fastify's `frameworkErrors`: without it a malformed URL is answered in Fastify's own
 * shape and echoes the path. The onRequest hooks have not run, so the request id header
 * is set here.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const known = FRAMEWORK_CODES[error.code] ?? { status: 400, code: "bad_request", detail: "the request could not be routed" };
  reply.header("x-request-id", request.id);
  return reply.code(known.status).send(errorBody(request, known.code, known.detail));
}

/** Installs the one error handler and the one not-found handler. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(request, "route_not_found", `no endpoint ${request.method} ${request.url.split("?")[0]}`));
  });
}
