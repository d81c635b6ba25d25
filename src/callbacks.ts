// Completion callbacks as the control plane knows them: a caller's `callback_url` becomes
// an inline notification rule in the run's RunSpec (flyteidl2 `notification_rules` with a
// WebhookDeliveryTemplate), so any Flyte 2 plane that delivers notifications calls it when
// the run ends; the embedded plane does (see src/local/callbacks.ts). The gateway only
// checks the address and writes the rule.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { runUrl } from "./controlplane/console.ts";
import { ActionPhase, HttpMethod, type InlineRuleSchema, type RunSpecSchema } from "./controlplane/idl.ts";
import { badRequest } from "./errors.ts";
import { isForbiddenAddress } from "./outbound.ts";

/** flyteidl2 caps a delivery URL at 2000 characters. */
const MAX_URL = 2000;

/** The phases that end a run: the only ones a completion rule may name. */
export const CALLBACK_PHASES = [ActionPhase.SUCCEEDED, ActionPhase.FAILED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT];

/**
 * Checks a callback URL: absolute http(s), no user-info (it would be a credential in the
 * run's spec, readable by anyone who can read the run), not a link-local or metadata
 * address. Names that resolve there are refused again by the deliverer when it connects.
 */
export function checkCallbackUrl(value: string, field = "callback_url"): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest(`${field} is not an absolute URL`, "bad_callback_url");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw badRequest(`${field} must be http or https`, "bad_callback_url");
  if (url.username || url.password) throw badRequest(`${field} must not carry credentials`, "bad_callback_url");
  if (value.length > MAX_URL) throw badRequest(`${field} is longer than ${MAX_URL} characters`, "bad_callback_url");
  if (isForbiddenAddress(url.hostname.replace(/^\[|\]$/g, ""))) {
    throw badRequest(`${field} points at a link-local or cloud metadata address`, "callback_not_allowed");
  }
  return url.href;
}

/**
 * The body the plane posts, as a template over RunCompletedNotificationTemplateData
 * (`{{.Run.Name}}`, `{{.Phase}}`, `{{.Error}}`, …), the placeholders flyte-sdk's own
 * notifications use. The console link is filled in here, where the console is known.
 */
export function callbackBodyTemplate(consoleBase: string, project: string, domain: string): string {
  const marker = "RUN_NAME";
  const url = runUrl(consoleBase, domain, project, marker).replace(marker, "{{.Run.Name}}");
  return JSON.stringify({
    type: "run.completed",
    data: {
      name: "{{.Run.Name}}",
      project: "{{.Run.Project}}",
      domain: "{{.Run.Domain}}",
      phase: "{{.Phase}}",
      error: "{{.Error}}",
      url,
    },
  });
}

/** The inline rule: POST the body to `url` when the run reaches a terminal phase. */
export function callbackRule(url: string, consoleBase: string, project: string, domain: string): MessageInitShape<typeof InlineRuleSchema> {
  return {
    onPhases: CALLBACK_PHASES,
    delivery: {
      case: "deliveryTemplate",
      value: {
        webhook: {
          url,
          method: HttpMethod.POST,
          headers: { "Content-Type": "application/json" },
          bodyTemplate: callbackBodyTemplate(consoleBase, project, domain),
        },
      },
    },
  };
}

/** The run spec a start asks for: the callback rule when there is a callback, else nothing. */
export function callbackRunSpec(url: string | undefined, consoleBase: string, project: string, domain: string): MessageInitShape<typeof RunSpecSchema> {
  if (url === undefined) return {};
  return { notificationSettings: { case: "notificationRules", value: { rules: [callbackRule(url, consoleBase, project, domain)] } } };
}
