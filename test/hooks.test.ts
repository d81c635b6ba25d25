// Signed inbound webhooks, black-box over HTTP against the real gateway and the real
// embedded control plane: deliveries shaped like GitHub's, a Standard Webhooks sender's
// (signed with the standardwebhooks reference library) and Slack's, each valid, tampered,
// signed with the wrong secret, missing headers, stale and replayed; filters, templates,
// callbacks, and the load-time checks of the hooks file.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFlyteWebhookApp } from "../src/app.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { secretsFrom } from "../src/connectors/secrets.ts";
import { RunService } from "../src/controlplane/idl.ts";
import type { HookDefinitions } from "../src/hooks/definitions.ts";
import { verifyGithub, verifySlack, verifyStandardWebhooks } from "../src/hooks/verifiers.ts";
import { answerProblems, secretsFound, secretValue } from "./answers.ts";
import { type Stack, startStack, TEST_CATALOG, TOKEN } from "./stack.ts";

const GITHUB_SECRET = secretValue("gh");
const SLACK_SECRET = secretValue("slack");
const STANDARD_SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const METRICS_TOKEN = "metrics-token-hooks";

const pr = (name: string) => ({ name, type: "echo", inputs: { pr: "int", repo: "str", event: "str", ref: "str" }, outputs: {} });
const CATALOG = {
  tasks: [
    ...TEST_CATALOG.tasks,
    pr("gh-pr"),
    pr("gh-callback"),
    { name: "invoice", type: "echo", inputs: { invoice: "str", amount: "int" }, outputs: {} },
    { name: "slack-event", type: "echo", inputs: { kind: "str", channel: "str", text: "str" }, outputs: {} },
    { name: "slack-command", type: "echo", inputs: { command: "str", text: "str", user: "str" }, outputs: {} },
    { name: "secret-task", type: "echo", inputs: {}, outputs: {} },
  ],
};

const task = (name: string) => ({ domain: "development", project: "flytesnacks", name });
const PR_INPUTS = { pr: "{payload.pull_request.number}", repo: "{payload.repository.full_name}", event: "{headers.x-github-event}", ref: "{payload.pull_request.head.ref}" };

const HOOKS: HookDefinitions = {
  "github-pr": {
    verifier: "github",
    secret: "github-secret",
    credential: "flyte-token",
    filters: { headers: { "X-GitHub-Event": "pull_request" }, payload: { action: ["opened", "synchronize"] } },
    task: task("gh-pr"),
    inputs: PR_INPUTS,
  },
  "github-callback": {
    verifier: "github",
    secret: "github-secret",
    credential: "flyte-token",
    task: { ...task("gh-callback"), version: "v1" },
    inputs: PR_INPUTS,
    callback_url: "http://127.0.0.1:9/flyte/done",
  },
  billing: {
    verifier: "standard-webhooks",
    secret: "billing-secret",
    credential: "flyte-token",
    filters: { payload: { type: "invoice.paid" } },
    task: task("invoice"),
    inputs: { invoice: "{payload.data.id}", amount: "{payload.data.amount_paid}" },
  },
  "slack-events": {
    verifier: "slack",
    secret: "slack-secret",
    credential: "flyte-token",
    filters: { payload: { type: "event_callback", "event.type": "app_mention" } },
    task: task("slack-event"),
    inputs: { kind: "{payload.event.type}", channel: "{payload.event.channel}", text: "{payload.event.text}" },
  },
  "slack-command": {
    verifier: "slack",
    secret: "slack-secret",
    credential: "flyte-token",
    task: task("slack-command"),
    inputs: { command: "{payload.command}", text: "{payload.text}", user: "{payload.user_name}" },
  },
  rotating: {
    verifier: "github",
    secret: "rotating-secret",
    credential: "flyte-token",
    task: task("secret-task"),
  },
};

