import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // flyteidl2 ships .ts sources: let vite transform them instead of handing them to Node.
    server: { deps: { inline: ["@flyteorg/flyteidl2"] } },
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
