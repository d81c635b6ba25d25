// Templating of webhook configurations (url, headers, data): `{inputs.path}` and
// `{secrets.NAME}` placeholders, as flytekit's format_dict does, with its gaps closed:
// a value that is exactly one placeholder keeps its type; embedded placeholders become
// text; dotted paths reach into objects and lists; anything else in braces is left alone;
// a missing input, key or secret fails with its name and never with a value.

export class TemplateError extends Error {
  override name = "TemplateError";
}

export interface TemplateScope {
  /** Root objects a placeholder may name: `inputs`, and for inbound hooks `payload`, `headers`. */
  roots: Readonly<Record<string, unknown>>;
  /**
   * Resolves `{secrets.NAME}`. In display mode the caller answers `***`, so what is shown
   * (outputs, URLs in messages) never holds a secret value.
   */
  secret?: (name: string) => string | undefined;
}

/** A placeholder: a root name, then dot-separated keys or list indexes. */
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)+)\}/g;

/** The names of the secrets a template refers to, in order of first use. */
export function secretNames(template: unknown): string[] {
  const names = new Set<string>();
  walkStrings(template, (text) => {
    for (const match of text.matchAll(PLACEHOLDER)) if (match[1] === "secrets") names.add(match[2]!.slice(1));
  });
  return [...names];
}

/** Every `{inputs.…}` placeholder's first key: the inputs a template needs. */
export function referencedRoots(template: unknown, root: string): string[] {
  const names = new Set<string>();
  walkStrings(template, (text) => {
    for (const match of text.matchAll(PLACEHOLDER)) if (match[1] === root) names.add(match[2]!.slice(1).split(".")[0]!);
  });
  return [...names];
}

function walkStrings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === "string") visit(value);
  else if (Array.isArray(value)) for (const item of value) walkStrings(item, visit);
  else if (value !== null && typeof value === "object") for (const item of Object.values(value)) walkStrings(item, visit);
}

function lookup(scope: TemplateScope, root: string, keys: string[], placeholder: string): { found: boolean; value?: unknown } {
  if (root === "secrets") {
    const name = keys.join(".");
    const value = scope.secret?.(name);
    if (value === undefined) throw new TemplateError(`secret "${name}" is not available`);
    return { found: true, value };
  }
  if (!Object.hasOwn(scope.roots, root)) return { found: false };
  let current: unknown = scope.roots[root];
  let path = root;
  for (const key of keys) {
    const container = current;
    const has =
      (Array.isArray(container) && /^\d+$/.test(key) && Number(key) < container.length) ||
      (container !== null && typeof container === "object" && !Array.isArray(container) && Object.hasOwn(container, key));
    if (!has) {
      throw new TemplateError(
        path === root ? `${placeholder}: ${root === "inputs" ? "input" : "key"} "${key}" is missing` : `${placeholder}: "${path}" has no key "${key}"`,
      );
    }
    current = (container as Record<string, unknown>)[key];
    path = `${path}.${key}`;
  }
  return { found: true, value: current };
}

/** The text form of a value placed inside a longer string. */
export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export interface RenderStringOptions {
  /** Transforms each substituted text (e.g. percent-encoding in a URL path); gets the match offset. */
  encode?: (text: string, offset: number) => string;
}

/** Renders one string: a lone placeholder keeps its value's type; embedded ones become text. */
export function renderString(text: string, scope: TemplateScope, options: RenderStringOptions = {}): unknown {
  const whole = /^\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)+)\}$/.exec(text);
  if (whole && !options.encode) {
    const { found, value } = lookup(scope, whole[1]!, whole[2]!.slice(1).split("."), text);
    if (found) return value;
  }
  return text.replace(PLACEHOLDER, (match, root: string, keys: string, offset: number) => {
    const { found, value } = lookup(scope, root, keys.slice(1).split("."), match);
    if (!found) return match; // not one of ours: `{foo.bar}` stays as written
    const rendered = textOf(value);
    return options.encode ? options.encode(rendered, offset) : rendered;
  });
}

/** Renders every string in a JSON value, recursively; keys are left as written. */
export function render(template: unknown, scope: TemplateScope): unknown {
  if (typeof template === "string") return renderString(template, scope);
  if (Array.isArray(template)) return template.map((item) => render(item, scope));
  if (template !== null && typeof template === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) {
      // defineProperty keeps a "__proto__" key as data instead of changing the prototype.
      Object.defineProperty(out, key, { value: render(value, scope), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return template;
}

/**
 * Renders a URL template. Substitutions after the origin (in the path, query or fragment)
 * are percent-encoded so an input cannot add path segments or query parameters; a
 * substitution in the scheme or host part (`{inputs.base_url}/x`) is inserted as is.
 */
export function renderUrl(template: string, scope: TemplateScope): string {
  // Where the origin ends: the first "/", "?" or "#" after "://", or after a leading
  // placeholder that supplies the whole origin (`{inputs.base_url}/items/{inputs.id}`).
  const scheme = template.indexOf("://");
  const from = scheme >= 0 ? scheme + 3 : template.startsWith("{") ? template.indexOf("}") + 1 : -1;
  const end = from > 0 ? template.slice(from).search(/[/?#]/) : -1;
  const originEnd = end < 0 ? Infinity : from + end;
  return renderString(template, scope, {
    encode: (text, offset) => (offset >= originEnd ? encodeURIComponent(text) : text),
  }) as string;
}
