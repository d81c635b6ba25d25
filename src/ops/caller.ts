// Who a request comes from, without ever holding on to the credential: a short hash of
// the Authorization (or Cookie) header keys rate limits and appears in logs, and the
// subject the control plane named for that hash, once a request learned it (GET /me),
// is remembered so later log lines can say who acted.
import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by a route that learned who the caller is from the control plane. */
    subject: string | null;
    /** Memo of callerHash(). */
    callerHashMemo: string | null;
  }
}

/** 96 bits of SHA-256: enough to tell callers apart, useless for recovering a token. */
export function credentialHash(credential: string): string {
  return createHash("sha256").update(credential).digest("base64url").slice(0, 16);
}

/** Hash of the caller's credential, or null for a request that carries none. */
export function callerHash(request: FastifyRequest): string | null {
  if (request.callerHashMemo !== null) return request.callerHashMemo;
  const credential = request.headers.authorization ?? request.headers.cookie;
  if (!credential) return null;
  request.callerHashMemo = credentialHash(credential);
  return request.callerHashMemo;
}

const SUBJECTS_MAX = 1024;

/** Credential hash → subject, bounded; the oldest entry goes first. */
export class SubjectCache {
  private readonly subjects = new Map<string, string>();

  remember(hash: string, subject: string): void {
    if (this.subjects.get(hash) === subject) return;
    this.subjects.delete(hash);
    if (this.subjects.size >= SUBJECTS_MAX) this.subjects.delete(this.subjects.keys().next().value!);
    this.subjects.set(hash, subject);
  }

  /** The subject of the request: learned by this request, or earlier for the same credential. */
  of(request: FastifyRequest): string | undefined {
    const hash = callerHash(request);
    if (!hash) return undefined;
    if (request.subject) {
      this.remember(hash, request.subject);
      return request.subject;
    }
    return this.subjects.get(hash);
  }
}
