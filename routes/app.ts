// App group: an app's status, activating and deactivating it, and calling its endpoints.
// Every endpoint refuses the gateway's own name (400) and apps outside the allow-list
// (403) before the control plane is asked anything.
import { Type } from "typebox";
import { APP_CALL_METHODS, AppCaller } from "../src/app-call.ts";
import { type AppRef, Apps, isActive, isDeactivated, statusName } from "../src/controlplane/apps.ts";
import { appConsoleUrl } from "../src/controlplane/console.ts";
import type { App as FlyteApp } from "../src/controlplane/idl.ts";
import { ApiError, badRequest, ErrorRef, forbidden } from "../src/errors.ts";
import { type App, noBodyIsEmptyObject, route } from "../src/gateway.ts";

const AppParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128, description: "App name", examples: ["my-app"] }) });
const Scope = {
  project: Type.Optional(Type.String({ minLength: 1, description: "Project of the app; the gateway's when omitted", examples: ["flytesnacks"] })),
  domain: Type.Optional(Type.String({ minLength: 1, description: "Domain of the app; the gateway's when omitted", examples: ["development"] })),
};
const WaitQuery = Type.Object({
  ...Scope,
  wait: Type.Boolean({ default: false, description: "Answer once the app reports the new state (bounded by a deadline)", examples: [true] }),
});
const ACTIVE_APP = {
  name: "my-app",
  revision: 2,
  endpoint: "https://my-app.apps.flyte.example.com",
  is_active: true,
  is_deactivated: false,
  url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/apps/my-app",
  status: "active",
};
const STOPPED_APP = { ...ACTIVE_APP, revision: 3, is_active: false, is_deactivated: true, status: "stopped" };
/** An app's status, with the example answer of the endpoint it documents. */
const AppStatus = (example: typeof ACTIVE_APP) =>
  Type.Object(
    {
      name: Type.String(),
      revision: Type.Integer(),
      endpoint: Type.String({ description: "The app's public URL" }),
      is_active: Type.Boolean(),
      is_deactivated: Type.Boolean(),
      url: Type.String({ description: "Console page of the app" }),
      status: Type.String({ description: "Deployment status, lowercase: active, deploying, stopped, …", examples: ["active"] }),
    },
    { examples: [example] },
  );
const QueryValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);

export default async function appRoutes(app: App) {
  const { controlPlane, allowApp, consoleBase, appCall, appWaitMs } = app.gateway;
  const apps = new Apps(controlPlane, appWaitMs);
  const caller = new AppCaller(appCall, `flyte-webhook/${app.gateway.name}`);
  app.addHook("onClose", () => caller.close());

  /** The reference's self-reference protection, then the allow-list. */
  const checkTarget = (name: string, action: string) => {
    if (name === app.gateway.name) throw badRequest(`Cannot ${action} self`, "self_reference");
    if (!allowApp(name)) throw forbidden(`App ${name} is not in the allowlist`, "app_not_allowed");
  };

  const view = (flyteApp: FlyteApp) => {
    const id = flyteApp.metadata?.id;
    return {
      name: id?.name ?? "",
      revision: Number(flyteApp.metadata?.revision ?? 0n),
      endpoint: flyteApp.status?.ingress?.publicUrl ?? "",
      is_active: isActive(flyteApp),
      is_deactivated: isDeactivated(flyteApp),
      url: appConsoleUrl(consoleBase, id?.domain ?? "", id?.project ?? "", id?.name ?? ""),
      status: statusName(flyteApp),
    };
  };

  const target = (name: string, query: { project?: string | undefined; domain?: string | undefined }): AppRef => ({
    name,
    project: query.project,
    domain: query.domain,
  });

  route(app, "get_app", {
    schema: {
      description: "Status of an app: revision, public endpoint, whether it is active.",
      params: AppParams,
      querystring: Type.Object(Scope),
      response: { 200: AppStatus(ACTIVE_APP), 404: ErrorRef },
    },
    handler: async (request) => {
      checkTarget(request.params.name, "get status of");
      return view(await apps.get(request.credentials, target(request.params.name, request.query)));
    },
  });

  const stateChanges = [
    {
      endpoint: "activate_app",
      state: "active",
      example: ACTIVE_APP,
      action: "activate",
      description:
        "Starts an app. With wait=true the answer comes once the app is active, and reports it as active; " +
        "past the wait deadline the answer is a 504 naming the last status seen.",
    },
    {
      endpoint: "deactivate_app",
      state: "deactivated",
      example: STOPPED_APP,
      action: "deactivate",
      description: "Stops an app. With wait=true the answer comes once the app is deactivated (504 past the wait deadline).",
    },
  ] as const;
  for (const { endpoint, state, example, action, description } of stateChanges) {
    route(app, endpoint, {
      schema: { description, params: AppParams, querystring: WaitQuery, response: { 200: AppStatus(example), 404: ErrorRef } },
      handler: async (request) => {
        checkTarget(request.params.name, action);
        return view(await apps.setState(request.credentials, target(request.params.name, request.query), state, request.query.wait));
      },
    });
  }

  route(app, "call_app", {
    schema: {
      description:
        "Calls a path on an active app's endpoint. A 2xx JSON answer is returned as is, other text as " +
        '{"response": text}; a 4xx/5xx answer keeps its status, with the start of the app\'s body in detail. ' +
        "The caller's Authorization header goes along unless the gateway is configured otherwise.",
      params: AppParams,
      querystring: Type.Object({
        path: Type.String({ minLength: 1, maxLength: 2048, description: "Path on the app, e.g. /predict", examples: ["/predict"] }),
        method: Type.Union(
          APP_CALL_METHODS.flatMap((m) => [Type.Literal(m), Type.Literal(m.toLowerCase())]),
          { default: "GET", description: "HTTP method of the call", examples: ["POST"] },
        ),
        ...Scope,
      }),
      body: Type.Optional(
        Type.Object({
          payload: Type.Optional(Type.Unknown({ description: "JSON body sent to the app (not with GET or HEAD)" })),
          query_params: Type.Optional(
            Type.Record(Type.String(), Type.Union([QueryValue, Type.Array(QueryValue)]), { description: "Query parameters added to the path" }),
          ),
        }, { examples: [{ payload: { text: "hi" }, query_params: { lang: "en" } }] }),
      ),
      response: { 200: Type.Unknown({ description: "The app's answer", examples: [{ label: "positive", score: 0.97 }] }), 404: ErrorRef, 409: ErrorRef },
    },
    preValidation: noBodyIsEmptyObject,
    handler: async (request, reply) => {
      const { name } = request.params;
      checkTarget(name, "call");
      const found = await apps.get(request.credentials, target(name, request.query));
      const endpoint = found.status?.ingress?.publicUrl;
      if (!isActive(found)) throw new ApiError(409, "app_not_active", `App ${name} is not active (its status is ${statusName(found)})`);
      if (!endpoint) throw new ApiError(502, "app_without_endpoint", `The control plane reports no endpoint for app ${name}`);
      const answer = await caller.call(name, endpoint, {
        method: request.query.method,
        path: request.query.path,
        payload: request.body?.payload,
        queryParams: request.body?.query_params,
        authorization: request.headers.authorization,
        requestId: String(request.id),
      });
      // Any JSON value, strings and null included, goes out as JSON.
      return reply.type("application/json; charset=utf-8").send(JSON.stringify(answer));
    },
  });
}
