// The `echo` task type: outputs are the inputs, after an optional `delay_ms`. For demos,
// tests and benchmarks of the run lifecycle without anything outside the plane.
import { create } from "@bufbuild/protobuf";
import { setTimeout as sleep } from "node:timers/promises";
import { OutputsSchema } from "../controlplane/idl.ts";
import type { Connector } from "./types.ts";

const MAX_DELAY_MS = 24 * 3600 * 1000;

export const echoConnector: Connector = {
  type: "echo",
  resumable: true,
  validateConfig(config) {
    const delay = config.delay_ms;
    if (delay !== undefined && (typeof delay !== "number" || !Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_MS)) {
      throw new Error(`config.delay_ms must be a whole number of milliseconds between 0 and ${MAX_DELAY_MS}`);
    }
  },
  async execute({ inputs, config, signal }) {
    const delay = typeof config.delay_ms === "number" ? config.delay_ms : 0;
    if (delay > 0) await sleep(delay, undefined, { signal });
    return create(OutputsSchema, { literals: inputs.literals });
  },
};
