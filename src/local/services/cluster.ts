// ClusterService: one cluster, so SelectCluster answers empty ("use the endpoint you have").
import type { ServiceImpl } from "@connectrpc/connect";
import type { ClusterService } from "../../controlplane/idl.ts";

export const clusterService = (): Partial<ServiceImpl<typeof ClusterService>> => ({
  selectCluster() {
    return { clusterEndpoint: "" };
  },
});
