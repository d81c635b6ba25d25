// Idempotent runs with no state in the gateway. A run's name is derived from what makes two
// requests "the same request" (the endpoint, the caller, the key), so the control plane,
// which refuses a second run of one name, is what enforces it, across replicas and
// restarts. A digest of the request rides in the run's annotations, so reusing a key for a
// different request is told apart from a retry of the same one.
import { createHash } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { ControlPlane, Credentials } from "./controlplane/client.ts";
import { type Action, type ActionDetails, AnnotationsSchema, type Inputs, RunSpecSchema, type TaskDetails } from "./controlplane/idl.ts";
import { ApiError } from "./errors.ts";
import { callerHash } from "./ops/caller.ts";

export const IDEMPOTENCY_HEADER = "idempotency-key";
/** Annotation holding the digest of the request that created the run. */
export const REQUEST_DIGEST_ANNOTATION = "flyte-webhook.io/request-sha256";

/** The header as endpoints that start runs accept it (printable ASCII, as UUIDs and Stripe-style keys are). */
export const IdempotencyHeaders = Type.Object({
  [IDEMPOTENCY_HEADER]: Type.Optional(
    Type.String({
      pattern: "^[\\x21-\\x7e]{1,255}$",
      description:
        "Makes the request safe to retry: the same key with the same request answers the run the first one started " +
        "(with `Idempotent-Replayed: true`); the same key with a different request is a 409. Keys are per caller and endpoint.",
      examples: ["7f9c2ba4-e88f-11e8-9f32-f2801f1b9fd1"],
    }),
  ),
});

/**
 * The idempotent start a request asks for, if it sent a key: the run's name comes from
 * the endpoint, the caller's credential hash and the key; the digest from `request`, the
 * parts of the request that decide what the run does.
 */
export function onceFor(req: FastifyRequest, endpoint: string, request: unknown): Once | undefined {
  const key = req.headers[IDEMPOTENCY_HEADER];
  if (typeof key !== "string") return undefined;
  return {
    name: derivedRunName("i", [endpoint, callerHash(req) ?? "", key]),
    digest: requestDigest(request),
    what: "Idempotency-Key",
  };
}

/** Tells a client its request was answered with an earlier run. */
export function markReplayed(reply: FastifyReply, started: { replayed: boolean }): void {
  if (started.replayed) reply.header("idempotent-replayed", "true");
}

const ALPHABET_SIZE = 36n;

/**
 * A run name derived from `parts`: `prefix` (one lowercase letter, so names start with a
 * letter as Flyte's do) and 19 base-36 characters of their SHA-256, about 98 bits.
 */
export function derivedRunName(prefix: string, parts: readonly string[]): string {
  const digest = createHash("sha256").update(parts.join("\u0000")).digest();
  let n = BigInt(`0x${digest.toString("hex")}`);
  let tail = "";
  for (let i = 0; i < 19; i++) {
    tail += (n % ALPHABET_SIZE).toString(36);
    n /= ALPHABET_SIZE;
  }
  return prefix + tail;
}

/** SHA-256 of a JSON value with object keys sorted, so key order does not change it. */
export function requestDigest(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** What makes a start idempotent: the run's derived name and the digest of the request. */
export interface Once {
  name: string;
  digest: string;
  /** How the answer names the source of the name in a conflict ("Idempotency-Key", "delivery"). */
  what: string;
}

export interface StartedRun {
  name: string;
  /** True when an earlier identical request had started the run. */
  replayed: boolean;
  /** The run's root action as the plane reported it (its phase, for answers that show one). */
  action: Action | ActionDetails | undefined;
}

/**
 * Starts a run, or, with `once`, finds the run an earlier identical request started:
 * `replayed` says which. A run of that name made by a different request is a 409.
 */
export async function startRunOnce(
  controlPlane: ControlPlane,
  creds: Credentials,
  task: TaskDetails,
  inputs: Inputs,
  runSpec: MessageInitShape<typeof RunSpecSchema>,
  once: Once | undefined,
): Promise<StartedRun> {
  if (!once) {
    const { name, run } = await controlPlane.startRun(creds, task, inputs, runSpec);
    return { name, replayed: false, action: run.action };
  }
  const annotated = create(RunSpecSchema, runSpec);
  annotated.annotations = create(AnnotationsSchema, { values: { ...annotated.annotations?.values, [REQUEST_DIGEST_ANNOTATION]: once.digest } });
  try {
    const { name, run } = await controlPlane.startRun(creds, task, inputs, annotated, { name: once.name });
    return { name, replayed: false, action: run.action };
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "already_exists")) throw err;
  }
  const existing = await controlPlane.getRun(creds, once.name);
  if (existing.runSpec?.annotations?.values[REQUEST_DIGEST_ANNOTATION] !== once.digest) {
    throw new ApiError(409, "idempotency_conflict", `this ${once.what} already started run ${once.name} for a different request`);
  }
  return { name: once.name, replayed: true, action: existing.action };
}
