// Package entry: the gateway factory, its option types, and the embedded control plane.
export { createFlyteWebhookApp } from "./app.ts";
export type { ControlPlaneOptions, FlyteWebhookOptions } from "./options.ts";
export type { Protocol, Credentials } from "./controlplane/client.ts";
export { ENDPOINTS, ENDPOINT_GROUPS, EndpointFilterError, type EndpointName, type EndpointGroup } from "./endpoints.ts";
export { startLocalControlPlane, type LocalControlPlane, type LocalControlPlaneOptions } from "./local/server.ts";
export { readCatalogFile, readCatalog, parseCatalog, CatalogError } from "./local/catalog.ts";
export type { Connector, ConnectorContext } from "./connectors/types.ts";
export { webhookTask, type WebhookTaskDefinition, type WebhookTaskOptions } from "./webhook-task.ts";
export { readHooksFile, HookConfigError, type HookDefinition, type HookDefinitions } from "./hooks/definitions.ts";
export { secretsFrom, type SecretSource } from "./connectors/secrets.ts";
