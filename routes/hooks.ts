// Hooks group: `POST /hooks/{hook}` for senders that sign their deliveries instead of
// sending a bearer token (GitHub, Standard Webhooks senders, Slack). The body is kept as
// the exact bytes until its signature is verified; only then is it read, filtered, and
// turned into the inputs of a run of the hook's task, started with the hook's service
// credential under a name derived from the delivery, so a replay starts nothing new.
import { Type } from "typebox";
import { callbackRunSpec } from "../src/callbacks.ts";
import type { SecretSource } from "../src/connectors/secrets.ts";
import { runUrl } from "../src/controlplane/console.ts";
import { inputsFromJson } from "../src/controlplane/interface.ts";
import { ApiError, ErrorRef, forbidden, notFound } from "../src/errors.ts";
import { type App, route } from "../src/gateway.ts";
import { deliveryOnce } from "../src/hooks/delivery.ts";
import type { Hook } from "../src/hooks/definitions.ts";
import { hookInputs, passesFilters, readableHeaders, readPayload, slackChallenge } from "../src/hooks/payload.ts";
import { verifyDelivery } from "../src/hooks/verifiers.ts";
import { markReplayed, startRunOnce } from "../src/idempotency.ts";
import { standardWebhooksKey } from "../src/standard-webhooks.ts";

export interface HookRoutesOptions {
  hooks: ReadonlyMap<string, Hook>;
  secrets: SecretSource;
}

const EMPTY = Buffer.alloc(0);

const SignatureHeaders = Type.Object({
  "x-hub-signature-256": Type.Optional(Type.String({ description: "github: `sha256=<hex HMAC-SHA256(secret, body)>`", examples: ["sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"] })),
  "x-github-event": Type.Optional(Type.String({ description: "github: the event, for filters and templates", examples: ["pull_request"] })),
  "webhook-id": Type.Optional(Type.String({ description: "standard-webhooks: the delivery id; a replay of one id starts no second run", examples: ["msg_p5jXN8AQM9LWM0D4loKWxJek"] })),
  "webhook-timestamp": Type.Optional(Type.String({ description: "standard-webhooks: seconds since the epoch, within 5 minutes of the gateway's clock", examples: ["1614265330"] })),
  "webhook-signature": Type.Optional(Type.String({ description: "standard-webhooks: space-separated `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`", examples: ["v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="] })),
  "x-slack-request-timestamp": Type.Optional(Type.String({ description: "slack: seconds since the epoch, within 5 minutes of the gateway's clock", examples: ["1531420618"] })),
  "x-slack-signature": Type.Optional(Type.String({ description: "slack: `v0=<hex HMAC-SHA256(secret, v0:timestamp:body)>`", examples: ["v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"] })),
});

const Payload = {
  description: "The sender's payload, exactly as it signed it",
  content: {
    "application/json": { schema: { type: "object", additionalProperties: true, examples: [{ action: "opened", pull_request: { number: 42 } }] } },
    "application/x-www-form-urlencoded": { schema: { type: "object", additionalProperties: { type: "string" }, examples: [{ command: "/deploy", text: "staging" }] } },
  },
};

