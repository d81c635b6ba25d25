// Allow-list bypass attempts against a gateway that allows exactly one task: every
// forbidden task reached through case changes, percent-encoding, double encoding,
// trailing slashes, dot segments, look-alike characters and their combinations, and runs
// of forbidden tasks read or aborted by name. A bypass is a 2xx for anything but the
// allowed task, or a run the plane stored for a task the list forbids. The count must be 0.
import fc from "fast-check";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunService } from "../src/controlplane/idl.ts";
import { answerProblems } from "./answers.ts";
import { attachGateway, type Stack, startStack, TOKEN } from "./stack.ts";

const ALLOWED = { domain: "development", project: "flytesnacks", name: "echo" };
/** Forbidden tasks that exist in the plane, so a bypass would really reach something. */
const FORBIDDEN = [
  { domain: "development", project: "flytesnacks", name: "slow" },
  { domain: "development", project: "flytesnacks", name: "wait-1s" },
  { domain: "development", project: "flytesnacks", name: "versioned" },
  { domain: "development", project: "other", name: "echo" },
  { domain: "production", project: "flytesnacks", name: "echo" },
];

const HOMOGLYPHS: Record<string, string[]> = {
  e: ["\u0435", "\uff45", "\u0117", "e\u0301"],
  o: ["\u043e", "\uff4f", "\u03bf", "0"],
  c: ["\u0441", "\uff43", "\u03f2"],
  h: ["\u04bb", "\uff48"],
  s: ["\u0455", "\uff53"],
  l: ["\u04cf", "1", "I", "\uff4c"],
  w: ["\u051d", "\uff57"],
  a: ["\u0430", "\uff41"],
  p: ["\u0440", "\uff50"],
  d: ["\u0501", "\uff44"],
  t: ["\uff54"],
  n: ["\uff4e", "\u0578"],
  i: ["\u0456", "\uff49", "1"],
};

