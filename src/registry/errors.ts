import { PharosError } from '../lib/index.ts';

/**
 * The Cloud Map error codes, each declared once with its HTTP status; the API boundary reads this
 * table. Each code is EXACTLY the AWS error shape name, so the boundary copies it to `__type`
 * unchanged; `fields` carries the modeled error members, named as in the service model
 * (docs/compatibility.md#errors): `NamespaceId`, `CreatorRequestId`, `ServiceId`, `ServiceArn`,
 * `DuplicateOperationId`, `ResourceName`. The model gives none an `httpStatusCode`, so every one is
 * a client error with status 400.
 */
export const CLOUD_MAP_ERRORS = {
  CustomHealthNotFound: 400,
  DuplicateRequest: 400,
  InstanceNotFound: 400,
  InvalidInput: 400,
  NamespaceAlreadyExists: 400,
  NamespaceNotFound: 400,
  OperationNotFound: 400,
  RequestLimitExceeded: 400,
  ResourceInUse: 400,
  ResourceLimitExceeded: 400,
  ResourceNotFoundException: 400,
  ServiceAlreadyExists: 400,
  ServiceAttributesLimitExceededException: 400,
  ServiceNotFound: 400,
  TooManyTagsException: 400,
} as const satisfies Record<string, number>;
export type CloudMapErrorCode = keyof typeof CLOUD_MAP_ERRORS;

/** Every code above: tells a modeled client error from a server fault. */
export const CLOUD_MAP_ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(CLOUD_MAP_ERRORS));

/** Code for calls made before `start()` or after `stop()` — a server fault, not a client error. */
export const REGISTRY_NOT_RUNNING = 'RegistryNotRunning';
/** Code for a write that lost its compare-and-swap race too many times — a server fault. */
export const REGISTRY_CONFLICT = 'RegistryConflict';

/** Codes the registry raises that are faults: never in the table above, so the wire shows InternalFailure (500). */
export const REGISTRY_FAULT_CODES = [REGISTRY_NOT_RUNNING, REGISTRY_CONFLICT] as const;

/** Drops members without a value, so the wire body never carries `null`/`undefined`. */
function defined(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}

/** A Cloud Map client error. */
export class CloudMapError extends PharosError {
  constructor(code: CloudMapErrorCode, message: string, fields: Record<string, string | undefined> = {}) {
    super(code, message, { fields: defined(fields) });
  }
}

export const invalidInput = (message: string) => new CloudMapError('InvalidInput', message);
export const namespaceNotFound = (id: string) => new CloudMapError('NamespaceNotFound', `Namespace not found: ${id}`);
export const serviceNotFound = (id: string) => new CloudMapError('ServiceNotFound', `Service not found: ${id}`);
export const instanceNotFound = (serviceId: string, instanceId: string) =>
  new CloudMapError('InstanceNotFound', `Instance ${instanceId} not found in service ${serviceId}`);
export const operationNotFound = (id: string) => new CloudMapError('OperationNotFound', `Operation not found: ${id}`);
export const namespaceAlreadyExists = (namespaceId: string, creatorRequestId: string | undefined) =>
  new CloudMapError('NamespaceAlreadyExists', `Namespace already exists: ${namespaceId}`, {
    NamespaceId: namespaceId,
    CreatorRequestId: creatorRequestId,
  });
export const serviceAlreadyExists = (serviceId: string, serviceArn: string, creatorRequestId: string | undefined) =>
  new CloudMapError('ServiceAlreadyExists', `Service already exists: ${serviceId}`, {
    CreatorRequestId: creatorRequestId,
    ServiceId: serviceId,
    ServiceArn: serviceArn,
  });
export const resourceInUse = (message: string) => new CloudMapError('ResourceInUse', message);
export const resourceLimitExceeded = (message: string) => new CloudMapError('ResourceLimitExceeded', message);
export const duplicateRequest = (operationId: string, message = 'Another operation on this resource is in progress') =>
  new CloudMapError('DuplicateRequest', `${message}: ${operationId}`, { DuplicateOperationId: operationId });
export const customHealthNotFound = (serviceId: string) =>
  new CloudMapError('CustomHealthNotFound', `Service ${serviceId} has no custom health check configuration`);
export const tooManyTags = (resourceName: string, limit: number) =>
  new CloudMapError('TooManyTagsException', `A resource can have at most ${limit} tags: ${resourceName}`, { ResourceName: resourceName });
export const resourceNotFound = (arn: string) => new CloudMapError('ResourceNotFoundException', `Resource not found: ${arn}`);
export const serviceAttributesLimitExceeded = (limit: number) =>
  new CloudMapError('ServiceAttributesLimitExceededException', `A service can have at most ${limit} attributes`);

export class RegistryNotRunningError extends PharosError {
  constructor() {
    super(REGISTRY_NOT_RUNNING, 'the registry is not running (call start() first)');
  }
}

export const registryConflict = (key: string): PharosError => new PharosError(REGISTRY_CONFLICT, `too many concurrent changes to ${key}`);