let stack: Stack;
let secretsDir: string;
beforeAll(async () => {
  // Secrets as an operator gives them: variables, and files in a mounted directory.
  secretsDir = mkdtempSync(join(tmpdir(), "flyte-webhook-hook-secrets-"));
  writeFileSync(join(secretsDir, "slack-secret"), `${SLACK_SECRET}\n`);
  writeFileSync(join(secretsDir, "rotating-secret"), GITHUB_SECRET);
  const env = { FLYTE_SECRET_GITHUB_SECRET: GITHUB_SECRET, FLYTE_SECRET_BILLING_SECRET: STANDARD_SECRET, FLYTE_SECRET_FLYTE_TOKEN: TOKEN };
  stack = await startStack({
    catalog: CATALOG,
    gateway: { hooks: HOOKS, secrets: secretsFrom({ env, dir: secretsDir }), metrics: { token: METRICS_TOKEN } },
  });
});
afterAll(async () => {
  await stack.close();
  rmSync(secretsDir, { recursive: true, force: true });
});

const nowS = () => Math.floor(Date.now() / 1000);
const hmacHex = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest("hex");

/** Posts a delivery as a sender does: no bearer token, its own headers, the exact bytes. */
async function deliver(hook: string, body: string, headers: Record<string, string>) {
  const res = await stack.fetch(`/hooks/${hook}`, { method: "POST", token: null, headers, body });
  const text = await res.text();
  const answer = { status: res.status, text, headers: Object.fromEntries(res.headers) };
  expect(answerProblems(answer)).toEqual([]);
  return { ...answer, body: text ? JSON.parse(text) : undefined };
}

const transport = () => createConnectTransport({ baseUrl: stack.plane.url, httpVersion: "2" });
const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

/** Names of the runs of a task, from the plane's own ListRuns. */
async function runsOf(taskName: string): Promise<string[]> {
  const runs = createClient(RunService, transport());
  const { runs: listed } = await runs.listRuns(
    { scopeBy: { case: "projectId", value: { organization: "", domain: "development", name: "flytesnacks" } }, request: { limit: 1000 } },
    auth,
  );
  return listed
    .filter((run) => {
      const spec = run.action?.metadata?.spec;
      return spec?.case === "task" && spec.value.id?.name === taskName;
    })
    .map((run) => run.action!.id!.run!.name);
}

