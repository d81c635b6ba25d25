// Property-based fuzzing of every served endpoint, driven by the OpenAPI document the
// gateway serves (which the endpoint catalogue produces): a route added to the catalogue
// is fuzzed with no change here. Path parameters, query strings, bodies, content types,
// credentials and methods are generated; whatever comes in, the answer is never a 5xx,
// every error has the one shape, nothing leaks, and no request hangs.
import fc from "fast-check";
import { pino } from "pino";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINTS } from "../src/endpoints.ts";
import { type Answer, answerProblems, SECRET_MARK, secretsFound } from "./answers.ts";
import { type Operation, servedOperations } from "./openapi.ts";
import { OTHER_TOKEN, type Stack, startStack, TOKEN } from "./stack.ts";

/** Cases per served operation; about 3,000 in all for the core, task and run groups. */
const RUNS_PER_OPERATION = 400;
/** A request that takes longer than this is a hang. */
const HANG_MS = 5000;

const planeLogs: string[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    planeLogs.push(String(chunk));
    done();
  },
});

let stack: Stack;
let ops: Operation[];
let runNames: string[] = [];
const seen: string[] = [];
const failures: string[] = [];

beforeAll(async () => {
  // Waits and event streams are bounded well under the hang limit: a fuzzed `wait=1` or a
  // stream of the slow run must answer, not hold the request.
  stack = await startStack({ plane: { logger: pino({ level: "trace" }, sink) }, gateway: { runWaitMaxS: 1, events: { heartbeatMs: 200, maxMs: 500 } } });
  ops = await servedOperations(stack.app);
  // Real runs, so the run endpoints are fuzzed against names that exist too.
  for (const x of [1, 2, 3]) {
    runNames.push((await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x } })).body.name);
  }
  runNames.push((await stack.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } })).body.name);
});
afterAll(() => stack?.close());

// ---- generators --------------------------------------------------------------------------

/** Path parameter values: names that exist, near misses, traversal, encodings, junk. */
const segment = () =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("echo", "slow", "typed", "development", "flytesnacks", "other", "production", "a0") },
    { weight: 2, arbitrary: fc.constantFrom(...(runNames.length ? runNames : ["r"])) },
    { weight: 2, arbitrary: fc.constantFrom("..", ".", "%2e%2e", "%2F", "%252F", "..%2F..%2F", "%00", "%", "%zz", "%C0%AE", "~", "*", "$", ";", "\u0435cho", "ＥＣＨＯ") },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 250, maxLength: 300 }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 20 }) },
  );

/** How a value is put in the URL: encoded as a client would, or raw (possibly invalid). */
const inUrl = (value: string, raw: boolean) => (raw ? value.replace(/[\s#?]/g, encodeURIComponent) : encodeURIComponent(value));

const queryValue = fc.oneof(fc.string({ unit: "binary", maxLength: 30 }), fc.constantFrom("v1", "v2", "", "latest", "%", "a".repeat(2000)));

/** JSON bodies, near-valid inputs, and text that is not JSON at all. */
const body = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  {
    weight: 3,
    arbitrary: fc
      .dictionary(fc.constantFrom("x", "msg", "i", "f", "s", "b", "when", "took", "nums", "scores", "obj", "__proto__", "constructor", "a", "b"), fc.jsonValue({ maxDepth: 2 }))
      .map((v) => JSON.stringify(v)),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "{", '{"x":', "[]", "null", '{"x":1e999}', '{"x":9007199254740993}', '{"x":-0}', '{"__proto__":{"x":1}}') },
);

const contentType = fc.constantFrom("application/json", "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", undefined);

/** Credentials: mostly valid, else another user's, wrong, malformed, cookie-only or none. */
const credentials = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ authorization: `Bearer ${TOKEN}` }) },
  { weight: 1, arbitrary: fc.constant({ authorization: `Bearer ${OTHER_TOKEN}` }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 4, maxLength: 20 }).map((s) => ({ authorization: `Bearer ${SECRET_MARK}${s.replace(/\s/g, "")}` })) },
  { weight: 1, arbitrary: fc.constantFrom({ authorization: "Bearer" }, { authorization: "Basic Zm9vOmJhcg==" }, { authorization: "" }, {}) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 4, maxLength: 20 }).map((s) => ({ cookie: `session=${SECRET_MARK}${encodeURIComponent(s)}` })) },
);

