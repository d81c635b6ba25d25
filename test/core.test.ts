import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe("health", () => {
  it("answers healthy without credentials", async () => {
    const { status, body } = await stack.call("/health", { token: null });
    expect(status).toBe(200);
    expect(body).toEqual({ status: "healthy" });
  });
});

describe("me", () => {
  it("returns the subject the control plane sees for the token", async () => {
    const { status, body } = await stack.call("/me");
    expect(status).toBe(200);
    expect(body).toEqual({ subject: "tester", name: "tester" });
  });

  it("answers 401 with WWW-Authenticate when no credentials are given", async () => {
    const { status, body, headers } = await stack.call("/me", { token: null });
    expect(status).toBe(401);
    expect(headers.get("www-authenticate")).toBe("Bearer");
    expect(body).toMatchObject({ code: "unauthenticated", detail: "Authentication credentials required" });
    expect(body.request_id).toBe(headers.get("x-request-id"));
  });

  it("answers 401 when the control plane rejects the token", async () => {
    const { status, body } = await stack.call("/me", { token: "not-a-real-token" });
    expect(status).toBe(401);
    expect(body).toEqual({ detail: expect.any(String), code: "unauthenticated", request_id: expect.any(String) });
  });

  it("forwards a Cookie header as a credential, and the plane decides", async () => {
    const { status, body } = await stack.call("/me", { token: null, headers: { cookie: "session=abc" } });
    // The embedded plane only knows bearer API keys: the cookie passes the gateway's
    // check and is refused by the plane.
    expect(status).toBe(401);
    expect(body.detail).toBe("the control plane did not accept the credentials");
  });
});

describe("request ids", () => {
  it("echoes a valid X-Request-Id and uses it in error bodies", async () => {
    const { body, headers } = await stack.call("/run/does-not-exist", { headers: { "x-request-id": "abc-123" } });
    expect(headers.get("x-request-id")).toBe("abc-123");
    expect(body.request_id).toBe("abc-123");
  });

  it("replaces an invalid X-Request-Id with a generated one", async () => {
    const { headers } = await stack.call("/health", { headers: { "x-request-id": "bad id with spaces" } });
    expect(headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("unknown routes", () => {
  it("answer 404 in the error shape", async () => {
    const { status, body } = await stack.call("/nope");
    expect(status).toBe(404);
    expect(body).toEqual({ detail: "no endpoint GET /nope", code: "route_not_found", request_id: expect.any(String) });
  });
});
