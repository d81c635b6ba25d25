// The operations layer every route gets by being registered on the app: access and audit
// lines, metrics and /metrics, /ready, rate limits, security headers, CORS and load
// shedding. createFlyteWebhookApp calls installOperations once.
import type { App } from "../gateway.ts";
import { accessLogHook } from "./access-log.ts";
import { SubjectCache } from "./caller.ts";
import { registerHttpHardening } from "./http.ts";
import { type GatewayMetrics, registerMetricsRoute } from "./metrics.ts";
import { type RateLimitHooks, type RateLimitOptions, registerRateLimits } from "./rate-limit.ts";
import { registerReadinessRoute } from "./readiness.ts";

export interface OperationsOptions {
  metrics: GatewayMetrics | undefined;
  metricsToken?: string | undefined;
  rateLimit?: RateLimitOptions | undefined;
  corsOrigins?: string[] | undefined;
  maxEventLoopDelayMs: number;
  retryAfterS: number;
}

export function installOperations(app: App, options: OperationsOptions): RateLimitHooks {
  app.decorateRequest("subject", null);
  app.decorateRequest("callerHashMemo", null);
  app.decorateRequest("auditDetail", null);
  app.decorateRequest("errorCode", null);

  app.addHook("onResponse", accessLogHook(new SubjectCache()));
  const { metrics } = options;
  if (metrics) app.addHook("onResponse", metrics.hook());
  registerHttpHardening(app, options);
  const limits = registerRateLimits(app, options.rateLimit);
  // In a plugin of their own, so that they load after the plugins above.
  app.register(async (routes: App) => {
    if (metrics) registerMetricsRoute(routes, metrics, { token: options.metricsToken });
    registerReadinessRoute(routes);
  });
  return limits;
}