const Started = Type.Object(
  {
    name: Type.String({ description: "Run name, derived from the delivery" }),
    url: Type.String({ description: "Link to the run in the console" }),
  },
  {
    description: "The run was started, or was started by an earlier identical delivery (then `Idempotent-Replayed: true`)",
    examples: [{ name: "h0k3x9q2m1a8b7c6d5e4", url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/h0k3x9q2m1a8b7c6d5e4" }],
  },
);

export default async function hookRoutes(app: App, { hooks, secrets }: HookRoutesOptions) {
  const { controlPlane, allowTask, consoleBase } = app.gateway;
  const { project: runProject, domain: runDomain } = controlPlane.settings;

  // Signatures cover the exact bytes: in this scope every body stays a Buffer (within the
  // app's body limit) until the handler has verified it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  /** A hook's secret or service credential, read now (a rotated one takes effect at once). */
  const secretOf = (hook: Hook, field: "secret" | "credential", log: App["log"]): string => {
    const value = secrets.get(hook[field]);
    const usable = value && (field === "credential" || hook.verifier !== "standard-webhooks" || standardWebhooksKey(value));
    if (!usable) {
      // The gateway's setup, not the sender, is at fault; senders retry on 5xx.
      log.error({ hook: hook.name, field, secret_name: hook[field] }, "a hook's secret is missing or malformed");
      throw new ApiError(503, "hook_unavailable", `hook ${hook.name} cannot take deliveries now: one of its secrets is missing (the gateway's logs say which)`);
    }
    return value;
  };

  const runSpecs = new Map([...hooks.values()].map((hook) => [hook.name, callbackRunSpec(hook.callback_url, consoleBase, runProject, runDomain)]));

  route(app, "hook", {
    schema: {
      description:
        "Takes a delivery from a sender that signs instead of sending a bearer token, as the hooks file declares " +
        "(`FLYTE_WEBHOOK_HOOKS`). The signature is checked on the raw body (github: `X-Hub-Signature-256`, no " +
        "timestamp, so no staleness check; standard-webhooks: `webhook-id`/`webhook-timestamp`/`webhook-signature`; " +
        "slack: `X-Slack-Signature` with `X-Slack-Request-Timestamp`; both within 5 minutes). Then the hook's filters " +
        "decide whether the delivery starts a run (204 when not), its inputs template fills the task's inputs from " +
        "`payload` and `headers`, and the run starts under a name derived from the delivery: a replayed delivery " +
        "answers the same run with `Idempotent-Replayed: true` and starts nothing. Slack's `url_verification` is " +
        "answered with its challenge.",
      params: Type.Object({ hook: Type.String({ description: "Hook name in the hooks file", examples: ["github-pr"] }) }),
      headers: SignatureHeaders,
      body: Payload,
      response: {
        200: Type.Union(
          [
            Type.Object({ challenge: Type.String() }),
            Type.Object({ name: Type.String(), url: Type.String(), text: Type.String() }),
          ],
          {
            description: "slack only: the url_verification handshake answered, or a run started (Slack wants a 200; `text` is the line it shows the user)",
            examples: [{ challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" }],
          },
        ),
        202: Started,
        204: Type.Null({ description: "Verified, but the hook's filters leave this delivery out: nothing was run" }),
        401: { ...ErrorRef, description: "Missing, malformed, stale or wrong signature: nothing was run" },
        403: ErrorRef,
        404: { ...ErrorRef, description: "No hook of that name, or the hook's task does not exist" },
        409: { ...ErrorRef, description: "This delivery id already started a run for a different body" },
        415: { ...ErrorRef, description: "The body is neither JSON nor a form" },
        422: { ...ErrorRef, description: "The payload does not fill the hook's inputs, or they do not fit the task" },
        429: ErrorRef,
        502: ErrorRef,
        503: { ...ErrorRef, description: "A secret of the hook is missing, or the control plane is unreachable" },
        504: ErrorRef,
      },
    },
    // The schema documents the endpoint; nothing in the request is trusted before the
    // signature check, which the handler does on the raw bytes, and the body is read after.
    validatorCompiler: () => () => true,
    handler: async (request, reply) => {
      const hook = hooks.get(request.params.hook);
      if (!hook) throw notFound(`no hook named ${request.params.hook}`, "hook_not_found");
      const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;
      const verified = verifyDelivery(hook.verifier, secretOf(hook, "secret", request.log), request.headers, body, Math.floor(Date.now() / 1000));
      if (!verified.ok) {
        request.log.warn({ hook: hook.name, reason: verified.reason }, "hook delivery refused");
        throw new ApiError(401, "invalid_signature", `delivery not verified: ${verified.reason}`);
      }

      const payload = readPayload(body, request.headers["content-type"]);
      const challenge = hook.verifier === "slack" ? slackChallenge(payload) : undefined;
      if (challenge !== undefined) return reply.code(200).send({ challenge });
      const headers = readableHeaders(request.headers);
      if (!passesFilters(hook, payload, headers)) return reply.code(204).send(null);
      const inputs = hookInputs(hook, payload, headers);

      const { domain, project, name } = hook.task;
      if (!allowTask({ domain, project, name })) throw forbidden(`Task ${domain}/${project}/${name} is not in the allowlist`, "task_not_allowed");
      const creds = { authorization: `Bearer ${secretOf(hook, "credential", request.log)}` };
      const task = await controlPlane.getTask(creds, hook.task, { cached: true });
      const run = await startRunOnce(controlPlane, creds, task, inputsFromJson(task.spec, inputs), runSpecs.get(hook.name)!, deliveryOnce(hook, verified, body, payload));
      request.auditDetail = { run: run.name, replayed: run.replayed };
      markReplayed(reply, run);
      const url = runUrl(consoleBase, runDomain, runProject, run.name);
      // Slack wants a 200 (within 3 s) and shows a slash command's answer to its user: a
      // line with the run's link. Other senders get 202: started, not finished.
      if (hook.verifier === "slack") return reply.code(200).send({ name: run.name, url, text: `Started run <${url}|${run.name}>` });
      return reply.code(202).send({ name: run.name, url });
    },
  });
}
