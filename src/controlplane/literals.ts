// JSON ⇄ flyteidl2 Literal, driven by the task interface, in the forms flyte-sdk reads
// and writes: primitives, collections, string-keyed maps, and objects (dataclass /
// pydantic / untyped dict) as msgpack Binary literals tagged "msgpack".
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import {
  type Literal,
  LiteralSchema,
  type LiteralType,
  LiteralTypeSchema,
  type Primitive,
  type Scalar,
  SimpleType,
  TypeAnnotationSchema,
} from "./idl.ts";

/** A value that does not fit its declared type; `path` names the input ("x", "items[2]"). */
export class LiteralError extends Error {
  override name = "LiteralError";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

const simple = (type: SimpleType): LiteralType => create(LiteralTypeSchema, { type: { case: "simple", value: type } });

/** The annotation flyte-sdk puts on msgpack-serialised object types. */
const MSGPACK_ANNOTATION = create(TypeAnnotationSchema, {
  annotations: { "cache-key-metadata": { "serialization-format": "msgpack" } } as JsonObject,
});

/**
 * Parses a catalog type string (`int float str bool datetime duration json list[T]
 * dict[str, T]`) into a LiteralType. Throws with the offending text on anything else.
 */
export function parseTypeString(text: string): LiteralType {
  const t = text.trim();
  switch (t) {
    case "int":
      return simple(SimpleType.INTEGER);
    case "float":
      return simple(SimpleType.FLOAT);
    case "str":
      return simple(SimpleType.STRING);
    case "bool":
      return simple(SimpleType.BOOLEAN);
    case "datetime":
      return simple(SimpleType.DATETIME);
    case "duration":
      return simple(SimpleType.DURATION);
    case "json":
    case "dict":
      return create(LiteralTypeSchema, { type: { case: "simple", value: SimpleType.STRUCT }, annotation: MSGPACK_ANNOTATION });
  }
  const list = /^list\[(.+)\]$/.exec(t);
  if (list) return create(LiteralTypeSchema, { type: { case: "collectionType", value: parseTypeString(list[1]!) } });
  const dict = /^dict\[\s*str\s*,(.+)\]$/.exec(t);
  if (dict) return create(LiteralTypeSchema, { type: { case: "mapValueType", value: parseTypeString(dict[1]!) } });
  throw new Error(`unknown type "${text}"; known: int, float, str, bool, datetime, duration, json, list[T], dict[str, T]`);
}

/** The catalog spelling of a LiteralType, for messages and task metadata. */
export function typeName(type: LiteralType | undefined): string {
  const t = type?.type;
  switch (t?.case) {
    case "simple":
      return (
        {
          [SimpleType.NONE]: "none",
          [SimpleType.INTEGER]: "int",
          [SimpleType.FLOAT]: "float",
          [SimpleType.STRING]: "str",
          [SimpleType.BOOLEAN]: "bool",
          [SimpleType.DATETIME]: "datetime",
          [SimpleType.DURATION]: "duration",
          [SimpleType.BINARY]: "bytes",
          [SimpleType.ERROR]: "error",
          [SimpleType.STRUCT]: "json",
        } as Record<number, string>
      )[t.value] ?? "unknown";
    case "collectionType":
      return `list[${typeName(t.value)}]`;
    case "mapValueType":
      return `dict[str, ${typeName(t.value)}]`;
    case "enumType":
      return `enum(${t.value.values.join("|")})`;
    case "unionType":
      return t.value.variants.map(typeName).join(" | ");
    case "blob":
      return "file";
    default:
      return t?.case ?? "unknown";
  }
}

// Message init shapes accept plain objects for nested messages; the casts below say so.
const scalar = (value: unknown): Literal =>
  create(LiteralSchema, { value: { case: "scalar", value: { value: value as Scalar["value"] } } });
const primitive = (value: Primitive["value"]): Literal => scalar({ case: "primitive", value: { value } });

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Converts one JSON value to a Literal of `type`. */
export function toLiteral(value: unknown, type: LiteralType | undefined, path: string): Literal {
  const t = type?.type;
  switch (t?.case) {
    case "simple":
      return simpleToLiteral(value, t.value, path);
    case "collectionType": {
      if (!Array.isArray(value)) throw new LiteralError(path, `expected a list, got ${describe(value)}`);
      const literals = value.map((item, i) => toLiteral(item, t.value, `${path}[${i}]`));
      return create(LiteralSchema, { value: { case: "collection", value: { literals } } });
    }
    case "mapValueType": {
      if (!isPlainObject(value)) throw new LiteralError(path, `expected an object, got ${describe(value)}`);
      // fromEntries defines own properties, so a key such as "__proto__" stays a key.
      const literals = Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toLiteral(item, t.value, `${path}.${key}`)]));
      return create(LiteralSchema, { value: { case: "map", value: { literals } } });
    }
    case "enumType": {
      if (typeof value !== "string" || !t.value.values.includes(value)) {
        throw new LiteralError(path, `expected one of ${t.value.values.join(", ")}`);
      }
      return primitive({ case: "stringValue", value });
    }
    case "unionType": {
      // The first variant that accepts the value wins, as flyte-sdk's union transformer does.
      for (const variant of t.value.variants) {
        try {
          const literal = toLiteral(value, variant, path);
          return scalar({ case: "union", value: { value: literal, type: variant } });
        } catch {
          // try the next variant
        }
      }
      throw new LiteralError(path, `expected ${typeName(type)}, got ${describe(value)}`);
    }
    default:
      throw new LiteralError(path, `inputs of type ${typeName(type)} cannot be given as JSON`);
  }
}

