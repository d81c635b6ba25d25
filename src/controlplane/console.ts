// Console links, shaped as flyte-sdk builds them.

/** The console base: FLYTE_CONSOLE_URL, else the control plane's scheme and host. */
export function consoleBase(consoleUrl: string | undefined, endpoint: string): string {
  if (consoleUrl) return consoleUrl.replace(/\/+$/, "");
  const url = new URL(endpoint);
  return `${url.protocol}//${url.host}`;
}

export function runUrl(base: string, domain: string, project: string, run: string): string {
  return `${base}/v2/domain/${encodeURIComponent(domain)}/project/${encodeURIComponent(project)}/runs/${encodeURIComponent(run)}`;
}
