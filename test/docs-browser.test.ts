// /docs and /redoc in a real headless Chromium (Debian's `chromium`, installed by
// scripts/install-system-packages.sh): the pages render every operation, print no console
// error (a Content-Security-Policy violation would be one), send no request off this
// gateway, and Swagger UI's "Authorize" makes "Try it out" send the bearer token.
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack, TOKEN } from "./stack.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available) console.warn(`docs-browser: skipped, no Chromium at ${CHROMIUM} (scripts/install-system-packages.sh installs it)`);

let stack: Stack;
let browser: Browser;
beforeAll(async () => {
  if (!available) return;
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** A page that records console errors, page errors and every request it makes. */
async function open(path: string) {
  const page = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("request", (req) => requests.push(req.url()));
  await page.goto(`${stack.base}${path}`, { waitUntil: "networkidle" });
  return { page, errors, requests };
}

function offGateway(requests: string[]) {
  return requests.filter((url) => !url.startsWith(`${stack.base}/`) && !url.startsWith("data:") && !url.startsWith("blob:"));
}

async function operationCount(): Promise<number> {
  const doc = (await stack.call("/openapi.json", { token: null })).body;
  return Object.values(doc.paths as Record<string, object>).reduce((n, methods) => n + Object.keys(methods).length, 0);
}

describe.skipIf(!available)("documentation pages in headless Chromium", () => {
  it("/docs renders every operation, with no console error and no outside request", async () => {
    const { page, errors, requests } = await open("/docs");
    await page.waitForSelector(".opblock");
    expect(await page.locator(".opblock").count()).toBe(await operationCount());
    expect(await page.locator(".opblock-summary-path").allInnerTexts()).toContain("/run-task/{domain}/{project}/{name}");
    expect(errors).toEqual([]);
    expect(offGateway(requests)).toEqual([]);
    await page.close();
  });

  it("/docs Authorize sends the bearer token with Try it out", async () => {
    const { page, errors } = await open("/docs");
    await page.click("button.authorize");
    await page.fill(".auth-container input", TOKEN);
    await page.click(".auth-btn-wrapper button.authorize");
    await page.click(".btn-done");
    const me = page.locator("#operations-core-me");
    await me.locator(".opblock-summary").click();
    await me.locator("button.try-out__btn").click();
    await me.locator("button.execute").click();
    const body = me.locator(".responses-wrapper .live-responses-table .response-col_description pre");
    await body.first().waitFor();
    expect(await body.first().innerText()).toContain('"subject": "tester"');
    expect(errors).toEqual([]);
    await page.close();
  });

  it("/redoc renders every operation, with no console error and no outside request", async () => {
    const { page, errors, requests } = await open("/redoc");
    await page.waitForSelector("[data-section-id^='operation/']");
    expect(await page.locator("[data-section-id^='operation/']").count()).toBe(await operationCount());
    expect(await page.locator("h2").allInnerTexts()).toContain("Run a task");
    expect(errors).toEqual([]);
    expect(offGateway(requests)).toEqual([]);
    await page.close();
  });
});
