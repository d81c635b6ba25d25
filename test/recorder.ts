// A real HTTP server on loopback that records what it receives and answers as each test
// route says: the far end of webhook calls in tests.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
}

export type Responder = (req: Received, res: ServerResponse) => void | Promise<void>;

export interface Recorder {
  url: string;
  port: number;
  received: Received[];
  /** Sets the answer for a path (default: 200 `{"ok":true}`). */
  on(path: string, responder: Responder): void;
  /** Waits until `count` requests have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  /** Requests whose connection closed before an answer was sent. */
  abandoned: number;
  close(): Promise<void>;
}

/** `port`: a fixed loopback port (a receiver coming back where it was); 0 picks a free one. */
export async function startRecorder(port = 0): Promise<Recorder> {
  const received: Received[] = [];
  const responders = new Map<string, Responder>();
  const state = { abandoned: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://localhost");
    const entry: Received = { method: req.method ?? "", path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
    received.push(entry);
    res.on("close", () => {
      if (!res.writableFinished) state.abandoned++;
    });
    const responder = responders.get(url.pathname);
    if (responder) return responder(entry, res);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    received,
    on: (path, responder) => void responders.set(path, responder),
    async waitFor(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} requests, got ${received.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return received;
    },
    get abandoned() {
      return state.abandoned;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
