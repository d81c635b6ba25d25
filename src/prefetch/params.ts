// The parameters of a Hugging Face prefetch, checked the same way by the endpoint (a 400
// naming the parameter) and by the prefetch connector (a failed run), so a run created
// directly over the API is held to the same rules.
import { SECRET_NAME } from "../connectors/secrets.ts";

/** `org/name` or `name`, as the Hub allows them (huggingface_hub's validate_repo_id). */
const REPO_ID = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?\/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;
/** flyte-sdk's artifact names. */
const ARTIFACT_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** Kubernetes quantities: `2`, `500m`, `8Gi`, `1.5G`. */
const QUANTITY = /^(\d+(?:\.\d+)?)(m|k|K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const FREE_TEXT_MAX = 1024;

export interface PrefetchParams {
  repo: string;
  raw_data_path?: string | undefined;
  artifact_name?: string | undefined;
  hf_token_key?: string | undefined;
  cpu?: string | undefined;
  memory?: string | undefined;
  disk?: string | undefined;
  force?: number | undefined;
  [other: string]: unknown;
}

const UNITS: Record<string, number> = {
  "": 1, m: 0.001, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** A Kubernetes quantity in base units (bytes, cores); undefined when it is not one. */
export function parseQuantity(text: string): number | undefined {
  const match = QUANTITY.exec(text);
  return match ? Number(match[1]) * UNITS[match[2] ?? ""]! : undefined;
}

export function checkPrefetchParams(p: PrefetchParams): string[] {
  const problems: string[] = [];
  if (!REPO_ID.test(p.repo) || p.repo.includes("--") || p.repo.includes("..")) {
    problems.push(`repo: ${JSON.stringify(p.repo)} is not a Hugging Face repository id such as meta-llama/Llama-2-7b-hf`);
  }
  if (p.artifact_name && !ARTIFACT_NAME.test(p.artifact_name)) {
    problems.push(`artifact_name: ${JSON.stringify(p.artifact_name)} may only hold letters, digits, _ and -`);
  }
  if (p.hf_token_key && !SECRET_NAME.test(p.hf_token_key)) problems.push(`hf_token_key: ${JSON.stringify(p.hf_token_key)} is not a secret name`);
  for (const key of ["cpu", "memory", "disk"] as const) {
    const value = p[key];
    if (value !== undefined && parseQuantity(value) === undefined) problems.push(`${key}: ${JSON.stringify(value)} is not a quantity such as 2, 500m or 8Gi`);
  }
  if (p.raw_data_path !== undefined && (p.raw_data_path.length > 4096 || p.raw_data_path.includes("\0"))) {
    problems.push("raw_data_path: too long or not a path");
  }
  for (const [key, value] of Object.entries(p)) {
    if (typeof value === "string" && value.length > FREE_TEXT_MAX && key !== "raw_data_path") problems.push(`${key}: longer than ${FREE_TEXT_MAX} characters`);
  }
  return problems;
}

/** The name a prefetched model is stored under: given, or the repo's name with dots as dashes (flyte-sdk's rule). */
export const artifactName = (repo: string, given?: string) => given || repo.split("/").pop()!.replace(/\./g, "-");
