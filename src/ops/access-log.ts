// One access line per request, and an audit line for every call that changes state.
// Both come from one onResponse hook, so a route gets them by being registered: the
// `route` helper marks the catalogue's POST endpoints (run, abort, activate, deactivate,
// call, build, prefetch) with `config.audit`. A handler may add facts it learned (the run
// it created) with `request.auditDetail`. The request id is in every line through the
// request's logger; credentials never are (headers are not logged, URLs are masked).
import type { FastifyReply, FastifyRequest } from "fastify";
import { callerHash, SubjectCache } from "./caller.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Facts a state-changing handler adds to its audit line, e.g. `{ run: "r..." }`. */
    auditDetail: Record<string, unknown> | null;
    /** Error code of the answer, set when the answer is an error. */
    errorCode: string | null;
  }
  interface FastifyContextConfig {
    /** Catalogue name of the endpoint the route serves. */
    endpoint?: string;
    /** The call changes state: it gets an audit line. */
    audit?: boolean;
  }
}

/** How an audited call ended, in one word; the error code says more. */
function outcome(status: number): string {
  if (status < 400) return "succeeded";
  if (status === 401 || status === 403 || status === 429) return "denied";
  return status < 500 ? "rejected" : "failed";
}

export function accessLogHook(subjects: SubjectCache) {
  return function accessLog(request: FastifyRequest, reply: FastifyReply, done: () => void) {
    const status = reply.statusCode;
    const { config, url: route } = request.routeOptions;
    const caller = callerHash(request) ?? undefined;
    const subject = caller ? subjects.of(request) : undefined;
    // Fastify's own "request completed" shape (req, res.statusCode, responseTime), so
    // tools that read it keep working, plus the route, who called and the error code.
    const line = {
      // The logger's `req` serializer masks secret query values and adds the client address.
      req: request,
      route: route ?? "unmatched",
      res: { statusCode: status },
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
      subject,
      caller,
      error: request.errorCode ?? undefined,
    };
    request.log.info(line, "request completed");
    if (config.audit) {
      request.log.info(
        {
          audit: {
            action: config.endpoint,
            target: { ...(request.params as object), ...request.auditDetail },
            outcome: outcome(status),
            status,
            error: request.errorCode ?? undefined,
            subject,
            caller,
          },
        },
        "audit",
      );
    }
    done();
  };
}
