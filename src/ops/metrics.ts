// Prometheus metrics of one gateway instance: requests and their latency per endpoint
// and status, and every control-plane call's latency and errors per RPC (recorded by a
// Connect interceptor on the client's transport, so each RPC is measured once, whatever
// route made it). Served at /metrics, guarded by a token of its own or by the same
// credentials the endpoints take.
import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { PROBE_CALL } from "../controlplane/client.ts";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import { requireCredentials } from "../auth.ts";
import { unauthorized } from "../errors.ts";
import type { App } from "../gateway.ts";
import { credentialHash } from "./caller.ts";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Process metrics (memory, CPU, event loop) are the process's, not one app's: registered once. */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type Labels = "endpoint" | "method" | "status";
type RequestSeries = { count: Counter.Internal; latency: Histogram.Internal<Labels> };

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "flyte_webhook_requests_total",
    help: "HTTP requests answered, by endpoint, method and status",
    labelNames: ["endpoint", "method", "status"] as const,
    registers: [this.registry],
  });
  private readonly requestSeconds = new Histogram({
    name: "flyte_webhook_request_duration_seconds",
    help: "Time to answer an HTTP request, by endpoint, method and status",
    labelNames: ["endpoint", "method", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly rpcSeconds = new Histogram({
    name: "flyte_webhook_control_plane_call_duration_seconds",
    help: "Time of a control-plane call until its answer, by RPC and Connect code",
    labelNames: ["rpc", "code"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly rpcErrors = new Counter({
    name: "flyte_webhook_control_plane_errors_total",
    help: "Control-plane calls that failed, by RPC and Connect code",
    labelNames: ["rpc", "code"] as const,
    registers: [this.registry],
  });
  /** Bound label sets, so a request costs a map lookup rather than a label hash. */
  private readonly series = new Map<string, RequestSeries>();

  observeRequest(endpoint: string, method: string, status: number, seconds: number): void {
    const key = `${endpoint} ${method} ${status}`;
    let s = this.series.get(key);
    if (!s) {
      const labels = { endpoint, method, status: String(status) };
      s = { count: this.requests.labels(labels), latency: this.requestSeconds.labels(labels) };
      this.series.set(key, s);
    }
    s.count.inc();
    s.latency.observe(seconds);
  }

  /** Connect interceptor for the control-plane client. */
  readonly interceptor: Interceptor = (next) => async (req) => {
    const rpc = `${req.service.name}/${req.method.name}`;
    const end = this.rpcSeconds.startTimer({ rpc });
    try {
      const res = await next(req);
      end({ code: "ok" });
      return res;
    } catch (err) {
      const code = Code[ConnectError.from(err).code] ?? "unknown";
      end({ code });
      // A readiness probe's Unauthenticated answer is the expected one, not an error.
      if (!req.contextValues.get(PROBE_CALL)) this.rpcErrors.inc({ rpc, code });
      throw err;
    }
  };

  async text(): Promise<string> {
    return `${await processMetrics().metrics()}\n${await this.registry.metrics()}`;
  }

  /** onResponse hook: one observation per request. Unmatched paths share one label. */
  hook() {
    return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const { config, url } = request.routeOptions;
      this.observeRequest(config.endpoint ?? url ?? "unmatched", request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    };
  }
}

export interface MetricsRouteOptions {
  /** A bearer token of its own for scrapers; unset: the credentials the endpoints take. */
  token?: string | undefined;
}

/** GET /metrics, outside the OpenAPI document like the docs pages. */
export function registerMetricsRoute(app: App, metrics: GatewayMetrics, options: MetricsRouteOptions): void {
  const expected = options.token ? Buffer.from(credentialHash(`Bearer ${options.token}`)) : undefined;
  const guard = expected
    ? async (request: FastifyRequest) => {
        // Compare hashes in constant time: neither the token's length nor its prefix leaks.
        const given = Buffer.from(credentialHash(request.headers.authorization ?? ""));
        if (!timingSafeEqual(given, expected)) throw unauthorized("a valid metrics token is required");
      }
    : undefined;
  app.get("/metrics", {
    schema: { hide: true },
    config: { endpoint: "metrics" },
    onRequest: guard ?? requireCredentials,
    // With no token of its own, the control plane decides whether the credentials are good.
    ...(guard ? {} : { preHandler: async (request: FastifyRequest) => void (await app.gateway.controlPlane.userInfo(request.credentials)) }),
    handler: async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.text()),
  });
}
