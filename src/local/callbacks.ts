// Completion callbacks in the embedded control plane: a run's inline notification rules
// (RunSpec `notification_rules`) with a webhook delivery template are checked when the
// run is created, recorded as deliveries in the transaction that ends the run when its
// phase is one the rule names (crash recovery's failures included), and sent by the
// deliverer, signed per Standard Webhooks.
import { join } from "node:path";
import type { Logger } from "pino";
import { phaseName } from "../controlplane/phase.ts";
import type { RunSpec } from "../controlplane/idl.ts";
import { CallbackDeliverer, type CallbackOptions, messageId } from "./callback-deliverer.ts";
import { CallbackSigner, keptCallbackSecret, newCallbackSecret } from "./callback-signing.ts";
import { CallbackStore } from "./callback-store.ts";
import { type CompletionData, deliveryProblem, renderDelivery } from "./callback-template.ts";
import { invalid } from "./plane-context.ts";
import { type RunRow, type Store, TERMINAL_PHASES } from "./store.ts";

export type { CallbackOptions } from "./callback-deliverer.ts";

/** More rules than this on one run is a mistake, not a need. */
const MAX_RULES = 10;

/**
 * Refuses notification settings this plane cannot deliver, with INVALID_ARGUMENT, before
 * the run exists: stored rules and delivery configs (it keeps none), email, phases that do
 * not end a run, and webhook templates it cannot send.
 */
export function checkNotificationSettings(spec: RunSpec): void {
  const settings = spec.notificationSettings;
  if (settings.case === undefined) return;
  if (settings.case === "notificationRuleName") {
    throw invalid("notification_rule_name: this control plane keeps no stored notification rules; give the rule inline in notification_rules");
  }
  const rules = settings.value.rules;
  if (rules.length > MAX_RULES) throw invalid(`notification_rules: at most ${MAX_RULES} rules per run, got ${rules.length}`);
  rules.forEach((rule, i) => {
    const at = `notification_rules[${i}]`;
    if (rule.onPhases.length === 0) throw invalid(`${at}.on_phases names no phase`);
    const other = rule.onPhases.find((phase) => !TERMINAL_PHASES.includes(phase));
    if (other !== undefined) throw invalid(`${at}.on_phases: ${phaseName(other) ?? other} does not end a run; rules here name succeeded, failed, aborted or timed_out`);
    const delivery = rule.delivery;
    if (delivery.case === "deliveryConfigName") {
      throw invalid(`${at}.delivery_config_name: this control plane keeps no stored delivery configs; give delivery_template.webhook`);
    }
    if (delivery.case !== "deliveryTemplate") throw invalid(`${at} has no delivery`);
    if (delivery.value.email) throw invalid(`${at}.delivery_template.email: this control plane does not send email; use a webhook`);
    const webhook = delivery.value.webhook;
    if (!webhook) throw invalid(`${at}.delivery_template.webhook is missing`);
    const problem = deliveryProblem(webhook);
    if (problem) throw invalid(`${at}.delivery_template.webhook: ${problem}`);
  });
}

/** What a run's templates see of it. */
function completionData(run: RunRow): CompletionData {
  return {
    org: run.org,
    project: run.project,
    domain: run.domain,
    name: run.name,
    phase: phaseName(run.phase) ?? String(run.phase),
    error: run.error ?? run.abortReason ?? "",
  };
}

export interface CompletionCallbacks {
  /** Delivers what is pending, from earlier starts too. */
  start(): void;
  /** Deliveries not yet delivered nor given up. */
  pending(): number;
  /** Where the generated signing secret is kept; undefined when it was given. */
  secretFile: string | undefined;
  close(): Promise<void>;
}

export function completionCallbacks(store: Store, log: Logger, options: CallbackOptions & { dataDir?: string }): CompletionCallbacks {
  const deliveries = new CallbackStore(store.db);
  const secretFile = options.secret || !options.dataDir ? undefined : join(options.dataDir, "callback-secret");
  const secret = options.secret || (secretFile ? keptCallbackSecret(secretFile) : newCallbackSecret());
  const deliverer = new CallbackDeliverer(deliveries, new CallbackSigner(secret), log, options);

  // Inside the transaction that ends the run: recorded with the phase change or not at all.
  store.onFinish((run) => {
    const settings = run.runSpec.notificationSettings;
    if (settings.case !== "notificationRules") return;
    let recorded = 0;
    for (const rule of settings.value.rules) {
      const template = rule.delivery.case === "deliveryTemplate" ? rule.delivery.value.webhook : undefined;
      if (!template || !rule.onPhases.includes(run.phase)) continue;
      // Rules were checked at creation; one that still cannot be sent is kept as given up, with why.
      const problem = deliveryProblem(template);
      const id = deliveries.add(run, renderDelivery(template, completionData(run)), problem);
      if (problem) log.warn({ run: run.name, delivery: messageId({ id }), reason: problem }, "completion callback given up");
      recorded++;
    }
    if (recorded > 0) deliverer.wake();
  });

  return {
    start: () => deliverer.wake(),
    pending: () => deliveries.pendingCount(),
    secretFile,
    close: () => deliverer.close(),
  };
}
