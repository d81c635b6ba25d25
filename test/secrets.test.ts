// Secret scan: a tour of every served endpoint with credentials, cookies and plane
// secrets that all carry one mark, every answer kept, gateway and plane logging at trace.
// The mark must appear nowhere: not in a log line, an error body or a run's outputs.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secretsFrom } from "../src/connectors/secrets.ts";
import { secretsFound, secretValue } from "./answers.ts";
import { fillPath, servedOperations } from "./openapi.ts";
import { type Stack, startStack, TEST_CATALOG, TOKEN } from "./stack.ts";

const planeSecret = secretValue("plane");
const cookieSecret = secretValue("cookie");
const wrongToken = secretValue("token");
const planeLogs: string[] = [];
const answers: string[] = [];
let stack: Stack;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      planeLogs.push(String(chunk));
      done();
    },
  });
  const catalog = {
    tasks: [...TEST_CATALOG.tasks, { name: "with-secret", type: "echo", inputs: { x: "int" }, outputs: { x: "int" }, secrets: ["api-token"] }],
  };
  stack = await startStack({
    catalog,
    plane: { logger: pino({ level: "trace" }, sink), secrets: secretsFrom({ env: { FLYTE_SECRET_API_TOKEN: planeSecret } }) },
  });
});
afterAll(() => stack?.close());

describe("secrets never leave", () => {
  it("a tour of every served endpoint with marked credentials leaves no mark in bodies or logs", async () => {
    const run = await stack.call("/run-task/development/flytesnacks/with-secret", { method: "POST", json: { x: 3 } });
    expect(run.status).toBe(200);
    await stack.waitDone(run.body.name);
    const credentials: Array<Record<string, string>> = [
      { authorization: `Bearer ${TOKEN}` },
      { authorization: `Bearer ${TOKEN}`, cookie: `session=${cookieSecret}` },
      { cookie: `session=${cookieSecret}` },
      { authorization: `Bearer ${wrongToken}` },
      { authorization: wrongToken },
    ];
    for (const op of await servedOperations(stack.app)) {
      const isRun = op.path.startsWith("/run/");
      const url = `${fillPath(op, { domain: "development", project: "flytesnacks", name: isRun ? run.body.name : "with-secret" })}?token=${wrongToken}&api_key=${wrongToken}`;
      for (const headers of credentials) {
        const res = await stack.app.inject({
          method: op.method as "GET",
          url,
          headers: { ...headers, ...(op.hasBody ? { "content-type": "application/json" } : {}) },
          ...(op.hasBody ? { payload: JSON.stringify({ x: 1 }) } : {}),
        });
        answers.push(res.body);
      }
    }
    // The tour reached real answers: task metadata naming the secret, and the run's outputs.
    expect(answers.some((a) => a.includes('"secrets":["api-token"]'))).toBe(true);
    expect(answers.some((a) => a.includes('"outputs":{"x":3}'))).toBe(true);
    expect(answers.some((a) => a.includes('"code":"unauthenticated"'))).toBe(true);
    // Gateway logging was live, so the scan below can fail (the plane logs only what goes wrong).
    expect(stack.logs.length).toBeGreaterThan(answers.length);
    expect(secretsFound([...answers, ...stack.logs, ...planeLogs], [TOKEN, planeSecret, cookieSecret, wrongToken])).toEqual([]);
  });
});
