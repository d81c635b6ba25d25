// HTTP hardening: security headers (@fastify/helmet) with a Content-Security-Policy that
// the bundled /docs and /redoc pages run under, CORS only for origins an operator lists
// (@fastify/cors), and load shedding (@fastify/under-pressure): while the event loop is
// saturated, requests get 503 with Retry-After instead of queueing without bound.
import fastifyCors from "@fastify/cors";
import fastifyHelmet from "@fastify/helmet";
import fastifyUnderPressure from "@fastify/under-pressure";
import { errorBody } from "../errors.ts";
import type { App } from "../gateway.ts";

export interface HttpHardeningOptions {
  /** Origins allowed to call from a browser (`*` for any); unset or empty: CORS off. */
  corsOrigins?: string[] | undefined;
  /** Mean event-loop delay (ms) past which requests are shed; 0: never. */
  maxEventLoopDelayMs: number;
  /** Seconds in Retry-After of a shed request. */
  retryAfterS: number;
}

/** Answers even when the gateway sheds load, to show why. (Liveness is outside this layer.) */
const NEVER_SHED = new Set(["metrics"]);

export function registerHttpHardening(app: App, options: HttpHardeningOptions): void {
  app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        scriptSrc: ["'self'"],
        // Swagger UI and ReDoc set styles from script; ReDoc's search runs in a blob: worker.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", "data:"],
        fontSrc: ["'self'", "data:"],
        workerSrc: ["'self'", "blob:"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'self'"],
        formAction: ["'self'"],
        // The gateway is often reached over plain HTTP inside a cluster or on a laptop.
        upgradeInsecureRequests: null,
      },
    },
  });

  if (options.corsOrigins && options.corsOrigins.length > 0) {
    app.register(fastifyCors, {
      origin: options.corsOrigins.includes("*") ? "*" : options.corsOrigins,
      methods: ["GET", "POST"],
      allowedHeaders: ["authorization", "content-type", "x-request-id"],
      exposedHeaders: ["x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"],
      maxAge: 600,
    });
  }

  if (options.maxEventLoopDelayMs > 0) {
    app.register(fastifyUnderPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      retryAfter: options.retryAfterS,
      pressureHandler: (request, reply) => {
        if (NEVER_SHED.has(request.routeOptions.config.endpoint ?? "")) return undefined;
        reply.code(503).header("retry-after", options.retryAfterS);
        // The plugin sends a handler's non-null return value and stops there (its typings
        // say void); returning undefined lets the request through.
        return errorBody(request, "overloaded", `the gateway is overloaded; retry in ${options.retryAfterS} s`) as unknown as void;
      },
    });
  }
}
