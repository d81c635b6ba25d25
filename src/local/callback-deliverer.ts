// Sends the completion callbacks the store holds: each attempt signed anew, any 2xx
// answer ends a delivery, anything else is tried again after an exponential backoff with
// jitter until the attempts run out. An address the outbound guard refuses (link-local,
// cloud metadata; also after DNS) is never retried: it will not change. Redirects are not
// followed. Closing stops at once: an attempt cut short is given back, due again on the
// next start.
import type { Logger } from "pino";
import { request } from "undici";
import { describeOutboundFailure, forbiddenAddressOf, type OutboundDispatchers, outboundDispatchers } from "../outbound.ts";
import type { CallbackSigner } from "./callback-signing.ts";
import type { CallbackDelivery, CallbackStore } from "./callback-store.ts";

export interface CallbackOptions {
  /** `whsec_…` key the deliveries are signed with; unset: generated and kept in `<data dir>/callback-secret`. */
  secret?: string;
  /** Wait after the first failed attempt; each later wait doubles (default 1 s). */
  retryBaseMs?: number;
  /** Longest wait between attempts (default 5 min). */
  maxDelayMs?: number;
  /** Attempts before a delivery is given up (default 10). */
  maxAttempts?: number;
  /** Deadline of one attempt: connect, answer and body (default 10 s). */
  attemptTimeoutMs?: number;
  /** Deliveries attempted at once (default 8). */
  concurrency?: number;
}

export const CALLBACK_DEFAULTS = {
  retryBaseMs: 1000,
  maxDelayMs: 300_000,
  maxAttempts: 10,
  attemptTimeoutMs: 10_000,
  concurrency: 8,
} as const;

/** A receiver's answer is read up to this much, then dropped: only its status matters. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const messageId = (delivery: { id: string }) => `msg_${delivery.id}`;

/**
 * How logs name a receiver: its origin only. Callback URLs often carry their credential in
 * the path (chat and CI hooks), which no log line may show.
 */
function receiverOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}

export class CallbackDeliverer {
  private readonly settings: Required<Omit<CallbackOptions, "secret">>;
  private readonly dispatchers: OutboundDispatchers;
  private readonly stopping = new AbortController();
  private readonly inflight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private woken: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly store: CallbackStore,
    private readonly signer: CallbackSigner,
    private readonly log: Logger,
    options: CallbackOptions = {},
  ) {
    const d = CALLBACK_DEFAULTS;
    this.settings = {
      retryBaseMs: options.retryBaseMs ?? d.retryBaseMs,
      maxDelayMs: options.maxDelayMs ?? d.maxDelayMs,
      maxAttempts: Math.max(1, options.maxAttempts ?? d.maxAttempts),
      attemptTimeoutMs: options.attemptTimeoutMs ?? d.attemptTimeoutMs,
      concurrency: Math.max(1, options.concurrency ?? d.concurrency),
    };
    const deadline = this.settings.attemptTimeoutMs;
    this.dispatchers = outboundDispatchers({ connectTimeoutMs: deadline, headersTimeoutMs: deadline, bodyTimeoutMs: deadline });
  }

  /** Looks for due deliveries soon (after the caller's transaction has committed). */
  wake(): void {
    if (this.closed || this.woken) return;
    this.woken = setImmediate(() => {
      this.woken = undefined;
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.woken) clearImmediate(this.woken);
    this.stopping.abort();
    await Promise.allSettled(this.inflight.values());
    await this.dispatchers.close();
  }

  /** Starts what is due, then sleeps until the next delivery is. */
  private pump(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const free = this.settings.concurrency - this.inflight.size;
    if (free > 0) {
      for (const delivery of this.store.due(Date.now(), free)) {
        if (this.inflight.has(delivery.id)) continue;
        const attempt = this.attempt(delivery).finally(() => {
          this.inflight.delete(delivery.id);
          this.wake();
        });
        this.inflight.set(delivery.id, attempt);
      }
    }
    // When every slot is busy, the end of an attempt wakes the deliverer instead.
    const next = this.store.nextDue();
    if (next !== undefined && this.inflight.size < this.settings.concurrency) {
      this.timer = setTimeout(() => this.pump(), Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS));
    }
  }

  /** Wait after the `attempts`-th failure: base·2^(n-1), ±25 % jitter, capped. */
  private backoff(attempts: number): number {
    const { retryBaseMs, maxDelayMs } = this.settings;
    const exponential = retryBaseMs * 2 ** Math.min(attempts - 1, 30);
    return Math.round(Math.min(maxDelayMs, exponential * (0.75 + Math.random() * 0.5)));
  }

  private async attempt(delivery: CallbackDelivery): Promise<void> {
    const { attemptTimeoutMs, maxAttempts } = this.settings;
    const attempts = delivery.attempts + 1;
    // Counted before sending, so a crash mid-attempt delays the delivery instead of losing it.
    if (!this.store.claim(delivery.id, Date.now() + attemptTimeoutMs + this.backoff(attempts))) return;
    const fields = { run: delivery.run.name, delivery: messageId(delivery), receiver: receiverOf(delivery.url), attempt: attempts };
    let reason: string;
    let retry = true;
    try {
      const response = await request(delivery.url, {
        method: delivery.method as "POST",
        headers: { ...delivery.headers, ...this.signer.sign(messageId(delivery), delivery.body) },
        body: delivery.body === "" ? undefined : delivery.body,
        dispatcher: this.dispatchers.direct,
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(attemptTimeoutMs)]),
      });
      // The answer's body means nothing here; a receiver that sends too much is cut off.
      await response.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
      if (response.statusCode >= 200 && response.statusCode < 300) {
        this.store.delivered(delivery.id);
        this.log.info({ ...fields, status: response.statusCode }, "completion callback delivered");
        return;
      }
      reason = `the receiver answered ${response.statusCode}${response.statusCode >= 300 && response.statusCode < 400 ? " (redirects are not followed)" : ""}`;
    } catch (err) {
      if (this.stopping.signal.aborted) {
        this.store.unclaim(delivery.id);
        return;
      }
      reason = describeOutboundFailure(err, attemptTimeoutMs);
      if (forbiddenAddressOf(err)) retry = false;
    }
    if (!retry || attempts >= maxAttempts) {
      this.store.giveUp(delivery.id, reason);
      this.log.warn({ ...fields, reason }, retry ? `completion callback given up after ${attempts} attempts` : "completion callback given up");
      return;
    }
    const wait = this.backoff(attempts);
    this.store.retryAt(delivery.id, Date.now() + wait, reason);
    this.log.info({ ...fields, reason, retryInMs: wait }, "completion callback failed; will retry");
  }
}
