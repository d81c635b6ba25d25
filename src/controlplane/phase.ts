// Run phases as callers see them: flyte-sdk's lowercase ActionPhase values.
import { ActionPhase } from "./idl.ts";

/** flyteidl2 2.0.16 lacks RECOVERED; newer planes send it as 10. */
const ACTION_PHASE_RECOVERED = 10;

const NAMES: Record<number, string> = {
  [ActionPhase.QUEUED]: "queued",
  [ActionPhase.WAITING_FOR_RESOURCES]: "waiting_for_resources",
  [ActionPhase.INITIALIZING]: "initializing",
  [ActionPhase.RUNNING]: "running",
  [ActionPhase.PAUSED]: "paused",
  [ActionPhase.SUCCEEDED]: "succeeded",
  [ActionPhase.FAILED]: "failed",
  [ActionPhase.ABORTED]: "aborted",
  [ActionPhase.TIMED_OUT]: "timed_out",
  [ACTION_PHASE_RECOVERED]: "recovered",
};

const TERMINAL = new Set<number>([
  ActionPhase.SUCCEEDED,
  ActionPhase.FAILED,
  ActionPhase.ABORTED,
  ActionPhase.TIMED_OUT,
  ACTION_PHASE_RECOVERED,
]);

/** Lowercase phase name; `undefined` for UNSPECIFIED or values this build does not know. */
export function phaseName(phase: number): string | undefined {
  return NAMES[phase];
}

export function isTerminal(phase: number): boolean {
  return TERMINAL.has(phase);
}
