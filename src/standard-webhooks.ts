// The key of a Standard Webhooks secret (standardwebhooks.com), shared by the verifier of
// inbound hooks and the signer of completion callbacks.

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PREFIX = "whsec_";

/** The HMAC key of a Standard Webhooks secret: base64 after an optional `whsec_`; undefined when malformed. */
export function standardWebhooksKey(secret: string): Buffer | undefined {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (!BASE64.test(encoded)) return undefined;
  const key = Buffer.from(encoded, "base64");
  return key.length > 0 ? key : undefined;
}

/** Whether one entry of a signature header is base64 (`v1,<base64>`). */
export const isBase64 = (text: string) => BASE64.test(text);
