// The operations a gateway serves, read from the OpenAPI document it serves, so suites
// that go over "every endpoint" pick up new routes without a change.
import type { App } from "../src/gateway.ts";

export interface Operation {
  operationId: string;
  method: string;
  /** OpenAPI path, `{param}` style. */
  path: string;
  pathParams: string[];
  query: string[];
  hasBody: boolean;
}

/** The operations of a served OpenAPI document. */
export function operations(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<any>(item)) {
      const params: any[] = op.parameters ?? [];
      ops.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        query: params.filter((p) => p.in === "query").map((p) => p.name),
        hasBody: op.requestBody !== undefined,
      });
    }
  }
  return ops;
}

export async function servedOperations(app: App): Promise<Operation[]> {
  return operations((await app.inject({ method: "GET", url: "/openapi.json" })).json());
}

/** The operation's path with each `{param}` replaced by `values[param]` (encoded), else `x`. */
export function fillPath(op: Operation, values: Record<string, string>): string {
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? "x"));
}
