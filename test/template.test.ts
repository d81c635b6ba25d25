// Webhook templating: what a task configuration turns into for given inputs and secrets.
import { describe, expect, it } from "vitest";
import { render, renderUrl, secretNames, TemplateError } from "../src/connectors/template.ts";
import { parseWebhookConfig } from "../src/connectors/webhook-config.ts";

const inputs = { n: 42, s: "hello world", b: true, user: { id: 7, name: "ada", tags: ["x", "y"] }, list: [1, 2, 3], nothing: null };
const scope = { roots: { inputs }, secret: (name: string) => ({ API_TOKEN: "s3cr3t/+" })[name] };

describe("templating", () => {
  it("keeps the type of a value that is exactly one placeholder", () => {
    expect(render({ a: "{inputs.n}", b: "{inputs.b}", c: "{inputs.user}", d: "{inputs.list}", e: "{inputs.nothing}" }, scope)).toEqual({
      a: 42,
      b: true,
      c: inputs.user,
      d: [1, 2, 3],
      e: null,
    });
  });

  it("replaces placeholders inside longer strings with their text", () => {
    expect(render("n={inputs.n} b={inputs.b} s={inputs.s} list={inputs.list} user={inputs.user.name}", scope)).toBe(
      'n=42 b=true s=hello world list=[1,2,3] user=ada',
    );
  });

  it("reaches into objects and lists with dotted paths", () => {
    expect(render(["{inputs.user.id}", "{inputs.user.tags.1}", "{inputs.list.0}"], scope)).toEqual([7, "y", 1]);
  });

  it("renders recursively through objects and arrays, leaving keys as written", () => {
    expect(render({ outer: { "{inputs.s}": [{ deep: "{inputs.user.name}" }, 5, false, null] } }, scope)).toEqual({
      outer: { "{inputs.s}": [{ deep: "ada" }, 5, false, null] },
    });
  });

  it("leaves text in braces that is not a placeholder alone", () => {
    for (const text of ["{not a placeholder}", "{}", "{inputs}", "{other.thing}", '{"json": 1}', "{{inputs.n}}x", "{ inputs.n }"]) {
      const expected = text === "{{inputs.n}}x" ? "{42}x" : text;
      expect(render(text, scope)).toBe(expected);
    }
  });

  it("fails on a missing input or key, naming it and no value", () => {
    expect(() => render("{inputs.missing}", scope)).toThrow(new TemplateError('{inputs.missing}: input "missing" is missing'));
    expect(() => render("x {inputs.user.email}", scope)).toThrow(new TemplateError('{inputs.user.email}: "inputs.user" has no key "email"'));
    expect(() => render("{inputs.list.9}", scope)).toThrow(/"inputs.list" has no key "9"/);
    expect(() => render("{inputs.n.x}", scope)).toThrow(/"inputs.n" has no key "x"/);
  });

  it("resolves secrets and names a missing one", () => {
    expect(render({ auth: "Bearer {secrets.API_TOKEN}" }, scope)).toEqual({ auth: "Bearer s3cr3t/+" });
    expect(() => render("{secrets.NOPE}", scope)).toThrow(new TemplateError('secret "NOPE" is not available'));
    expect(secretNames({ a: ["{secrets.A}", "{secrets.B} {secrets.A}"] })).toEqual(["A", "B"]);
  });

  it("percent-encodes URL substitutions after the origin, not in it", () => {
    const s = { roots: { inputs: { base: "http://127.0.0.1:9", name: "a b/../c?d=1#e" } }, secret: scope.secret };
    expect(renderUrl("http://h/items/{inputs.name}?q={inputs.name}", s)).toBe("http://h/items/a%20b%2F..%2Fc%3Fd%3D1%23e?q=a%20b%2F..%2Fc%3Fd%3D1%23e");
    expect(renderUrl("{inputs.base}/x/{inputs.name}", s)).toBe("http://127.0.0.1:9/x/a b/../c?d=1#e".replace("a b/../c?d=1#e", "a%20b%2F..%2Fc%3Fd%3D1%23e"));
    expect(renderUrl("https://api.example/{secrets.API_TOKEN}", s)).toBe("https://api.example/s3cr3t%2F%2B");
    expect(renderUrl("http://h?q={inputs.name}", s)).toBe("http://h?q=a%20b%2F..%2Fc%3Fd%3D1%23e");
    expect(renderUrl("{inputs.base}?q={inputs.name}", s)).toBe("http://127.0.0.1:9?q=a%20b%2F..%2Fc%3Fd%3D1%23e");
  });
});

describe("webhook task configuration", () => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /config\.url is required/],
    [{ url: "ftp://x/y" }, /config\.url must be an http or https URL/],
    [{ url: "http://x", method: "TRACE" }, /config\.method must be one of GET, POST, PUT, PATCH, DELETE/],
    [{ url: "http://x", timeout: "soon" }, /config\.timeout must be seconds/],
    [{ url: "http://x", timeout: 0 }, /config\.timeout/],
    [{ url: "http://x", timeout: 7200 }, /config\.timeout/],
    [{ url: "http://x", headers: ["a"] }, /config\.headers must be an object/],
    [{ url: "http://x", headers: { "bad name": "v" } }, /config\.headers has an invalid header name/],
    [{ url: "http://x", headers: { A: { b: 1 } } }, /config\.headers\.A must be a string/],
    [{ url: "http://x", method: "GET", data: [1] }, /config\.data must be an object for GET/],
    [{ url: "http://x", show_url: "yes" }, /config\.show_url must be true or false/],
    [{ url: "http://x", max_response_bytes: 0 }, /config\.max_response_bytes/],
    [{ url: "http://x", hedaers: {} }, /config\.hedaers is not a webhook setting/],
    [{ url: "http://x", data: {}, body: {} }, /give one/],
    [{ url: "http://x/{inputs.nope}" }, /config\.url refers to \{inputs\.nope\}, but the task has no input "nope"/],
    [{ url: "http://x", data: { a: "{inputs.nope}" } }, /config\.data refers to \{inputs\.nope\}/],
    [{ url: "http://x", headers: { A: "{secrets.-x}" } }, /config\.headers refers to \{secrets\.-x\}, which is not a valid secret name/],
  ];
  it.each(bad)("refuses %j", (config, message) => {
    expect(() => parseWebhookConfig(config as never, ["user"])).toThrow(message);
  });

  it("applies flytekit's defaults and accepts its spellings", () => {
    const config = parseWebhookConfig({ url: "http://x/{inputs.user}", method: "get", body: { q: "1" }, show_body: true, timeout: "PT2.5S" }, ["user"]);
    expect(config).toMatchObject({ method: "GET", data: { q: "1" }, showData: true, showUrl: false, timeoutMs: 2500, maxResponseBytes: 1048576, followRedirects: false });
    expect(parseWebhookConfig({ url: "http://x" })).toMatchObject({ method: "POST", headers: {}, data: {}, timeoutMs: 10_000 });
    expect(parseWebhookConfig({ url: "http://x", timeout: "1m30s" }).timeoutMs).toBe(90_000);
  });
});
