// Where connectors find `{secrets.NAME}` values: `FLYTE_SECRET_<NAME>` environment
// variables, then one file per secret in a directory (as Kubernetes mounts a Secret).
// Values are read on every lookup so a rotated secret file takes effect without a restart.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface SecretSource {
  /** The secret's value, or undefined when no source has it. */
  get(name: string): string | undefined;
}

/** Secret names: what Kubernetes allows for Secret keys, which also keeps lookups inside the directory. */
export const SECRET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/;

/** `my-token.v2` → `MY_TOKEN_V2`: the form an environment variable can carry. */
export const secretEnvName = (name: string) => `FLYTE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`;

export interface SecretSourceOptions {
  env?: NodeJS.ProcessEnv;
  /** `FLYTE_LOCAL_SECRETS_DIR`. */
  dir?: string;
}

export function secretsFrom({ env = process.env, dir }: SecretSourceOptions = {}): SecretSource {
  return {
    get(name) {
      if (!SECRET_NAME.test(name)) return undefined;
      const fromEnv = env[`FLYTE_SECRET_${name}`] ?? env[secretEnvName(name)];
      if (fromEnv !== undefined) return fromEnv;
      if (!dir) return undefined;
      try {
        // A file written with `echo` ends in a newline that is not part of the secret.
        return readFileSync(join(dir, name), "utf8").replace(/\r?\n$/, "");
      } catch {
        return undefined;
      }
    },
  };
}

/** No secrets at all: lookups fail with the name, never with a value. */
export const NO_SECRETS: SecretSource = { get: () => undefined };
