// npm run openapi: writes openapi/openapi.json, the document the gateway serves at
// /openapi.json with its default settings and every endpoint enabled. Run it after adding
// or changing a route; test/docs.test.ts fails while the committed file differs.
import { mkdirSync, writeFileSync } from "node:fs";
import { createFlyteWebhookApp } from "../dist/index.js";

// The control plane is never contacted: building the document needs no connection.
const app = createFlyteWebhookApp({ logger: false, controlPlane: { endpoint: "http://127.0.0.1:8089" } });
await app.ready();
const out = new URL("../openapi/openapi.json", import.meta.url);
mkdirSync(new URL(".", out), { recursive: true });
writeFileSync(out, `${JSON.stringify(app.swagger(), null, 2)}\n`);
await app.close();
process.stdout.write(`wrote ${out.pathname}\n`);
