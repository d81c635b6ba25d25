// Console links, shaped as flyte-sdk builds them.

/** The console base: FLYTE_CONSOLE_URL, else the control plane's scheme and host. */
export function consoleBase(consoleUrl: string | undefined, endpoint: string): string {
  if (consoleUrl) return consoleUrl.replace(/\/+$/, "");
  const url = new URL(endpoint);
  return `${url.protocol}//${url.host}`;
}

/** Console pages of a project/domain: `<base>/v2/domain/<domain>/project/<project>/<kind>/<names…>`. */
function consolePage(base: string, domain: string, project: string, kind: string, ...names: string[]): string {
  return [`${base}/v2/domain`, domain, "project", project, kind, ...names].map((part, i) => (i === 0 ? part : encodeURIComponent(part))).join("/");
}

export function runUrl(base: string, domain: string, project: string, run: string): string {
  return consolePage(base, domain, project, "runs", run);
}

export function appConsoleUrl(base: string, domain: string, project: string, app: string): string {
  return consolePage(base, domain, project, "apps", app);
}

export function triggerConsoleUrl(base: string, domain: string, project: string, task: string, trigger: string): string {
  return consolePage(base, domain, project, "triggers", task, trigger);
}
