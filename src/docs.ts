// API documentation served by the gateway itself: the OpenAPI 3.1 document at
// /openapi.json (built by @fastify/swagger from the routes' TypeBox schemas), Swagger UI at
// /docs and ReDoc at /redoc. Every asset comes from this process, so the pages work on a
// machine with no way out. Only routes that are registered appear, so disabled endpoints
// and groups are absent from the document.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { type EndpointGroup, GROUP_DESCRIPTIONS } from "./endpoints.ts";
import type { App } from "./gateway.ts";

export interface DocsInfo {
  title: string;
  description: string;
  version: string;
}

/**
 * ReDoc's standalone bundle: copied beside the built files by scripts/build.mjs (so the
 * runtime image needs no `redoc` package), or read from the dev dependency when running
 * from source.
 */
function redocBundlePath(): string {
  const beside = fileURLToPath(new URL("./redoc.standalone.js", import.meta.url));
  return existsSync(beside) ? beside : createRequire(import.meta.url).resolve("redoc/bundles/redoc.standalone.js");
}

/**
 * The one resource the bundle loads from outside: the sidebar's "API docs by Redocly"
 * logo, with no option to turn it off. It becomes an empty data URL; the bundle hides an
 * image that does not load.
 */
const REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** No inline script or style: the page runs under the same Content-Security-Policy as the rest. */
function redocPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="redoc/redoc.standalone.js"></script>
</body>
</html>
`;
}

/**
 * The OpenAPI collector, on the root scope so that it sees every route, the liveness
 * check included.
 */
export function registerOpenApi(app: App, info: DocsInfo): void {
  // Tags of the groups that actually have a route, collected as routes are added, so a
  // group whose endpoints are enabled but not (yet) served is not documented.
  const tags: Array<{ name: string; description: string }> = [];
  app.addHook("onRoute", (routeOptions) => {
    const group = (routeOptions.schema?.tags as EndpointGroup[] | undefined)?.[0];
    if (group && GROUP_DESCRIPTIONS[group] && !tags.some((t) => t.name === group)) {
      tags.push({ name: group, description: GROUP_DESCRIPTIONS[group] });
    }
  });
  app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info,
      components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "Flyte API key" } } },
      tags,
    },
    refResolver: { buildLocalReference: (json) => String(json.$id) },
  });
}

/** /openapi.json, /docs and /redoc. */
export function registerDocPages(app: App, title: string): void {
  app.register(fastifySwaggerUi, {
    routePrefix: "/docs",
    // No validatorUrl: left unset, the plugin passes null and Swagger UI sends the document
    // to no outside validator.
    uiConfig: { persistAuthorization: true, deepLinking: true },
  });
  app.register(async (docs) => {
    docs.get("/openapi.json", { schema: { hide: true } }, async () => docs.swagger());

    const page = redocPage(title);
    docs.get("/redoc", { schema: { hide: true } }, async (_request, reply) => reply.type("text/html; charset=utf-8").send(page));
    let bundle: Buffer | undefined;
    docs.get("/redoc/redoc.standalone.js", { schema: { hide: true } }, async (_request, reply) => {
      bundle ??= Buffer.from(readFileSync(redocBundlePath(), "utf8").replace(REDOCLY_LOGO, "data:,"));
      return reply.type("application/javascript; charset=utf-8").header("cache-control", "public, max-age=86400").send(bundle);
    });
  });
}
