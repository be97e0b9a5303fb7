import { PharosError } from '../lib/index.ts';

/**
 * ECS error codes. They are the `__type` values the ECS model defines; the API boundary maps
 * `SERVER_EXCEPTION` to 500 and every other code to 400, with a lowercase `message` (CLOUDMAP-SPEC 4.1).
 */
export const CLIENT_EXCEPTION = 'ClientException';
export const INVALID_PARAMETER = 'InvalidParameterException';
export const CLUSTER_NOT_FOUND = 'ClusterNotFoundException';
export const CLUSTER_CONTAINS_SERVICES = 'ClusterContainsServicesException';
export const CLUSTER_CONTAINS_TASKS = 'ClusterContainsTasksException';
export const SERVICE_NOT_FOUND = 'ServiceNotFoundException';
export const SERVICE_NOT_ACTIVE = 'ServiceNotActiveException';
export const SERVER_EXCEPTION = 'ServerException';
export const RESOURCE_NOT_FOUND = 'ResourceNotFoundException';

/** Every code an orchestrator operation may throw, for the API's error table. */
export const ECS_ERROR_CODES = [
  CLIENT_EXCEPTION,
  INVALID_PARAMETER,
  CLUSTER_NOT_FOUND,
  CLUSTER_CONTAINS_SERVICES,
  CLUSTER_CONTAINS_TASKS,
  SERVICE_NOT_FOUND,
  SERVICE_NOT_ACTIVE,
  SERVER_EXCEPTION,
  RESOURCE_NOT_FOUND,
] as const;

/** HTTP status for an ECS error code: only ServerException is a fault. */
export function ecsErrorStatus(code: string): number {
  return code === SERVER_EXCEPTION ? 500 : 400;
}

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
