import { afterAll, beforeAll, expect, it } from "vitest";
import { OTHER_TOKEN, type Stack, startStack, TOKEN } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

it("never writes tokens, cookies or secret query values to the log", async () => {
  const cookie = "session=cookie-secret-9d8e";
  await stack.call("/me");
  await stack.call("/me", { token: null, headers: { cookie } });
  await stack.call("/me", { token: "wrong-token-secret-1234" });
  await stack.call(`/me?token=${OTHER_TOKEN}&api_key=query-key-5566&keep=visible`);
  const run = await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", json: { x: 1 } });
  await stack.waitDone(run.body.name);
  await stack.call(`/run/${run.body.name}/io`);
  await stack.call("/run-task/development/flytesnacks/echo", { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
  await stack.call("/run/rnope");

  const logged = stack.logs.join("");
  // The capture is live: requests were logged (so the scan below can fail).
  expect(logged).toContain("/run-task/development/flytesnacks/echo");
  expect(logged).toContain("keep=visible");
  for (const secret of [TOKEN, OTHER_TOKEN, "cookie-secret-9d8e", "wrong-token-secret-1234", "query-key-5566"]) {
    expect(logged).not.toContain(secret);
  }
});
