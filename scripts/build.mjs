// Bundles the gateway into dist/. @flyteorg/flyteidl2 ships TypeScript sources that Node
// will not strip inside node_modules, so it is bundled; every other dependency stays
// external and is loaded from node_modules at run time.
import { build } from "esbuild";
import { copyFileSync, readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const external = Object.keys(pkg.dependencies).filter((name) => name !== "@flyteorg/flyteidl2");

await build({
  entryPoints: { cli: "src/cli.ts", index: "src/index.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node24",
  sourcemap: true,
  external: [...external, ...external.map((name) => `${name}/*`)],
  banner: { js: "" },
  logLevel: "warning",
});

// ReDoc's standalone bundle is served by the app at /redoc/redoc.standalone.js; copying it
// here keeps the `redoc` package (and its React peers) out of the runtime dependencies.
const redoc = new URL("../node_modules/redoc/bundles/", import.meta.url);
for (const file of ["redoc.standalone.js", "redoc.standalone.js.LICENSE.txt"]) {
  copyFileSync(new URL(file, redoc), new URL(`../dist/${file}`, import.meta.url));
}
