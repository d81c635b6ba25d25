// API keys of the embedded control plane: `Authorization: Bearer <token>` maps to a
// subject. Tokens are held only as SHA-256 digests, so a lookup never compares secrets
// byte by byte and a heap dump shows no token.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";

export const subjectKey = createContextKey<string>("", { description: "authenticated subject" });

const digest = (token: string) => createHash("sha256").update(token).digest("hex");

export class ApiKeys {
  private readonly subjects = new Map<string, string>();

  constructor(entries: ReadonlyArray<{ token: string; subject: string }>) {
    for (const { token, subject } of entries) this.subjects.set(digest(token), subject);
  }

  /** The subject of a bearer token, or undefined. */
  subjectOf(authorization: string | null): string | undefined {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    return match ? this.subjects.get(digest(match[1]!)) : undefined;
  }

  /** Interceptor that refuses calls without a known token and records the subject. */
  interceptor(): Interceptor {
    return (next) => async (req) => {
      const subject = this.subjectOf(req.header.get("authorization"));
      if (subject === undefined) {
        throw new ConnectError(req.header.has("authorization") ? "invalid API key" : "missing API key", Code.Unauthenticated);
      }
      req.contextValues.set(subjectKey, subject);
      return next(req);
    };
  }
}

/** Parses `token=subject,token2=subject2`. */
export function parseApiKeys(text: string): Array<{ token: string; subject: string }> {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const eq = item.indexOf("=");
      if (eq <= 0 || eq === item.length - 1) throw new Error("entries must look like token=subject");
      return { token: item.slice(0, eq), subject: item.slice(eq + 1) };
    });
}

/**
 * A secret generated once and kept with mode 0600 in `file`, reused on later starts, so a
 * value pasted into a script or a receiver keeps working.
 */
export function keptSecret(file: string, generate: () => string): { value: string; created: boolean } {
  if (existsSync(file)) {
    const value = readFileSync(file, "utf8").trim();
    if (value) return { value, created: false };
  }
  mkdirSync(dirname(file), { recursive: true });
  const value = generate();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { value, created: true };
}

/** The generated local key, kept in the data directory. */
export function localApiKey(file: string): { token: string; created: boolean } {
  const { value, created } = keptSecret(file, () => `fw_${randomBytes(24).toString("base64url")}`);
  return { token: value, created };
}