const pct = (ch: string) => [...new TextEncoder().encode(ch)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");

/** Ways to write one path segment; each returns the raw text put in the URL. */
const SEGMENT_TRANSFORMS: Array<[string, (s: string, r: number) => string]> = [
  ["as is", (s) => encodeURIComponent(s)],
  ["upper", (s) => encodeURIComponent(s.toUpperCase())],
  ["capitalized", (s) => encodeURIComponent(s[0]!.toUpperCase() + s.slice(1))],
  ["mixed case", (s, r) => encodeURIComponent([...s].map((c, i) => ((r >> i) & 1 ? c.toUpperCase() : c)).join(""))],
  ["all percent-encoded", (s) => [...s].map(pct).join("")],
  ["one char percent-encoded", (s, r) => [...s].map((c, i) => (i === r % s.length ? pct(c) : encodeURIComponent(c))).join("")],
  ["lowercase hex", (s) => [...s].map((c) => pct(c).toLowerCase()).join("")],
  ["double-encoded", (s) => [...s].map((c) => pct(c).replace(/%/g, "%25")).join("")],
  ["double-encoded one char", (s, r) => [...s].map((c, i) => (i === r % s.length ? pct(c).replace(/%/g, "%25") : c)).join("")],
  ["trailing slash", (s) => `${encodeURIComponent(s)}/`],
  ["trailing encoded slash", (s) => `${encodeURIComponent(s)}%2F`],
  ["trailing dot segment", (s) => `${encodeURIComponent(s)}/.`],
  ["dot-dot to the allowed name", (s) => `${encodeURIComponent(s)}/../${ALLOWED.name}`],
  ["allowed name dot-dot to it", (s) => `${ALLOWED.name}/../${encodeURIComponent(s)}`],
  ["encoded dot-dot", (s) => `${ALLOWED.name}%2F..%2F${encodeURIComponent(s)}`],
  ["leading dot segment", (s) => `./${encodeURIComponent(s)}`],
  ["homoglyph", (s, r) => {
    const i = [...s].findIndex((c, k) => k >= r % s.length && HOMOGLYPHS[c]);
    const chars = [...s];
    if (i >= 0) chars[i] = HOMOGLYPHS[chars[i]!]![r % HOMOGLYPHS[chars[i]!]!.length]!;
    return encodeURIComponent(chars.join(""));
  }],
  ["fullwidth", (s) => encodeURIComponent([...s].map((c) => (/[a-z0-9]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(""))],
  ["zero-width inside", (s, r) => encodeURIComponent(s.slice(0, r % s.length) + "\u200b" + s.slice(r % s.length))],
  ["NUL suffix", (s) => `${encodeURIComponent(s)}%00`],
  ["whitespace", (s, r) => encodeURIComponent([" ", "\t", "\n", "\u00a0"][r % 4] + s)],
  ["semicolon parameter", (s) => `${encodeURIComponent(s)};${ALLOWED.name}`],
  ["backslash", (s) => `${encodeURIComponent(s)}%5C`],
  ["overlong UTF-8 dot", (s) => `%C0%AE%C0%AE/${encodeURIComponent(s)}`],
];

/**
 * The task a task-endpoint URL names, as it reaches the router: dot segments resolved the
 * way a URL is resolved (clients and app.inject() do this), then each segment decoded.
 * Undefined when the URL cannot name a task.
 */
function namedTask(url: string): string[] | undefined {
  try {
    const segments = new URL(url, "http://gateway").pathname.split("/").slice(2);
    return segments.length === 3 ? segments.map(decodeURIComponent) : undefined;
  } catch {
    return undefined;
  }
}

const isAllowed = (ids: string[] | undefined) =>
  ids !== undefined && ids[0] === ALLOWED.domain && ids[1] === ALLOWED.project && ids[2] === ALLOWED.name;

let plane: Stack;
let gw: Stack;
const bypasses: string[] = [];
const problems: string[] = [];
let attempts = 0;
let allowedOk = 0;
/** Runs created on purpose through an unrestricted gateway: forbidden ones. */
const forbiddenRuns: string[] = [];

beforeAll(async () => {
  plane = await startStack();
  for (const t of FORBIDDEN.slice(0, 2)) {
    forbiddenRuns.push((await plane.call(`/run-task/${t.domain}/${t.project}/${t.name}`, { method: "POST", json: { x: 1 } })).body.name);
  }
  gw = await attachGateway(plane.plane, plane.dir, { gateway: { taskAllowlist: [`${ALLOWED.domain}/${ALLOWED.project}/${ALLOWED.name}`] } });
});
afterAll(async () => {
  await gw?.closeGateway();
  await plane?.close();
});

async function attempt(method: "GET" | "POST", url: string, allowed: boolean) {
  attempts++;
  const res = await gw.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${TOKEN}`, ...(method === "POST" ? { "content-type": "application/json" } : {}) },
    ...(method === "POST" ? { payload: '{"x": 1}' } : {}),
  });
  const found = answerProblems({ status: res.statusCode, headers: res.headers, text: res.body });
  if (found.length) problems.push(`${method} ${url}: ${found.join("; ")}`);
  if (res.statusCode < 300) {
    if (allowed) allowedOk++;
    else bypasses.push(`${method} ${url} → ${res.statusCode} ${res.body.slice(0, 120)}`);
  }
  return res;
}

/** Task endpoints for a task written with one transform per segment. */
async function tryTask(segments: string[]) {
  const path = segments.join("/");
  // Only a URL that names exactly the allowed task may succeed.
  await attempt("GET", `/task/${path}`, isAllowed(namedTask(`/task/${path}`)));
  await attempt("POST", `/run-task/${path}`, isAllowed(namedTask(`/run-task/${path}`)));
}

describe("allow-list bypass attempts", () => {
  it("every transform of every segment of every forbidden task: no bypass", async () => {
    for (const task of FORBIDDEN) {
      const parts = [task.domain, task.project, task.name];
      for (let at = 0; at < 3; at++) {
        for (const [, transform] of SEGMENT_TRANSFORMS) {
          for (const r of [0, 1, 5]) {
            await tryTask(parts.map((p, i) => (i === at ? transform(p, r) : encodeURIComponent(p))));
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(bypasses).toEqual([]);
  });

  it("random combinations of transforms on all three segments: no bypass", async () => {
    const targets = [ALLOWED, ...FORBIDDEN];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...targets),
        fc.tuple(...[0, 1, 2].map(() => fc.tuple(fc.nat(SEGMENT_TRANSFORMS.length - 1), fc.nat(63)))),
        async (task, picks) => {
          const parts = [task.domain, task.project, task.name];
          await tryTask(parts.map((p, i) => SEGMENT_TRANSFORMS[picks[i]![0]]![1](p, picks[i]![1])));
          return bypasses.length === 0;
        },
      ),
      { numRuns: 600 },
    );
    expect(problems).toEqual([]);
    expect(bypasses).toEqual([]);
  });

  it("the allowed task itself is served, also when harmlessly encoded (so the checks above can fail)", async () => {
    const before = allowedOk;
    await tryTask([ALLOWED.domain, ALLOWED.project, "%65cho"]);
    await tryTask([ALLOWED.domain, ALLOWED.project, ALLOWED.name]);
    expect(allowedOk - before).toBe(4);
  });

  it("runs of forbidden tasks, read or aborted by any spelling of their name: no bypass", async () => {
    const spellings = (name: string) => [
      name,
      name.toUpperCase(),
      [...name].map(pct).join(""),
      [...name].map((c) => pct(c).replace(/%/g, "%25")).join(""),
      `${name}/`,
      `./${name}`,
      `x/../${name}`,
      `${name}%2F`,
      `${name}%00`,
      name.replace("r", "\u0433"),
    ];
    for (const run of forbiddenRuns) {
      for (const spelled of spellings(run)) {
        for (const [method, suffix] of [["GET", ""], ["GET", "/io"], ["POST", "/abort"]] as const) {
          await attempt(method, `/run/${spelled}${suffix}`, false);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(bypasses).toEqual([]);
    // The forbidden slow run was not aborted by any of the attempts.
    expect((await plane.call(`/run/${forbiddenRuns[0]}`)).body).toMatchObject({ phase: "running", done: false });
  });

  it("the plane stored no run of a forbidden task from the restricted gateway", async () => {
    const runs = createClient(RunService, createConnectTransport({ baseUrl: plane.plane.url, httpVersion: "2" }));
    const stored: Array<{ name: string; task: string }> = [];
    for (let token = ""; ; ) {
      const page = await runs.listRuns(
        { scopeBy: { case: "projectId", value: { organization: "", domain: "development", name: "flytesnacks" } }, request: { limit: 1000, token } },
        { headers: { authorization: `Bearer ${TOKEN}` } },
      );
      for (const run of page.runs) {
        const spec = run.action?.metadata?.spec;
        const id = spec?.case === "task" ? spec.value.id : undefined;
        stored.push({ name: run.action?.id?.run?.name ?? "", task: `${id?.domain}/${id?.project}/${id?.name}` });
      }
      if (!page.token) break;
      token = page.token;
    }
    const forbidden = stored.filter((r) => r.task !== `${ALLOWED.domain}/${ALLOWED.project}/${ALLOWED.name}` && !forbiddenRuns.includes(r.name));
    expect(forbidden).toEqual([]);
    // The allowed runs are there: the listing sees what the gateway created.
    expect(stored.length).toBeGreaterThan(forbiddenRuns.length);
    expect(attempts).toBeGreaterThan(2000);
  });
});