/** Calls the gateway made to the control plane so far, from its own metrics. */
async function planeCalls(): Promise<number> {
  const { body } = await stack.call("/metrics", { token: METRICS_TOKEN });
  return [...String(body).matchAll(/^flyte_webhook_control_plane_call_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function inputsOf(name: string) {
  const status = await stack.call(`/run/${name}`);
  expect(status.status).toBe(200);
  const io = await stack.call(`/run/${name}/io`);
  expect(io.status).toBe(200);
  return io.body.inputs;
}

// ---------------------------------------------------------------- GitHub

/** A pull_request delivery as GitHub sends it (trimmed to the fields that matter here). */
function pullRequestEvent(action = "opened", number = 42) {
  return JSON.stringify({
    action,
    number,
    pull_request: {
      url: `https://api.github.com/repos/octocat/Hello-World/pulls/${number}`,
      id: 1_783_283_498,
      number,
      state: "open",
      title: "Amazing new feature",
      user: { login: "octocat", id: 1 },
      head: { label: "octocat:new-topic", ref: "new-topic", sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e" },
      base: { label: "octocat:main", ref: "main", sha: "c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc" },
    },
    repository: { id: 1_296_269, name: "Hello-World", full_name: "octocat/Hello-World", private: false },
    sender: { login: "octocat", id: 1 },
  });
}

function githubHeaders(body: string, { secret = GITHUB_SECRET, event = "pull_request", contentType = "application/json" } = {}) {
  return {
    "content-type": contentType,
    "user-agent": "GitHub-Hookshot/044aadd",
    "x-github-event": event,
    "x-github-delivery": randomUUID(),
    "x-github-hook-id": "292430182",
    "x-github-hook-installation-target-id": "79929171",
    "x-github-hook-installation-target-type": "repository",
    "x-hub-signature": `sha1=${createHmac("sha1", secret).update(body).digest("hex")}`,
    "x-hub-signature-256": `sha256=${hmacHex(secret, body)}`,
  };
}

describe("GitHub deliveries (X-Hub-Signature-256)", () => {
  it("GitHub's published example verifies", () => {
    const headers = { "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" };
    expect(verifyGithub("It's a Secret to Everybody", headers, Buffer.from("Hello, World!"))).toEqual({ ok: true });
    expect(verifyGithub("It's a Secret to Everybody", headers, Buffer.from("Hello, World?")).ok).toBe(false);
  });

  it("a signed pull_request delivery starts a run with inputs from the payload and headers", async () => {
    const body = pullRequestEvent("opened", 42);
    const res = await deliver("github-pr", body, githubHeaders(body));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ name: expect.stringMatching(/^h[0-9a-z]{19}$/), url: expect.stringContaining(`/runs/${res.body.name}`) });
    expect(res.headers["idempotent-replayed"]).toBeUndefined();
    expect(await inputsOf(res.body.name)).toEqual({ pr: 42, repo: "octocat/Hello-World", event: "pull_request", ref: "new-topic" });
    expect(await runsOf("gh-pr")).toEqual([res.body.name]);
  });

  it("a replayed delivery, even under a new X-GitHub-Delivery, answers the same run and runs nothing new", async () => {
    const body = pullRequestEvent("synchronize", 43);
    const first = await deliver("github-pr", body, githubHeaders(body));
    expect(first.status).toBe(202);
    const before = await runsOf("gh-pr");
    const again = await deliver("github-pr", body, githubHeaders(body));
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(await runsOf("gh-pr")).toEqual(before);
    expect(before.filter((name) => name === first.body.name)).toHaveLength(1);
  });

  it("a tampered body, a wrong secret, a missing or malformed signature: 401, no control-plane call, no run", async () => {
    const body = pullRequestEvent("opened", 44);
    const good = githubHeaders(body);
    const runsBefore = await runsOf("gh-pr");
    const callsBefore = await planeCalls();
    const { "x-hub-signature-256": _, ...unsigned } = good;
    const attempts: Array<[string, Record<string, string>]> = [
      [body.replace('"number":44', '"number":45'), good],
      [`${body} `, good],
      [body, githubHeaders(body, { secret: "not-the-secret" })],
      [body, unsigned],
      [body, { ...good, "x-hub-signature-256": good["x-hub-signature"] }],
      [body, { ...good, "x-hub-signature-256": `sha256=${"0".repeat(64)}` }],
      [body, { ...good, "x-hub-signature-256": good["x-hub-signature-256"].slice(0, -2) }],
    ];
    for (const [sent, headers] of attempts) {
      const res = await deliver("github-pr", sent, headers);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("invalid_signature");
      expect(res.body.detail).not.toContain(good["x-hub-signature-256"].slice(7, 20));
    }
    expect(await planeCalls()).toBe(callsBefore);
    expect(await runsOf("gh-pr")).toEqual(runsBefore);
  });

  it("deliveries the filters leave out answer 204 with no body", async () => {
    const issue = JSON.stringify({ action: "opened", issue: { number: 1 } });
    const callsBefore = await planeCalls();
    const other = await deliver("github-pr", issue, githubHeaders(issue, { event: "issues" }));
    expect(other.status).toBe(204);
    expect(other.text).toBe("");
    const closed = pullRequestEvent("closed", 46);
    expect((await deliver("github-pr", closed, githubHeaders(closed))).status).toBe(204);
    expect(await planeCalls()).toBe(callsBefore);
  });

  it("a payload the inputs template cannot fill: 422 naming the missing path, never a value", async () => {
    const body = JSON.stringify({ action: "opened", pull_request: { number: 47, title: "secret-looking-title" }, repository: { full_name: "octocat/Hello-World" } });
    const res = await deliver("github-pr", body, githubHeaders(body));
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("payload_mismatch");
    expect(res.body.detail).toContain('"payload.pull_request" has no key "head"');
    expect(res.body.detail).not.toContain("secret-looking-title");
    expect(res.body.detail).not.toContain("47");
  });

  it("inputs that do not fit the task: 422 from the task's interface", async () => {
    const body = pullRequestEvent("opened", 48).replace('"number":48,"state"', '"number":"forty-eight","state"');
    const res = await deliver("github-pr", body, githubHeaders(body));
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("invalid_inputs");
  });

  it("a form delivery (payload=<json>) is read as its JSON", async () => {
    const json = pullRequestEvent("opened", 49);
    const body = new URLSearchParams({ payload: json }).toString();
    const res = await deliver("github-pr", body, githubHeaders(body, { contentType: "application/x-www-form-urlencoded" }));
    expect(res.status).toBe(202);
    expect(await inputsOf(res.body.name)).toEqual({ pr: 49, repo: "octocat/Hello-World", event: "pull_request", ref: "new-topic" });
  });

  it("malformed JSON after a valid signature: 400; prototype keys too", async () => {
    for (const body of ['{"action": "opened", ', '{"__proto__": {"polluted": true}, "action": "opened"}']) {
      const res = await deliver("github-pr", body, githubHeaders(body));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("invalid_json");
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a body that is neither JSON nor a form, after a valid signature: 415", async () => {
    const body = "<xml/>";
    const res = await deliver("github-pr", body, githubHeaders(body, { contentType: "application/xml" }));
    expect(res.status).toBe(415);
  });

  it("a body over the app's body limit: 413, before anything is verified", async () => {
    const body = JSON.stringify({ action: "opened", padding: "x".repeat(1024 * 1024) });
    const res = await deliver("github-pr", body, githubHeaders(body));
    expect(res.status).toBe(413);
  });

  it("an unknown hook: 404, whatever is signed", async () => {
    const body = pullRequestEvent();
    const res = await deliver("no-such-hook", body, githubHeaders(body));
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("hook_not_found");
  });

  it("a hook's callback_url becomes a completion rule in the run's spec", async () => {
    const body = pullRequestEvent("opened", 50);
    const res = await deliver("github-callback", body, githubHeaders(body));
    expect(res.status).toBe(202);
    const runs = createClient(RunService, transport());
    const { details } = await runs.getRunDetails({ runId: { org: "", project: "flytesnacks", domain: "development", name: res.body.name } }, auth);
    const settings = details?.runSpec?.notificationSettings;
    expect(settings?.case).toBe("notificationRules");
    const rule = settings?.case === "notificationRules" ? settings.value.rules[0] : undefined;
    expect(rule?.delivery.case).toBe("deliveryTemplate");
    const webhook = rule?.delivery.case === "deliveryTemplate" ? rule.delivery.value.webhook : undefined;
    expect(webhook?.url).toBe("http://127.0.0.1:9/flyte/done");
    expect(webhook?.bodyTemplate).toContain("{{.Run.Name}}");
  });

  it("a secret removed after start: 503 naming nothing secret, and it works again once restored", async () => {
    const body = JSON.stringify({ zen: "Keep it logically awesome." });
    unlinkSync(join(secretsDir, "rotating-secret"));
    const gone = await stack.fetch("/hooks/rotating", { method: "POST", token: null, headers: githubHeaders(body, { event: "ping" }), body });
    expect(gone.status).toBe(503);
    const answer = (await gone.json()) as { code: string; detail: string };
    expect(answer.code).toBe("hook_unavailable");
    expect(answer.detail).not.toContain("rotating-secret");
    // The operator learns which secret, by name, from the log.
    expect(stack.logs.join("")).toContain('"secret_name":"rotating-secret"');
    writeFileSync(join(secretsDir, "rotating-secret"), GITHUB_SECRET);
    const back = await deliver("rotating", body, githubHeaders(body, { event: "ping" }));
    expect(back.status).toBe(202);
  });
});

// ---------------------------------------------------------------- Standard Webhooks

const standard = new Webhook(STANDARD_SECRET);

function invoiceEvent(type = "invoice.paid", id = `in_${randomBytes(6).toString("hex")}`) {
  return JSON.stringify({ type, timestamp: new Date().toISOString(), data: { id, object: "invoice", amount_paid: 2000, currency: "usd", customer: "cus_NffrFeUfNV2Hib" } });
}

/** Headers as a Standard Webhooks sender sets them, signed by the reference library. */
function standardHeaders(body: string, { id = `msg_${randomBytes(8).toString("hex")}`, at = nowS(), signer = standard } = {}) {
  return {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(at),
    "webhook-signature": signer.sign(id, new Date(at * 1000), body),
  };
}

describe("Standard Webhooks deliveries (webhook-id, webhook-timestamp, webhook-signature)", () => {
  it("the published Svix example verifies at its own time, and not five minutes and a second later", () => {
    const headers = {
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    const body = Buffer.from('{"test": 2432232314}');
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    expect(verifyStandardWebhooks(secret, headers, body, 1614265330).ok).toBe(true);
    expect(verifyStandardWebhooks(secret, headers, body, 1614265330 + 300).ok).toBe(true);
    expect(verifyStandardWebhooks(secret, headers, body, 1614265330 + 301).ok).toBe(false);
    expect(verifyStandardWebhooks(secret, headers, body, 1614265330 - 301).ok).toBe(false);
  });

  it("a signed event starts a run", async () => {
    const body = invoiceEvent("invoice.paid", "in_1NvwhW2eZvKYlo2C");
    const res = await deliver("billing", body, standardHeaders(body));
    expect(res.status).toBe(202);
    expect(await inputsOf(res.body.name)).toEqual({ invoice: "in_1NvwhW2eZvKYlo2C", amount: 2000 });
  });

  it("a replay of one webhook-id answers the same run and runs nothing new; another body under that id is a 409", async () => {
    const body = invoiceEvent();
    const headers = standardHeaders(body);
    const first = await deliver("billing", body, headers);
    expect(first.status).toBe(202);
    const before = await runsOf("invoice");
    // The sender's retry: same id, a fresh timestamp and signature.
    const retry = await deliver("billing", body, standardHeaders(body, { id: headers["webhook-id"] }));
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    // An attacker's replay of the captured request, within the tolerance.
    const replay = await deliver("billing", body, headers);
    expect(replay.body).toEqual(first.body);
    expect(await runsOf("invoice")).toEqual(before);
    const other = invoiceEvent();
    const conflict = await deliver("billing", other, standardHeaders(other, { id: headers["webhook-id"] }));
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe("idempotency_conflict");
    expect(await runsOf("invoice")).toEqual(before);
  });

  it("a stale or future timestamp, a tampered body, a wrong secret, missing headers: 401 and no run", async () => {
    const body = invoiceEvent();
    const good = standardHeaders(body);
    const stranger = new Webhook(`whsec_${randomBytes(32).toString("base64")}`);
    const { "webhook-signature": _, ...unsigned } = good;
    const before = await runsOf("invoice");
    const callsBefore = await planeCalls();
    const attempts: Array<[string, Record<string, string>]> = [
      [body, standardHeaders(body, { at: nowS() - 301 })],
      [body, standardHeaders(body, { at: nowS() + 301 })],
      [body, { ...good, "webhook-timestamp": String(nowS() - 1) }],
      [body.replace("2000", "2"), good],
      [body, standardHeaders(body, { signer: stranger })],
      [body, unsigned],
      [body, { ...good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,") }],
      [body, { ...good, "webhook-timestamp": "yesterday" }],
    ];
    for (const [sent, headers] of attempts) {
      const res = await deliver("billing", sent, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.body.code).toBe("invalid_signature");
    }
    const stale = await deliver("billing", body, standardHeaders(body, { at: nowS() - 600 }));
    expect(stale.body.detail).toContain("5 minutes");
    expect(await planeCalls()).toBe(callsBefore);
    expect(await runsOf("invoice")).toEqual(before);
  });

  it("any one of several signatures may match (secret rotation); Svix's header names work too", async () => {
    const body = invoiceEvent();
    const headers = standardHeaders(body);
    const old = new Webhook(`whsec_${randomBytes(32).toString("base64")}`).sign(headers["webhook-id"], new Date(Number(headers["webhook-timestamp"]) * 1000), body);
    const rotated = await deliver("billing", body, { ...headers, "webhook-signature": `${old} ${headers["webhook-signature"]}` });
    expect(rotated.status).toBe(202);
    const svixBody = invoiceEvent();
    const h = standardHeaders(svixBody);
    const svix = await deliver("billing", svixBody, {
      "content-type": "application/json",
      "svix-id": h["webhook-id"],
      "svix-timestamp": h["webhook-timestamp"],
      "svix-signature": h["webhook-signature"],
    });
    expect(svix.status).toBe(202);
  });

  it("events the filters leave out answer 204", async () => {
    const body = invoiceEvent("invoice.created");
    const res = await deliver("billing", body, standardHeaders(body));
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
  });
});

// ---------------------------------------------------------------- Slack

function slackHeaders(body: string, { at = nowS(), secret = SLACK_SECRET, contentType = "application/json" } = {}) {
  return {
    "content-type": contentType,
    "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    "x-slack-request-timestamp": String(at),
    "x-slack-signature": `v0=${hmacHex(secret, `v0:${at}:${body}`)}`,
  };
}

function appMention(eventId = `Ev${randomBytes(5).toString("hex").toUpperCase()}`) {
  return JSON.stringify({
    token: "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    team_id: "T061EG9R6",
    api_app_id: "A0PNCHHK2",
    event: { type: "app_mention", user: "U061F7AUR", text: "<@U0LAN0Z89> deploy staging", ts: "1515449522.000016", channel: "C0LAN2Q65", event_ts: "1515449522.000016" },
    type: "event_callback",
    event_id: eventId,
    event_time: 1515449522,
    authorizations: [{ enterprise_id: null, team_id: "T061EG9R6", user_id: "U0LAN0Z89", is_bot: true }],
    is_ext_shared_channel: false,
  });
}

const slashCommand = (text: string) =>
  new URLSearchParams({
    token: "gIkuvaNzQIHg97ATvDxqgjtO",
    team_id: "T0001",
    team_domain: "example",
    channel_id: "C2147483705",
    channel_name: "test",
    user_id: "U2147483697",
    user_name: "Steve",
    command: "/deploy",
    text,
    api_app_id: "A123456",
    response_url: "https://hooks.slack.com/commands/1234/5678",
    trigger_id: `13345224609.738474920.${randomBytes(8).toString("hex")}`,
  }).toString();

describe("Slack requests (X-Slack-Signature v0)", () => {
  it("Slack's published slash-command example verifies at its own time", () => {
    const body = Buffer.from(
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
    );
    const headers = { "x-slack-request-timestamp": "1531420618", "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503" };
    expect(verifySlack("8f742231b10e8888abcd99yyyzzz85a5", headers, body, 1531420618).ok).toBe(true);
    expect(verifySlack("8f742231b10e8888abcd99yyyzzz85a5", headers, body, 1531420618 + 301).ok).toBe(false);
    expect(verifySlack("8f742231b10e8888abcd99yyyzzz85a5", headers, Buffer.concat([body, Buffer.from("x")]), 1531420618).ok).toBe(false);
  });

  it("url_verification is answered with its challenge, after the signature check", async () => {
    const body = JSON.stringify({ token: "Jhj5dZrVaK7ZwHHjRyZWjbDl", challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", type: "url_verification" });
    const ok = await deliver("slack-events", body, slackHeaders(body));
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" });
    const forged = await deliver("slack-events", body, slackHeaders(body, { secret: "guess" }));
    expect(forged.status).toBe(401);
  });

  it("an event_callback starts a run; Slack's retry of the event (new timestamp) answers the same run", async () => {
    const body = appMention();
    const first = await deliver("slack-events", body, slackHeaders(body));
    expect(first.status).toBe(200);
    expect(await inputsOf(first.body.name)).toEqual({ kind: "app_mention", channel: "C0LAN2Q65", text: "<@U0LAN0Z89> deploy staging" });
    const before = await runsOf("slack-event");
    const retry = await deliver("slack-events", body, { ...slackHeaders(body, { at: nowS() + 1 }), "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(await runsOf("slack-event")).toEqual(before);
  });

  it("a slash command (form body) starts a run from its fields; a replayed request answers the same run", async () => {
    const body = slashCommand("staging now");
    const headers = slackHeaders(body, { contentType: "application/x-www-form-urlencoded" });
    const first = await deliver("slack-command", body, headers);
    expect(first.status).toBe(200);
    expect(first.body.text).toBe(`Started run <${first.body.url}|${first.body.name}>`);
    expect(await inputsOf(first.body.name)).toEqual({ command: "/deploy", text: "staging now", user: "Steve" });
    const before = await runsOf("slack-command");
    const replay = await deliver("slack-command", body, headers);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(await runsOf("slack-command")).toEqual(before);
    expect(before.filter((name) => name === first.body.name)).toHaveLength(1);
  });

  it("stale, tampered, wrongly signed or unsigned requests: 401 and no run", async () => {
    const body = slashCommand("prod");
    const form = "application/x-www-form-urlencoded";
    const good = slackHeaders(body, { contentType: form });
    const { "x-slack-request-timestamp": _, ...noTimestamp } = good;
    const { "x-slack-signature": __, ...noSignature } = good;
    const before = await runsOf("slack-command");
    const callsBefore = await planeCalls();
    const attempts: Array<[string, Record<string, string>]> = [
      [body, slackHeaders(body, { contentType: form, at: nowS() - 301 })],
      [body, slackHeaders(body, { contentType: form, at: nowS() + 301 })],
      [body.replace("text=prod", "text=dev"), good],
      [body, slackHeaders(body, { contentType: form, secret: "8f742231b10e8888abcd99yyyzzz85a5" })],
      [body, noTimestamp],
      [body, noSignature],
      [body, { ...good, "x-slack-request-timestamp": String(nowS() - 2) }],
    ];
    for (const [sent, headers] of attempts) {
      const res = await deliver("slack-command", sent, headers);
      expect(res.status).toBe(401);
    }
    expect(await planeCalls()).toBe(callsBefore);
    expect(await runsOf("slack-command")).toEqual(before);
  });

  it("events the filters leave out answer 204", async () => {
    const body = appMention().replace('"type":"app_mention"', '"type":"reaction_added"');
    const res = await deliver("slack-events", body, slackHeaders(body));
    expect(res.status).toBe(204);
  });
});

describe("what never leaves the gateway", () => {
  it("no secret, signature or service token in any log line", () => {
    const logs = stack.logs.join("");
    expect(secretsFound(stack.logs, [STANDARD_SECRET, TOKEN, STANDARD_SECRET.slice(6)])).toEqual([]);
    expect(logs).not.toMatch(/sha256=[0-9a-f]{64}|v0=[0-9a-f]{64}|v1,[A-Za-z0-9+/]{43}=/);
    // The refusals are logged, with the hook and the reason.
    expect(logs).toContain("hook delivery refused");
  });

  it("the endpoint is documented in OpenAPI without a bearer requirement", async () => {
    const { body }: { body: any } = await stack.call("/openapi.json");
    const op = body.paths["/hooks/{hook}"].post;
    expect(op.tags).toEqual(["hooks"]);
    expect(op.security).toBeUndefined();
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "202", "204", "401", "404", "422"]));
    expect(Object.keys(op.requestBody.content)).toEqual(["application/json", "application/x-www-form-urlencoded"]);
  });
});

// ---------------------------------------------------------------- the hooks file

describe("the hooks file is checked at start", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flyte-webhook-hooks-file-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const good = { verifier: "github", secret: "gh", credential: "svc", task: task("echo"), inputs: { x: "{payload.number}" } };
  const env = { FLYTE_SECRET_GH: "s3cret-value", FLYTE_SECRET_SVC: "token-value" };

  function load(hooks: unknown, extra: Record<string, string> = {}) {
    const path = join(dir, `${randomUUID()}.json`);
    writeFileSync(path, JSON.stringify(hooks));
    return loadConfig({ env: { ...env, FLYTE_WEBHOOK_HOOKS: path, ...extra }, cwd: dir });
  }
  function refusal(hooks: unknown, extra: Record<string, string> = {}): string {
    try {
      load(hooks, extra);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error("the hooks file was accepted");
  }

  it("a good file loads, with secrets from variables or the secrets directory", () => {
    expect(load({ hooks: { gh: good } }).gateway.hooks).toEqual({ gh: good });
    writeFileSync(join(dir, "svc-file"), "token-from-file\n");
    const config = load({ hooks: { gh: { ...good, credential: "svc-file" } } }, { FLYTE_WEBHOOK_SECRETS_DIR: dir });
    expect(config.gateway.secrets?.get("svc-file")).toBe("token-from-file");
  });

  it.each([
    [{ hooks: { gh: { ...good, verifier: "gitlab" } } }, 'hook "gh": verifier: must be one of "github", "standard-webhooks", "slack"'],
    [{ hooks: { gh: { ...good, secret_value: "abc" } } }, 'hook "gh": unknown field "secret_value"'],
    [{ hooks: { gh: { ...good, credential: undefined } } }, 'hook "gh": missing field "credential"'],
    [{ hooks: { gh: { ...good, task: { ...good.task, name: 3 } } } }, 'hook "gh": task.name: must be string'],
    [{ hooks: { gh: { ...good, secret: "has spaces and=value" } } }, 'hook "gh": secret: expected a secret name'],
    [{ hooks: { gh: { ...good, secret: "missing" } } }, 'hook "gh": secret: secret "missing" is not set (FLYTE_SECRET_MISSING'],
    [{ hooks: { gh: { ...good, inputs: { x: "{secrets.gh}" } } } }, 'hook "gh": inputs: {secrets.…} is not allowed'],
    [{ hooks: { gh: { ...good, inputs: { x: "{headers.x-hub-signature-256}" } } } }, 'hook "gh": inputs: {headers.x-hub-signature-256} is not allowed'],
    [{ hooks: { gh: { ...good, filters: { payload: { action: [] } } } } }, 'hook "gh": filters.payload.action: must be a string, number, boolean or null'],
    [{ hooks: { gh: { ...good, callback_url: "http://169.254.169.254/latest" } } }, 'hook "gh": callback_url: points at a link-local'],
    [{ hooks: { "bad name": good } }, 'hook "bad name": a hook name is'],
    [{ hooks: { sw: { ...good, verifier: "standard-webhooks" } } }, 'hook "sw": secret: secret "gh" is not a Standard Webhooks key'],
    [{ hook: {} }, 'unknown field "hook"'],
  ])("%j is refused", (hooks, message) => {
    const text = refusal(hooks);
    expect(text).toContain("FLYTE_WEBHOOK_HOOKS");
    expect(text).toContain(message);
    expect(text).not.toContain("s3cret-value");
  });

  it("a task outside the task allow-list is refused", () => {
    expect(refusal({ hooks: { gh: good } }, { FLYTE_WEBHOOK_TASK_ALLOWLIST: "other" })).toContain('hook "gh": task: development/flytesnacks/echo is not in the task allow-list');
  });

  it("a file that is not JSON, or not there, is refused", () => {
    const path = join(dir, "broken.json");
    writeFileSync(path, "{");
    expect(() => loadConfig({ env: { FLYTE_WEBHOOK_HOOKS: path }, cwd: dir })).toThrow(/FLYTE_WEBHOOK_HOOKS .*not valid JSON/);
    expect(() => loadConfig({ env: { FLYTE_WEBHOOK_HOOKS: "nowhere.json" }, cwd: dir })).toThrow(/FLYTE_WEBHOOK_HOOKS nowhere.json: cannot read .*ENOENT/);
  });

  it("createFlyteWebhookApp checks its hooks option the same way", () => {
    expect(() =>
      createFlyteWebhookApp({
        logger: false,
        controlPlane: { endpoint: "http://127.0.0.1:9" },
        hooks: { gh: good as never },
        secrets: secretsFrom({ env }),
        taskAllowlist: ["other"],
      }),
    ).toThrow('hook "gh": task: development/flytesnacks/echo is not in the task allow-list');
  });
});
