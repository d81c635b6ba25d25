// IdentityService: who the API key belongs to.
import type { ServiceImpl } from "@connectrpc/connect";
import type { IdentityService } from "../../controlplane/idl.ts";
import { subjectKey } from "../auth.ts";

export const identityService = (): Partial<ServiceImpl<typeof IdentityService>> => ({
  userInfo(_req, context) {
    const subject = context.values.get(subjectKey);
    return { subject, name: subject, preferredUsername: subject };
  },
});
