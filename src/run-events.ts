// A run's life as Server-Sent Events: `phase` at the start and at every change of phase
// (or progress), `outputs` once it has ended, then the stream ends. Built on the control
// plane's WatchRunDetails stream, which the caller's `signal` cancels (client gone,
// gateway closing, the stream's longest life reached): no watch outlives its reader.
import type { FastifyRequest } from "fastify";
import type { ControlPlane, Credentials } from "./controlplane/client.ts";
import { errorBody, fromControlPlane } from "./errors.ts";
import { endedRunOutputs, runStatus } from "./runs.ts";

export interface RunEvent {
  id?: string;
  event: "phase" | "outputs" | "timeout" | "error";
  data: unknown;
}

export async function* runEvents(
  request: FastifyRequest,
  controlPlane: ControlPlane,
  creds: Credentials,
  consoleBase: string,
  name: string,
  signals: { stop: AbortSignal; expired: AbortSignal },
): AsyncGenerator<RunEvent> {
  let seq = 0;
  let last = "";
  try {
    for await (const details of controlPlane.watchRun(creds, name, signals.stop)) {
      const status = runStatus(consoleBase, details.action);
      const seen = `${status.phase}\u0000${status.progress ?? ""}`;
      if (seen === last) continue; // a change this stream does not show
      last = seen;
      yield { id: String(++seq), event: "phase", data: status };
      if (status.done) {
        const outputs = await endedRunOutputs(controlPlane, creds, details, status.phase);
        yield { id: String(++seq), event: "outputs", data: { name, outputs } };
        return;
      }
    }
  } catch (err) {
    if (signals.expired.aborted) yield { event: "timeout", data: { name, detail: "the stream reached its longest life; reconnect to go on" } };
    else if (!signals.stop.aborted) {
      const mapped = fromControlPlane(err);
      yield { event: "error", data: errorBody(request, mapped.code, mapped.message) };
    }
  }
}
