// Idempotent runs with no state in the gateway. A run's name is derived from what makes two
// requests "the same request" (the endpoint, the caller, the key), so the control plane,
// which refuses a second run of one name, is what enforces it, across replicas and
// restarts. A digest of the request rides in the run's annotations, so reusing a key for a
// different request is told apart from a retry of the same one.
import { createHash } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ControlPlane, Credentials } from "./controlplane/client.ts";
import { AnnotationsSchema, type Inputs, RunSpecSchema, type TaskDetails } from "./controlplane/idl.ts";
import { ApiError, badRequest } from "./errors.ts";

export const IDEMPOTENCY_HEADER = "idempotency-key";
/** Annotation holding the digest of the request that created the run. */
export const REQUEST_DIGEST_ANNOTATION = "flyte-webhook.io/request-sha256";

/** Printable ASCII without spaces, as Stripe-style keys and UUIDs are. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** The Idempotency-Key header, checked; undefined when absent. */
export function idempotencyKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers[IDEMPOTENCY_HEADER];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !KEY.test(value)) {
    throw badRequest("Idempotency-Key must be one header of 1 to 255 printable ASCII characters without spaces", "bad_idempotency_key");
  }
  return value;
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
): Promise<{ name: string; replayed: boolean }> {
  if (!once) return { name: (await controlPlane.startRun(creds, task, inputs, runSpec)).name, replayed: false };
  const annotated = create(RunSpecSchema, runSpec);
  annotated.annotations = create(AnnotationsSchema, { values: { ...annotated.annotations?.values, [REQUEST_DIGEST_ANNOTATION]: once.digest } });
  try {
    return { name: (await controlPlane.startRun(creds, task, inputs, annotated, { name: once.name })).name, replayed: false };
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "already_exists")) throw err;
  }
  const existing = await controlPlane.getRun(creds, once.name);
  if (existing.runSpec?.annotations?.values[REQUEST_DIGEST_ANNOTATION] !== once.digest) {
    throw new ApiError(409, "idempotency_conflict", `this ${once.what} already started run ${once.name} for a different request`);
  }
  return { name: once.name, replayed: true };
}
