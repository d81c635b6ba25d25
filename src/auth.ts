// Passthrough auth: a protected route needs an Authorization or Cookie header, and both
// are handed to the control plane as they came; the control plane decides whether they
// are valid. Nothing here logs or inspects the credential itself.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Credentials } from "./controlplane/client.ts";
import { errorBody } from "./errors.ts";

declare module "fastify" {
  interface FastifyRequest {
    credentials: Credentials;
  }
}

export async function requireCredentials(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { authorization, cookie } = request.headers;
  if (!authorization && !cookie) {
    reply.header("www-authenticate", "Bearer");
    return reply.code(401).send(errorBody(request, "unauthenticated", "Authentication credentials required"));
  }
  request.credentials = { authorization, cookie };
}
