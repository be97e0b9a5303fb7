import { PharosError } from '../lib/index.ts';

/**
 * The ECS error shapes of the 2014-11-13 model, each declared once with its HTTP status; the API
 * boundary reads this table and writes a lowercase `message` (docs/compatibility.md#protocol-and-identifiers). All are
 * client errors except `ServerException`, a fault.
 */
export const ECS_ERRORS = {
  AccessDeniedException: 400,
  AttributeLimitExceededException: 400,
  BlockedException: 400,
  ClientException: 400,
  ClusterContainsContainerInstancesException: 400,
  ClusterContainsServicesException: 400,
  ClusterContainsTasksException: 400,
  ClusterNotFoundException: 400,
  ConflictException: 400,
  InvalidParameterException: 400,
  LimitExceededException: 400,
  MissingVersionException: 400,
  NamespaceNotFoundException: 400,
  NoUpdateAvailableException: 400,
  PlatformTaskDefinitionIncompatibilityException: 400,
  PlatformUnknownException: 400,
  ResourceInUseException: 400,
  ResourceNotFoundException: 400,
  ServerException: 500,
  ServiceNotActiveException: 400,
  ServiceNotFoundException: 400,
  TargetNotConnectedException: 400,
  TargetNotFoundException: 400,
  TaskSetNotFoundException: 400,
  UnsupportedFeatureException: 400,
  UpdateInProgressException: 400,
} as const satisfies Record<string, number>;
export type EcsErrorCode = keyof typeof ECS_ERRORS;

/** The codes the orchestrator raises. */
export const CLIENT_EXCEPTION = 'ClientException' satisfies EcsErrorCode;
export const INVALID_PARAMETER = 'InvalidParameterException' satisfies EcsErrorCode;
export const CLUSTER_NOT_FOUND = 'ClusterNotFoundException' satisfies EcsErrorCode;
export const CLUSTER_CONTAINS_SERVICES = 'ClusterContainsServicesException' satisfies EcsErrorCode;
export const CLUSTER_CONTAINS_TASKS = 'ClusterContainsTasksException' satisfies EcsErrorCode;
export const SERVICE_NOT_FOUND = 'ServiceNotFoundException' satisfies EcsErrorCode;
export const SERVICE_NOT_ACTIVE = 'ServiceNotActiveException' satisfies EcsErrorCode;
export const SERVER_EXCEPTION = 'ServerException' satisfies EcsErrorCode;
export const RESOURCE_NOT_FOUND = 'ResourceNotFoundException' satisfies EcsErrorCode;

export const invalidParameter = (message: string): PharosError => new PharosError(INVALID_PARAMETER, message);
export const clientException = (message: string): PharosError => new PharosError(CLIENT_EXCEPTION, message);
export const clusterNotFound = (): PharosError => new PharosError(CLUSTER_NOT_FOUND, 'Cluster not found.');
export const serviceNotFound = (): PharosError => new PharosError(SERVICE_NOT_FOUND, 'Service not found.');
export const serviceNotActive = (): PharosError => new PharosError(SERVICE_NOT_ACTIVE, 'Service was not ACTIVE.');
export const resourceNotFound = (): PharosError => new PharosError(RESOURCE_NOT_FOUND, 'The specified resource could not be found.');

/** Internal (never on the wire): a task's Cloud Map service is gone, so it cannot be registered. */
export const REGISTRY_SERVICE_MISSING = 'EcsRegistryServiceMissing';
/** Internal: a task definition the runtime cannot run (network mode `none`). */
export const TASK_NOT_RUNNABLE = 'EcsTaskNotRunnable';
/** Codes the orchestrator uses internally: never raised by an operation, so never in the table above. */
export const ECS_INTERNAL_CODES = [REGISTRY_SERVICE_MISSING, TASK_NOT_RUNNABLE] as const;
