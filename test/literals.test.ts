// Property tests of JSON ⇄ Literal: what goes in comes back out, and what does not fit
// its type is refused with the field's name, never thrown as something else.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { durationSeconds, fromLiteral, LiteralError, parseTypeString, toLiteral } from "../src/controlplane/literals.ts";

// HTTP bodies cannot carry "__proto__" keys (Fastify refuses them), so neither do these.
const json: fc.Arbitrary<unknown> = fc
  .jsonValue()
  .map((v) => JSON.parse(JSON.stringify(v)))
  .filter((v) => !JSON.stringify(v).includes('"__proto__"'));

const key = fc.string().filter((k) => k !== "__proto__");

describe("JSON ⇄ Literal", () => {
  it("round-trips values of every type string", () => {
    const cases: Array<[string, fc.Arbitrary<unknown>]> = [
      ["int", fc.integer()],
      ["float", fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n))],
      ["str", fc.string()],
      ["bool", fc.boolean()],
      ["list[int]", fc.array(fc.integer())],
      ["dict[str, str]", fc.dictionary(key, fc.string())],
      ["list[dict[str, bool]]", fc.array(fc.dictionary(key, fc.boolean()))],
      ["json", fc.dictionary(key, json)],
    ];
    for (const [typeText, arbitrary] of cases) {
      const type = parseTypeString(typeText);
      fc.assert(
        fc.property(arbitrary, (value) => {
          expect(fromLiteral(toLiteral(value, type, "v"))).toEqual(value);
        }),
        { numRuns: 300 },
      );
    }
  });

  it("round-trips datetimes to UTC ISO strings and durations to seconds", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2999-12-31T00:00:00Z"), noInvalidDate: true }), (date) => {
        expect(fromLiteral(toLiteral(date.toISOString(), parseTypeString("datetime"), "d"))).toBe(date.toISOString());
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (ms) => {
        expect(fromLiteral(toLiteral(ms / 1000, parseTypeString("duration"), "d"))).toBeCloseTo(ms / 1000, 6);
      }),
    );
    expect(durationSeconds("1h30m")).toBe(5400);
    expect(durationSeconds("250ms")).toBe(0.25);
    expect(durationSeconds("P1DT2H")).toBe(93600);
    expect(durationSeconds("PT")).toBeUndefined();
    expect(durationSeconds("10 s")).toBeUndefined();
  });

  it("refuses any value of the wrong shape with a LiteralError naming the field", () => {
    const types = ["int", "float", "str", "bool", "datetime", "duration", "list[int]", "dict[str, int]", "json"].map(parseTypeString);
    fc.assert(
      fc.property(json, fc.constantFrom(...types), (value, type) => {
        try {
          toLiteral(value, type, "field");
        } catch (err) {
          expect(err).toBeInstanceOf(LiteralError);
          expect((err as Error).message.startsWith("field")).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses unknown type strings", () => {
    expect(() => parseTypeString("tuple[int]")).toThrow('unknown type "tuple[int]"');
  });
});
