// A Connect server over cleartext HTTP/2 (serving Connect, gRPC and gRPC-Web), as the
// embedded control plane and the webhook connector service both listen.
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { fastify } from "fastify";

export interface ConnectServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export function splitAddr(addr: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  if (!match) throw new Error(`expected host:port, got "${addr}"`);
  return { host: match[1]!, port: Number(match[2]) };
}

export async function listenConnect(options: { addr: string; interceptors?: Interceptor[]; routes: (router: ConnectRouter) => void }): Promise<ConnectServer> {
  const server = fastify({ http2: true, logger: false });
  await server.register(fastifyConnectPlugin, { interceptors: options.interceptors ?? [], routes: options.routes });
  const { host, port } = splitAddr(options.addr);
  await server.listen({ host, port });
  const address = server.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`,
    port: boundPort,
    close: () => server.close(),
  };
}
