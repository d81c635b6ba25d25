// Core group: liveness and who the caller is.
import { Type } from "typebox";
import { type App, route } from "../src/gateway.ts";

export default async function coreRoutes(app: App) {
  route(app, "health", {
    schema: {
      description: "Liveness: answers while the process serves HTTP. Needs no credentials.",
      response: { 200: Type.Object({ status: Type.Literal("healthy") }, { examples: [{ status: "healthy" }] }) },
    },
    handler: async () => ({ status: "healthy" as const }),
  });

  route(app, "me", {
    schema: {
      description: "The subject and name the control plane sees for the caller's credentials.",
      response: {
        200: Type.Object(
          { subject: Type.String({ description: "Subject of the credentials" }), name: Type.String({ description: "Display name" }) },
          { examples: [{ subject: "local-user", name: "local-user" }] },
        ),
      },
    },
    handler: async (request) => {
      const user = await app.gateway.controlPlane.userInfo(request.credentials);
      request.subject = user.subject;
      return { subject: user.subject, name: user.name };
    },
  });
}