function simpleToLiteral(value: unknown, type: SimpleType, path: string): Literal {
  switch (type) {
    case SimpleType.INTEGER: {
      let n: bigint | undefined;
      if (typeof value === "number" && Number.isInteger(value)) n = BigInt(value);
      else if (typeof value === "string" && /^-?\d{1,19}$/.test(value)) n = BigInt(value);
      if (n === undefined || n < INT64_MIN || n > INT64_MAX) {
        throw new LiteralError(path, `expected int, got ${typeof value === "number" ? "a non-integer number" : describe(value)}`);
      }
      return primitive({ case: "integer", value: n });
    }
    case SimpleType.FLOAT:
      if (typeof value !== "number" || !Number.isFinite(value)) throw new LiteralError(path, `expected float, got ${describe(value)}`);
      return primitive({ case: "floatValue", value });
    case SimpleType.STRING:
      if (typeof value !== "string") throw new LiteralError(path, `expected str, got ${describe(value)}`);
      return primitive({ case: "stringValue", value });
    case SimpleType.BOOLEAN:
      if (typeof value !== "boolean") throw new LiteralError(path, `expected bool, got ${describe(value)}`);
      return primitive({ case: "boolean", value });
    case SimpleType.DATETIME:
      return primitive({ case: "datetime", value: timestampFromDate(parseDatetime(value, path)) });
    case SimpleType.DURATION:
      return primitive({ case: "duration", value: parseDuration(value, path) });
    case SimpleType.STRUCT:
      if (!isPlainObject(value) && !Array.isArray(value)) throw new LiteralError(path, `expected a JSON object, got ${describe(value)}`);
      return scalar({ case: "binary", value: { value: msgpackEncode(value), tag: "msgpack" } });
    case SimpleType.NONE:
      if (value !== null) throw new LiteralError(path, `expected null, got ${describe(value)}`);
      return scalar({ case: "noneType", value: {} });
    default:
      throw new LiteralError(path, `inputs of type ${SimpleType[type]?.toLowerCase() ?? type} cannot be given as JSON`);
  }
}

/** ISO-8601 date-time; without an offset it is read as UTC, as flyte-sdk does. */
function parseDatetime(value: unknown, path: string): Date {
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(value)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(value) && value.length > 10;
    const date = new Date(hasZone ? value : `${value.length === 10 ? `${value}T00:00:00` : value.replace(" ", "T")}Z`);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new LiteralError(path, `expected an ISO-8601 datetime such as "2026-01-31T12:00:00Z", got ${JSON.stringify(value) ?? describe(value)}`);
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds as a number, `"1h30m"`-style text, or ISO-8601 (`"PT10S"`). */
export function parseDuration(value: unknown, path: string): Duration {
  let seconds: number | undefined;
  if (typeof value === "number" && Number.isFinite(value)) seconds = value;
  else if (typeof value === "string") seconds = durationSeconds(value);
  if (seconds === undefined || Math.abs(seconds) > 315_576_000_000) {
    throw new LiteralError(path, `expected a duration in seconds, "90s", "1h30m" or "PT1H30M", got ${JSON.stringify(value) ?? describe(value)}`);
  }
  const whole = Math.trunc(seconds);
  return create(DurationSchema, { seconds: BigInt(whole), nanos: Math.round((seconds - whole) * 1e9) });
}

export function durationSeconds(text: string): number | undefined {
  const iso = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(text);
  if (iso && text.length > 1 && !/T$/i.test(text)) {
    const [, d, h, m, s] = iso;
    return Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
  }
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length > 0 && parts.map((p) => p[0]).join("") === text) {
    return parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_SECONDS[unit!]!, 0);
  }
  return undefined;
}

/** Converts a Literal to JSON. Types are read from the literal itself; `type` only breaks ties. */
export function fromLiteral(literal: Literal | undefined): unknown {
  const v = literal?.value;
  switch (v?.case) {
    case "collection":
      return v.value.literals.map((item) => fromLiteral(item));
    case "map":
      return Object.fromEntries(Object.entries(v.value.literals).map(([k, item]) => [k, fromLiteral(item)]));
    case "scalar": {
      const s = v.value.value;
      switch (s.case) {
        case "primitive": {
          const p = s.value.value;
          switch (p.case) {
            case "integer":
              return p.value >= BigInt(Number.MIN_SAFE_INTEGER) && p.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.value) : p.value.toString();
            case "datetime":
              return timestampDate(p.value).toISOString();
            case "duration":
              return Number(p.value.seconds) + p.value.nanos / 1e9;
            default:
              return p.value ?? null;
          }
        }
        case "binary":
          return binaryToJson(s.value.value, s.value.tag);
        case "generic":
          return s.value;
        case "union":
          return fromLiteral(s.value.value);
        case "noneType":
          return null;
        case "blob":
          return { uri: s.value.uri };
        case "structuredDataset":
          return { uri: s.value.uri };
        case "error":
          return { error: s.value.message };
        default:
          return null;
      }
    }
    case "offloadedMetadata":
      return { uri: v.value.uri };
    default:
      return null;
  }
}

/** msgpack objects as JSON; bytes that do not decode (or are not msgpack) as base64 text. */
function binaryToJson(bytes: Uint8Array, tag: string): unknown {
  if (tag === "msgpack") {
    try {
      return toPlainJson(msgpackDecode(bytes));
    } catch {
      // e.g. a "__proto__" key, which the decoder refuses: fall through to the raw form
    }
  }
  return Buffer.from(bytes).toString("base64");
}

/** msgpack can hold what JSON cannot (bigint, bytes, maps with other keys): flatten to JSON. */
function toPlainJson(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toPlainJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toPlainJson(v)]));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlainJson(v)]));
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
