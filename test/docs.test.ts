// The API documentation: the committed OpenAPI document is the one served, every
// operation is described with examples and the one error schema, and /redoc is served
// from this process.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const committed = () => JSON.parse(readFileSync(new URL("../openapi/openapi.json", import.meta.url), "utf8"));

describe("OpenAPI document", () => {
  it("the served document is the committed openapi/openapi.json (run `npm run openapi` after changing routes)", async () => {
    const served = (await stack.call("/openapi.json", { token: null })).body;
    expect(served).toEqual(committed());
  });

  it("every operation has an example answer, and every error answer is the Error schema with its meaning", async () => {
    const doc = (await stack.call("/openapi.json", { token: null })).body;
    const operations = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((methods) => Object.values(methods));
    expect(operations.length).toBeGreaterThan(0);
    for (const op of operations) {
      // JSON, or the event stream of get_run_events.
      const ok = op.responses["200"].content["application/json"] ?? op.responses["200"].content["text/event-stream"];
      expect(ok.example ?? ok.examples, op.operationId).toBeDefined();
      for (const [status, answer] of Object.entries(op.responses as Record<string, any>)) {
        if (Number(status) < 400) continue;
        expect(answer.content["application/json"].schema, `${op.operationId} ${status}`).toEqual({ $ref: "#/components/schemas/Error" });
        expect(answer.description).not.toBe("Default Response");
      }
      expect(op.responses["200"].description).not.toBe("Default Response");
      for (const param of op.parameters ?? []) expect(param.example, `${op.operationId} ${param.name}`).toBeDefined();
      if (op.security) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["401", "403", "429", "502", "503", "504"]));
    }
    expect(doc.components.schemas.Error.examples).toHaveLength(1);
  });

  it("groups that are not enabled are absent, with their tags", async () => {
    const only = await startStack({ gateway: { endpointGroups: ["core"] } });
    try {
      const doc = (await only.call("/openapi.json", { token: null })).body;
      expect(Object.keys(doc.paths).sort()).toEqual(["/health", "/me"]);
      expect(doc.tags.map((t: { name: string }) => t.name)).toEqual(["core"]);
    } finally {
      await only.close();
    }
  });
});

describe("/redoc", () => {
  it("serves a page that loads ReDoc's bundle and the document from this gateway only", async () => {
    const res = await stack.fetch("/redoc", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<redoc spec-url="openapi.json"></redoc>');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain("<title>Flyte Webhook: flyte-webhook</title>");
    const bundle = await stack.fetch("/redoc/redoc.standalone.js", { token: null });
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toMatch(/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(500_000);
  });

  it("escapes the title", async () => {
    const s = await startStack({ gateway: { title: `<script>alert("x")</script>` } });
    try {
      const html = await (await s.fetch("/redoc", { token: null })).text();
      expect(html).toContain("<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</title>");
    } finally {
      await s.close();
    }
  });
});
