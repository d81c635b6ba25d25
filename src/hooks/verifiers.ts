// Signature checks of inbound webhooks, on the exact bytes the sender signed, each as its
// sender documents it: GitHub (`X-Hub-Signature-256`), Standard Webhooks (the scheme of
// Svix, Stripe-style senders and many others) and Slack (`v0`). Comparisons are
// timing-safe. A refusal says which part is wrong, never a value.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { isBase64, standardWebhooksKey } from "../standard-webhooks.ts";
import type { Verifier } from "./definitions.ts";

/** How far a signed timestamp may be from the gateway's clock, either way (Standard Webhooks and Slack). */
export const TOLERANCE_S = 5 * 60;

export type Verification =
  | {
      ok: true;
      /** The sender's delivery id (`webhook-id`), when the scheme signs one. */
      deliveryId?: string;
      /** The signed timestamp, when the scheme signs one. */
      timestamp?: string;
    }
  | { ok: false; reason: string };

const refuse = (reason: string): Verification => ({ ok: false, reason });

/** Equal bytes, in time that does not depend on where they differ. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const hmac = (key: string | Buffer, ...parts: Array<string | Buffer>) => {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return mac.digest();
};

/** A header sent once; a repeated one (joined with ", " by Node) is as good as absent. */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** A timestamp in whole seconds within the tolerance of `nowS`, or why not. */
function checkTimestamp(value: string, nowS: number): string | undefined {
  if (!/^\d{1,12}$/.test(value)) return "the timestamp is not a number of seconds";
  if (Math.abs(nowS - Number(value)) > TOLERANCE_S) return `the timestamp is more than ${TOLERANCE_S / 60} minutes from the gateway's clock`;
  return undefined;
}

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. GitHub signs
 * the body alone, with no timestamp, so no staleness check is possible; replays are made
 * harmless by naming the run after the body instead.
 */
export function verifyGithub(secret: string, headers: IncomingHttpHeaders, body: Buffer): Verification {
  const given = header(headers, "x-hub-signature-256");
  if (!given) return refuse("missing X-Hub-Signature-256 header");
  const hex = /^sha256=([0-9a-fA-F]{64})$/.exec(given)?.[1];
  if (!hex) return refuse("X-Hub-Signature-256 is not sha256=<hex>");
  return sameBytes(Buffer.from(hex, "hex"), hmac(secret, body)) ? { ok: true } : refuse("the signature does not match");
}

/**
 * Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature` (Svix's
 * `svix-*` names too). The signature header holds space-separated `v1,<base64>` entries
 * (several while a sender rotates its secret); any one matching HMAC-SHA256(key,
 * "<id>.<timestamp>.<body>") is enough. The key is the secret's base64 after `whsec_`.
 */
export function verifyStandardWebhooks(secret: string, headers: IncomingHttpHeaders, body: Buffer, nowS: number): Verification {
  const id = header(headers, "webhook-id") ?? header(headers, "svix-id");
  const timestamp = header(headers, "webhook-timestamp") ?? header(headers, "svix-timestamp");
  const signatures = header(headers, "webhook-signature") ?? header(headers, "svix-signature");
  if (!id || !timestamp || !signatures) return refuse("missing webhook-id, webhook-timestamp or webhook-signature header");
  const stale = checkTimestamp(timestamp, nowS);
  if (stale) return refuse(stale);
  const key = standardWebhooksKey(secret);
  if (!key) throw new Error("the hook's Standard Webhooks secret is not a base64 key");
  const expected = hmac(key, `${id}.${timestamp}.`, body);
  // Every entry is compared, so the time taken does not tell which one matched.
  let matched = false;
  for (const entry of signatures.split(" ")) {
    const [version, encoded] = entry.split(",", 2);
    if (version !== "v1" || !encoded || !isBase64(encoded)) continue;
    if (sameBytes(Buffer.from(encoded, "base64"), expected)) matched = true;
  }
  return matched ? { ok: true, deliveryId: id, timestamp } : refuse("no v1 signature matches");
}

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")>` with
 * `X-Slack-Request-Timestamp`.
 */
export function verifySlack(secret: string, headers: IncomingHttpHeaders, body: Buffer, nowS: number): Verification {
  const given = header(headers, "x-slack-signature");
  const timestamp = header(headers, "x-slack-request-timestamp");
  if (!given || !timestamp) return refuse("missing X-Slack-Signature or X-Slack-Request-Timestamp header");
  const stale = checkTimestamp(timestamp, nowS);
  if (stale) return refuse(stale);
  const hex = /^v0=([0-9a-fA-F]{64})$/.exec(given)?.[1];
  if (!hex) return refuse("X-Slack-Signature is not v0=<hex>");
  return sameBytes(Buffer.from(hex, "hex"), hmac(secret, `v0:${timestamp}:`, body)) ? { ok: true, timestamp } : refuse("the signature does not match");
}

/** Checks a delivery with its hook's verifier. `nowS` is the gateway's clock in seconds. */
export function verifyDelivery(verifier: Verifier, secret: string, headers: IncomingHttpHeaders, body: Buffer, nowS: number): Verification {
  switch (verifier) {
    case "github":
      return verifyGithub(secret, headers, body);
    case "standard-webhooks":
      return verifyStandardWebhooks(secret, headers, body, nowS);
    case "slack":
      return verifySlack(secret, headers, body, nowS);
  }
}
