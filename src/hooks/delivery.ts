// Which run a verified delivery starts: its name is derived from what identifies the
// delivery, so a replay or a sender's retry names the same run and the control plane,
// which refuses a second run of one name, runs nothing new (see src/idempotency.ts).
//   github             the body's digest: GitHub signs no timestamp, so a replayed
//                      delivery (even under a new X-GitHub-Delivery) is the same body.
//   standard-webhooks  the webhook-id, the scheme's own idempotency key.
//   slack              the event_id of an Events API callback (Slack retries an event
//                      with the same id under a new timestamp); otherwise the signature
//                      basis, timestamp and body (slash commands, interactive requests).
import { createHash } from "node:crypto";
import { derivedRunName, type Once } from "../idempotency.ts";
import type { Hook } from "./definitions.ts";
import type { Verification } from "./verifiers.ts";

/** Run names of hook deliveries start with this letter. */
const PREFIX = "h";

const sha256 = (...parts: Array<string | Buffer>) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
};

function slackEventId(payload: unknown): string | undefined {
  const p = payload as Record<string, unknown> | null;
  return p && typeof p === "object" && p.type === "event_callback" && typeof p.event_id === "string" && p.event_id ? p.event_id : undefined;
}

/** The run name and request digest of a delivery; the same delivery sent again gives the same name. */
export function deliveryOnce(hook: Hook, verified: Verification & { ok: true }, body: Buffer, payload: unknown): Once {
  const bodyDigest = sha256(body);
  const what = `delivery to hook ${hook.name}`;
  switch (hook.verifier) {
    case "github":
      return { name: derivedRunName(PREFIX, [hook.name, "body", bodyDigest]), digest: bodyDigest, what };
    case "standard-webhooks":
      // The same id with another body is a different request: a conflict, not a replay.
      return { name: derivedRunName(PREFIX, [hook.name, "webhook-id", verified.deliveryId!]), digest: bodyDigest, what };
    case "slack": {
      const eventId = slackEventId(payload);
      // A retried event is the same event even if its envelope changed.
      if (eventId) return { name: derivedRunName(PREFIX, [hook.name, "event", eventId]), digest: sha256("event\u0000", eventId), what };
      const basis = sha256(`v0:${verified.timestamp}:`, body);
      return { name: derivedRunName(PREFIX, [hook.name, "basis", basis]), digest: basis, what };
    }
  }
}
