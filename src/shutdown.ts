// Graceful shutdown on SIGTERM / SIGINT: each part closes in turn (the gateway first: it
// stops accepting and lets in-flight requests finish; then the embedded control plane,
// whose runs are already committed to SQLite). A part that takes longer than the bound is
// forced (open connections cut) so the process always ends; a second signal ends it at once.
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";

export interface Closable {
  name: string;
  close(): Promise<void>;
  /** Cuts what `close` is waiting for (open connections). */
  force?(): void;
}

/**
 * The gateway as a part: Fastify's close (stop listening, answer in-flight requests),
 * and keep-alive connections closed as soon as their last answer is out, rather than
 * when their keep-alive timeout ends.
 */
export function gatewayPart(app: FastifyInstance): Closable {
  return {
    name: "gateway",
    async close() {
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
    },
    force: () => app.server.closeAllConnections(),
  };
}

/** Closes the parts in order; true when every part closed within the bound. */
export async function closeAll(parts: readonly Closable[], timeoutMs: number, log: Logger): Promise<boolean> {
  let clean = true;
  for (const part of parts) {
    const closing = part.close();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (timedOut) {
      clean = false;
      log.warn({ part: part.name, timeout_ms: timeoutMs }, "did not close within the shutdown bound; forcing");
      part.force?.();
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    }
  }
  return clean;
}

export function closeOnSignals(parts: readonly Closable[], options: { timeoutMs: number; log: Logger }): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    options.log.info({ signal, timeout_ms: options.timeoutMs }, "shutting down");
    closeAll(parts, options.timeoutMs, options.log).then(
      (clean) => process.exit(clean ? 0 : 1),
      (err) => {
        options.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
