// GET /ready: readiness, unlike /health (liveness). Ready means the control plane answers;
// while the gateway shuts down Fastify itself answers 503, so a load balancer stops
// sending before the process goes away.
import { Type } from "typebox";
import { ApiError } from "../errors.ts";
import type { App } from "../gateway.ts";

const PROBE_TIMEOUT_MS = 2000;

export function registerReadinessRoute(app: App): void {
  const { controlPlane } = app.gateway;
  app.get("/ready", {
    schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal("ready") }) } },
    config: { endpoint: "ready" },
    handler: async () => {
      if (!(await controlPlane.reachable(Math.min(PROBE_TIMEOUT_MS, controlPlane.settings.deadlineMs)))) {
        throw new ApiError(503, "control_plane_unavailable", "the control plane is unreachable");
      }
      return { status: "ready" as const };
    },
  });
}
