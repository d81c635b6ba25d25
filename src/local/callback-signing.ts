// Signatures of completion callbacks, per Standard Webhooks (standardwebhooks.com): every
// delivery carries `webhook-id` (stable across retries, so receivers can drop repeats),
// `webhook-timestamp` (seconds, per attempt) and `webhook-signature`
// (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) under a `whsec_` secret. The secret
// is a setting, or generated once and kept beside the plane's database.
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { standardWebhooksKey } from "../standard-webhooks.ts";
import { keptSecret } from "./auth.ts";

/** Why a value is not a usable `whsec_` secret, or undefined when it is; never repeats the value. */
export function callbackSecretProblem(value: string): string | undefined {
  const secret = value.trim();
  // Receivers' libraries expect the prefix, so the plane's own secret must have it.
  const key = secret.startsWith("whsec_") ? standardWebhooksKey(secret) : undefined;
  if (!key) return "expected whsec_ followed by base64";
  const bytes = key.length;
  if (bytes < 24 || bytes > 64) return `the key after whsec_ must decode to 24 to 64 bytes, got ${bytes}`;
  return undefined;
}

export const newCallbackSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

/** The secret kept in `file` (mode 0600), created there on first use. */
export function keptCallbackSecret(file: string): string {
  return keptSecret(file, newCallbackSecret).value;
}

export interface SignatureHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

export class CallbackSigner {
  private readonly webhook: Webhook;

  constructor(secret: string) {
    const problem = callbackSecretProblem(secret);
    if (problem) throw new Error(`callback secret: ${problem}`);
    this.webhook = new Webhook(secret.trim());
  }

  /** The three headers of one attempt of a delivery. */
  sign(messageId: string, body: string, now = new Date()): SignatureHeaders {
    const seconds = Math.floor(now.getTime() / 1000);
    return {
      "webhook-id": messageId,
      "webhook-timestamp": String(seconds),
      "webhook-signature": this.webhook.sign(messageId, new Date(seconds * 1000), body),
    };
  }
}
