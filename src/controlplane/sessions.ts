// The HTTP/2 session manager of the control-plane client, with a guard for
// connectrpc/connect-es#1768: when a GOAWAY reaches a connection without open streams,
// the manager destroys it with an error that Node raises only once the socket has closed.
// If a new call has reconnected in the meantime, the manager has already removed its
// listeners from the old session, and that late error would crash the process (a plane
// restarting, or a load balancer closing idle connections, while calls keep coming).
// Every session that carries a call keeps one listener that lets such an error go: the
// manager has moved on to a new connection by then, and calls see their own stream errors.
import type http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

export class GuardedHttp2SessionManager extends Http2SessionManager {
  private readonly guarded = new WeakSet<http2.Http2Session>();

  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    const { session } = stream;
    if (session && !this.guarded.has(session)) {
      this.guarded.add(session);
      session.on("error", () => {});
    }
    return stream;
  }
}
