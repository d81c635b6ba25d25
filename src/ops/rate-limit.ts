// Rate limits with @fastify/rate-limit: per client address on every protected endpoint,
// and per credential (its hash, never the token) per endpoint group, so a burst of runs
// does not starve reads. Counters live in this process, or in Redis when a URL is given,
// so that replicas share them. Over a limit: 429 in the one error shape, with Retry-After.
import fastifyRateLimit from "@fastify/rate-limit";
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import { Redis } from "ioredis";
import type { EndpointGroup } from "../endpoints.ts";
import { ApiError } from "../errors.ts";
import type { App } from "../gateway.ts";
import { callerHash } from "./caller.ts";

export interface RateLimitOptions {
  /** Length of every window in milliseconds (default 60 000). */
  windowMs?: number;
  /** Requests per window from one client address to protected endpoints; 0 or unset: no limit. */
  perIp?: number;
  /** Requests per window with one credential, counted per endpoint group; 0 or unset: no limit. */
  perCredential?: number;
  /** Per-group values that replace `perCredential` (0: no limit for that group). */
  groups?: Partial<Record<EndpointGroup, number>>;
  /** `redis://` URL of a store shared by replicas; unset: counters in this process. */
  redisUrl?: string;
}

/** Hooks the `route` helper puts before and after the credential check. */
export interface RateLimitHooks {
  byIp: onRequestAsyncHookHandler | undefined;
  byCredential(group: EndpointGroup): onRequestAsyncHookHandler | undefined;
}

export const DEFAULT_WINDOW_MS = 60_000;

type Check = ReturnType<App["createRateLimit"]>;

function limitHook(check: Check, max: number, windowMs: number): onRequestAsyncHookHandler {
  return async function rateLimit(request: FastifyRequest, reply: FastifyReply) {
    const result = await check(request);
    if (result.isAllowed) return;
    reply.header("x-ratelimit-limit", max).header("x-ratelimit-remaining", result.remaining).header("x-ratelimit-reset", result.ttlInSeconds);
    if (result.isExceeded) {
      reply.header("retry-after", result.ttlInSeconds);
      throw new ApiError(429, "rate_limited", `more than ${max} requests in ${windowMs / 1000} s; retry in ${result.ttlInSeconds} s`);
    }
  };
}

/** Registers the plugin (in the app's root context) and returns the hooks; none when no limit is set. */
export function registerRateLimits(app: App, options: RateLimitOptions | undefined): RateLimitHooks {
  const none: RateLimitHooks = { byIp: undefined, byCredential: () => undefined };
  const groups = Object.values(options?.groups ?? {});
  if (!options || !(options.perIp || options.perCredential || groups.some((n) => n && n > 0))) return none;

  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const redis = options.redisUrl
    ? new Redis(options.redisUrl, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false })
    : undefined;
  if (redis) {
    // A Redis that is down must not take the gateway with it: limits are skipped meanwhile.
    // One warning per outage, not one per reconnection attempt.
    let down = false;
    redis.on("error", (err) => {
      if (!down) app.log.warn({ err: { message: err.message } }, "rate-limit store unreachable; limits are skipped until it is back");
      down = true;
    });
    redis.on("ready", () => {
      if (down) app.log.info("rate-limit store reachable again");
      down = false;
    });
    app.addHook("onClose", async () => void redis.disconnect());
  }
  app.register(fastifyRateLimit, {
    global: false,
    skipOnError: true,
    ...(redis ? { redis, nameSpace: "flyte-webhook-rate-limit:" } : {}),
  });

  // Built on first use: plugins registered above have loaded by the time routes are added.
  let byIp: onRequestAsyncHookHandler | undefined | null = null;
  const byGroup = new Map<EndpointGroup, onRequestAsyncHookHandler | undefined>();
  return {
    get byIp() {
      if (byIp === null) {
        byIp = options.perIp
          ? limitHook(app.createRateLimit({ max: options.perIp, timeWindow: windowMs, keyGenerator: (r) => `ip:${r.ip}` }), options.perIp, windowMs)
          : undefined;
      }
      return byIp;
    },
    byCredential(group) {
      if (!byGroup.has(group)) {
        const max = options.groups?.[group] ?? options.perCredential ?? 0;
        byGroup.set(
          group,
          max > 0
            ? limitHook(app.createRateLimit({ max, timeWindow: windowMs, keyGenerator: (r) => `${group}:${callerHash(r)}` }), max, windowMs)
            : undefined,
        );
      }
      return byGroup.get(group);
    },
  };
}
