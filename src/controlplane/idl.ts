// The flyteidl2 messages and services the gateway and the embedded control plane use,
// imported from one place. The package ships TypeScript sources only (see scripts/build.mjs).
export { IdentityService, type UserInfoResponse, UserInfoResponseSchema } from "@flyteorg/flyteidl2/flyteidl2/auth/identity_pb.ts";
export { ClusterService } from "@flyteorg/flyteidl2/flyteidl2/cluster/service_pb.ts";
export { SelectClusterResponseSchema, SelectClusterRequest_Operation } from "@flyteorg/flyteidl2/flyteidl2/cluster/payload_pb.ts";
export {
  TaskService,
  type DeployTaskRequest,
  DeployTaskRequestSchema,
  GetTaskDetailsResponseSchema,
  type ListTasksRequest,
  ListTasksResponseSchema,
  ListVersionsResponseSchema,
  DeployTaskResponseSchema,
} from "@flyteorg/flyteidl2/flyteidl2/task/task_service_pb.ts";
export {
  type TaskDetails,
  TaskDetailsSchema,
  type TaskIdentifier,
  TaskIdentifierSchema,
  type TaskSpec,
  TaskSpecSchema,
  TaskSchema,
  TaskMetadataSchema,
} from "@flyteorg/flyteidl2/flyteidl2/task/task_definition_pb.ts";
export {
  type Inputs,
  InputsSchema,
  type Outputs,
  OutputsSchema,
  type NamedLiteral,
  NamedLiteralSchema,
  type NamedParameter,
  NamedParameterSchema,
} from "@flyteorg/flyteidl2/flyteidl2/task/common_pb.ts";
export { AnnotationsSchema, type InlineRule, InlineRuleSchema, type RunSpec, RunSpecSchema } from "@flyteorg/flyteidl2/flyteidl2/task/run_pb.ts";
export { HttpMethod, type WebhookDeliveryTemplate } from "@flyteorg/flyteidl2/flyteidl2/notification/definition_pb.ts";
export {
  RunService,
  type CreateRunRequest,
  CreateRunResponseSchema,
  GetRunDetailsResponseSchema,
  WatchRunDetailsResponseSchema,
  WatchActionDetailsResponseSchema,
  GetActionDetailsResponseSchema,
  GetActionDataResponseSchema as RunGetActionDataResponseSchema,
  ListRunsResponseSchema,
  AbortRunResponseSchema,
  type ListRunsRequest,
} from "@flyteorg/flyteidl2/flyteidl2/workflow/run_service_pb.ts";
export {
  type RunDetails,
  RunDetailsSchema,
  type Run,
  RunSchema,
  type Action,
  ActionSchema,
  type ActionDetails,
  ActionDetailsSchema,
  ActionMetadataSchema,
  ActionStatusSchema,
  TaskActionMetadataSchema,
  ErrorInfoSchema,
  ErrorInfo_Kind,
  AbortInfoSchema,
  ActionAttemptSchema,
} from "@flyteorg/flyteidl2/flyteidl2/workflow/run_definition_pb.ts";
export {
  DataProxyService,
  GetActionDataResponseSchema,
  UploadInputsResponseSchema,
} from "@flyteorg/flyteidl2/flyteidl2/dataproxy/dataproxy_service_pb.ts";
export { OffloadedInputDataSchema } from "@flyteorg/flyteidl2/flyteidl2/common/run_pb.ts";
export { ActionPhase } from "@flyteorg/flyteidl2/flyteidl2/common/phase_pb.ts";
export {
  type RunIdentifier,
  RunIdentifierSchema,
  ActionIdentifierSchema,
  ProjectIdentifierSchema,
} from "@flyteorg/flyteidl2/flyteidl2/common/identifier_pb.ts";
export { FilterSchema, Filter_Function, SortSchema, Sort_Direction, ListRequestSchema } from "@flyteorg/flyteidl2/flyteidl2/common/list_pb.ts";
export { type Literal, LiteralSchema, LiteralCollectionSchema, LiteralMapSchema, type Scalar, type Primitive } from "@flyteorg/flyteidl2/flyteidl2/core/literals_pb.ts";
export { type LiteralType, LiteralTypeSchema, SimpleType, TypeStructureSchema, TypeAnnotationSchema } from "@flyteorg/flyteidl2/flyteidl2/core/types_pb.ts";
export {
  type TypedInterface,
  TypedInterfaceSchema,
  VariableMapSchema,
  VariableEntrySchema,
  VariableSchema,
  ParameterSchema,
} from "@flyteorg/flyteidl2/flyteidl2/core/interface_pb.ts";
export { TaskTemplateSchema, TaskMetadataSchema as CoreTaskMetadataSchema } from "@flyteorg/flyteidl2/flyteidl2/core/tasks_pb.ts";
export { SecurityContextSchema, SecretSchema } from "@flyteorg/flyteidl2/flyteidl2/core/security_pb.ts";
export { IdentifierSchema, ResourceType } from "@flyteorg/flyteidl2/flyteidl2/core/identifier_pb.ts";
export {
  AsyncConnectorService,
  ConnectorMetadataService,
} from "@flyteorg/flyteidl2/flyteidl2/connector/service_pb.ts";
export { type Resource, ResourceSchema, ConnectorSchema as ConnectorInfoSchema } from "@flyteorg/flyteidl2/flyteidl2/connector/connector_pb.ts";
export { TaskExecution_Phase } from "@flyteorg/flyteidl2/flyteidl2/core/execution_pb.ts";
export { type ImageSpec, ImageSpecSchema } from "@flyteorg/flyteidl2/flyteidl2/imagebuilder/definition_pb.ts";
export { AppService } from "@flyteorg/flyteidl2/flyteidl2/app/app_service_pb.ts";
export {
  type App,
  AppSchema,
  SpecSchema as AppSpecSchema,
  ConditionSchema as AppConditionSchema,
  IngressSchema as AppIngressSchema,
  type Identifier as AppIdentifier,
  Status_DeploymentStatus as DeploymentStatus,
  Spec_DesiredState as DesiredState,
} from "@flyteorg/flyteidl2/flyteidl2/app/app_definition_pb.ts";
export { type WatchResponse as AppWatchResponse } from "@flyteorg/flyteidl2/flyteidl2/app/app_payload_pb.ts";
export { TriggerService } from "@flyteorg/flyteidl2/flyteidl2/trigger/trigger_service_pb.ts";
export {
  type TriggerDetails,
  TriggerDetailsSchema,
  type Trigger,
  TriggerSchema,
  TriggerSpecSchema,
  TriggerStatusSchema,
  TriggerMetadataSchema,
} from "@flyteorg/flyteidl2/flyteidl2/trigger/trigger_definition_pb.ts";
export { TriggerAutomationSpecType, TriggerAutomationSpecSchema } from "@flyteorg/flyteidl2/flyteidl2/task/common_pb.ts";
export { type TriggerName, TriggerNameSchema } from "@flyteorg/flyteidl2/flyteidl2/common/identifier_pb.ts";