function request(op: Operation) {
  return fc.record({
    params: fc.tuple(...op.pathParams.map(() => segment()), fc.constant("")),
    raw: fc.boolean(),
    query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...op.query, "reason", "version", "x"), fc.string({ maxLength: 8 })), queryValue), { maxLength: 3 }),
    body: op.hasBody ? fc.option(body, { freq: 5 }) : fc.option(body, { freq: 1 }),
    contentType,
    credentials,
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(op.method) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS") }),
    requestId: fc.option(fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 40 }), fc.constant("x".repeat(300))), { freq: 4 }),
  });
}

type Req = ReturnType<typeof request> extends fc.Arbitrary<infer T> ? T : never;

async function send(op: Operation, req: Req): Promise<{ url: string; answer: Answer }> {
  let url = op.path;
  op.pathParams.forEach((name, i) => (url = url.replace(`{${name}}`, inUrl(req.params[i]!, req.raw))));
  if (req.query.length) url += `?${req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`;
  const headers: Record<string, string> = { ...(req.credentials as Record<string, string>) };
  if (req.contentType && req.body !== null) headers["content-type"] = req.contentType;
  if (req.requestId !== null) headers["x-request-id"] = req.requestId;
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    const res = await Promise.race([
      stack.app.inject({ method: req.method as "GET", url, headers, ...(req.body !== null ? { payload: req.body } : {}) }),
      hang,
    ]);
    return { url, answer: { status: res.statusCode, headers: res.headers, text: res.body } };
  } finally {
    clearTimeout(timer);
  }
}

describe("fuzzing every served endpoint", () => {
  it("the served document covers the enabled endpoints of the catalogue, each routed", () => {
    expect(ops.length).toBeGreaterThanOrEqual(7);
    for (const op of ops) {
      const e = ENDPOINTS.find((x) => x.name === op.operationId);
      expect(e, `${op.operationId} is in the catalogue`).toBeDefined();
      expect(op.path).toBe(e!.path.replace(/:(\w+)/g, "{$1}"));
      expect(stack.app.hasRoute({ method: e!.method, url: e!.path })).toBe(true);
    }
    // Every endpoint with a route is in the document, so every route below is fuzzed.
    for (const e of ENDPOINTS) {
      if (stack.app.hasRoute({ method: e.method, url: e.path })) expect(ops.map((o) => o.operationId)).toContain(e.name);
    }
  });

  it(`${RUNS_PER_OPERATION} generated requests per operation: no 5xx, one error shape, no leak, no hang`, async () => {
    const started = Date.now();
    let cases = 0;
    for (const op of ops) {
      await fc.assert(
        fc.asyncProperty(request(op), async (req) => {
          cases++;
          const { url, answer } = await send(op, req);
          seen.push(answer.text);
          const problems = answerProblems(answer, { head: req.method === "HEAD" });
          if (problems.length) {
            failures.push(`${req.method} ${url}: ${problems.join("; ")} (${answer.status} ${answer.text.slice(0, 300)})`);
            throw new Error(failures.at(-1));
          }
        }),
        { numRuns: RUNS_PER_OPERATION, endOnFailure: true },
      );
    }
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(RUNS_PER_OPERATION * ops.length);
    // Seconds, not minutes: the suite stays fast.
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);

  it("the gateway logged no unexpected error while fuzzed", () => {
    const unexpected = stack.logs.filter((l) => l.includes('"unexpected error"') || /"statusCode":5\d\d/.test(l));
    expect(unexpected).toEqual([]);
  });

  it("no token, cookie or fuzzed credential reached a body or a log", () => {
    expect(stack.logs.length).toBeGreaterThan(RUNS_PER_OPERATION * ops.length);
    expect(secretsFound([...seen, ...stack.logs, ...planeLogs], [TOKEN, OTHER_TOKEN])).toEqual([]);
  });
});
