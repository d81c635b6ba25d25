// What every answer of the gateway must be, as checks that return problems instead of
// throwing, so property tests can name the failing case and suites can collect
// everything they saw and scan it once for secrets.

/** Every secret-like value the suites send starts with this, so one scan finds them all. */
export const SECRET_MARK = "fwsecret";

/** A fresh secret-like value: a token, a cookie value, a plane secret. */
export const secretValue = (label = "") => `${SECRET_MARK}${label}${Math.random().toString(36).slice(2, 12)}`;

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  text: string;
}

/** Traces of internals that must never reach a caller. */
const LEAKS: Array<[string, RegExp]> = [
  ["stack frame", /\n\s+at |\bat [^ ]+ \(/],
  ["file path", /\/work\/|node_modules|node:internal|\.ts:\d+/],
  ["socket error", /ECONNREFUSED|ECONNRESET|EPIPE|ERR_HTTP2/],
  ["raw Connect code", /\[(internal|unknown|unavailable|deadline_exceeded|invalid_argument|not_found)\]/],
];

/** Problems of one answer: a 5xx, an error not in the one shape, leaked internals. */
export function answerProblems(answer: Answer, { allow5xx = false, head = false } = {}): string[] {
  const problems: string[] = [];
  const { status, text } = answer;
  if (status >= 500 && !allow5xx) problems.push(`status ${status}`);
  for (const [what, pattern] of LEAKS) if (pattern.test(text)) problems.push(`${what} in body`);
  // An answer to HEAD has no body by definition.
  if (status < 400 || head) return problems;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...problems, `error body is not JSON: ${text.slice(0, 80)}`];
  }
  const keys = body && typeof body === "object" ? Object.keys(body).sort().join(",") : typeof body;
  if (keys !== "code,detail,request_id") return [...problems, `error body keys ${keys}`];
  const { code, detail, request_id } = body as Record<string, unknown>;
  if (typeof detail !== "string" || !detail) problems.push("detail is not a non-empty string");
  if (typeof code !== "string" || !/^[a-z][a-z0-9_]*$/.test(code)) problems.push(`code ${String(code)} is not snake_case`);
  if (typeof request_id !== "string" || request_id !== answer.headers["x-request-id"]) problems.push("request_id differs from X-Request-Id");
  if (!String(answer.headers["content-type"] ?? "").startsWith("application/json")) problems.push("error is not application/json");
  return problems;
}

/** Where any of `secrets` (or anything carrying SECRET_MARK) shows up in `texts`. */
export function secretsFound(texts: Iterable<string>, secrets: readonly string[] = []): string[] {
  const found: string[] = [];
  for (const text of texts) {
    for (const secret of [SECRET_MARK, ...secrets]) {
      const at = text.indexOf(secret);
      if (at >= 0) found.push(`${secret}: …${text.slice(Math.max(0, at - 60), at + 60)}…`);
    }
  }
  return found;
}
