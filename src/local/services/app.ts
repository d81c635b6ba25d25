// AppService: read, list and watch apps, and change their desired state with Update, as
// flyte-sdk's remote App does. Watch first answers with the app as it is, then with every
// change, so a caller that subscribes after an Update cannot miss the state it waits for.
import { on } from "node:events";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { App, AppIdentifier, AppService } from "../../controlplane/idl.ts";
import type { AppDeployer } from "../app-deployer.ts";
import { appKeyString } from "../app-deployer.ts";
import type { AppKey, AppStore } from "../app-store.ts";
import { subjectKey } from "../auth.ts";
import { invalid, missing, nextToken, page } from "../plane-context.ts";

function appKey(id: AppIdentifier | undefined): AppKey {
  if (!id?.project || !id.domain || !id.name) throw invalid("app_id needs project, domain and name");
  return { org: id.org, project: id.project, domain: id.domain, name: id.name };
}

export function appService(store: AppStore, deployer: AppDeployer): Partial<ServiceImpl<typeof AppService>> {
  const load = (key: AppKey): App => {
    const app = store.get(key);
    if (!app) throw missing(`app ${key.name} not found`);
    return app;
  };

  return {
    get(req) {
      if (req.identifier.case !== "appId") throw new ConnectError("this control plane finds apps by app_id only", Code.Unimplemented);
      return { app: load(appKey(req.identifier.value)) };
    },

    list(req) {
      const { limit, offset } = page(req.request);
      let apps: App[];
      if (req.filterBy.case === "project") {
        const { organization, name, domain } = req.filterBy.value;
        apps = store.list({ org: organization, project: name, domain }, limit, offset);
      } else if (req.filterBy.case === "org") apps = store.list({ org: req.filterBy.value }, limit, offset);
      else throw invalid("list apps by org or project");
      return { apps, token: nextToken(apps.length, limit, offset) };
    },

    update(req, context) {
      return { app: deployer.update(req.app?.metadata?.id, req.app?.spec, context.values.get(subjectKey)) };
    },

    async *watch(req, context) {
      if (req.target.case !== "appId") throw new ConnectError("this control plane watches one app (app_id) at a time", Code.Unimplemented);
      const key = appKey(req.target.value);
      // Listen before the first read so no change between the two is missed.
      const changes = on(deployer.events, appKeyString(key), { signal: AbortSignal.any([context.signal, deployer.closed]) });
      try {
        yield { event: { case: "updateEvent" as const, value: { updatedApp: load(key) } } };
        for await (const [updatedApp, oldApp] of changes) {
          yield { event: { case: "updateEvent" as const, value: { updatedApp: updatedApp as App, oldApp: oldApp as App } } };
        }
      } finally {
        await changes.return?.();
      }
    },
  };
}
