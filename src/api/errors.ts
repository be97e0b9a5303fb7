import { PharosError } from '../lib/index.ts';

/**
 * The one error table of the HTTP boundary. Modules throw `PharosError`s whose `code` is the AWS
 * error code; this file decides what goes on the wire: HTTP status, `__type`, the message member
 * (`Message` for Cloud Map, `message` for ECS) and the modeled extra members (`fields`).
 * @see CLOUDMAP-SPEC 2.3 (error response) and 4.1 (ECS errors)
 */

/** Codes the boundary itself produces, whatever the target. */
export const UNKNOWN_OPERATION = 'UnknownOperationException';
export const SERIALIZATION_ERROR = 'SerializationException';
export const REQUEST_TOO_LARGE = 'RequestEntityTooLargeException';
export const INTERNAL_FAILURE = 'InternalFailure';

/** HTTP status per error code, for one service's codes. */
export type ErrorTable = Readonly<Record<string, number>>;

/**
 * Cloud Map's 15 modeled error shapes (botocore 1.43.11). The model gives none an
 * `httpStatusCode`, so every one is a client error with status 400 (CLOUDMAP-SPEC 1).
 */
export const CLOUD_MAP_ERRORS: ErrorTable = {
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
};

/** ECS error shapes (2014-11-13 model): all client errors except `ServerException`, a fault (CLOUDMAP-SPEC 4.1). */
export const ECS_ERRORS: ErrorTable = {
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
};

/** How one target prefix writes its errors. */
export interface ErrorStyle {
  /** Known codes and their statuses; a `PharosError` with any other code is a server fault. */
  errors: ErrorTable;
  /** `Message` (Cloud Map) or `message` (ECS). */
  messageKey: 'Message' | 'message';
  /** The `__type` of a server fault (status 500). */
  faultCode: string;
}

/** Cloud Map: `Message`, faults are `InternalFailure`. */
export const CLOUD_MAP_STYLE: ErrorStyle = { errors: CLOUD_MAP_ERRORS, messageKey: 'Message', faultCode: INTERNAL_FAILURE };
/** ECS: lowercase `message`, faults are `ServerException` (CLOUDMAP-SPEC 4.1). */
export const ECS_STYLE: ErrorStyle = { errors: ECS_ERRORS, messageKey: 'message', faultCode: 'ServerException' };

/** An error as it goes on the wire. */
export interface WireError {
  status: number;
  code: string;
  body: Record<string, unknown>;
  /** True for faults (5xx): the boundary logs these once; client errors are not logged. */
  fault: boolean;
}

/** Errors the boundary raises before any module runs (unknown target, bad JSON, oversized body). */
export class BoundaryError extends PharosError {
  constructor(
    code: string,
    message: string,
    readonly status = 400,
  ) {
    super(code, message);
  }
}

/** Maps anything thrown by a handler (or the boundary) to its wire form, in one place. */
export function toWireError(err: unknown, style: ErrorStyle): WireError {
  if (err instanceof BoundaryError) {
    return { status: err.status, code: err.code, body: { __type: err.code, [style.messageKey]: err.message }, fault: false };
  }
  if (err instanceof PharosError) {
    const status = style.errors[err.code];
    if (status !== undefined) {
      // Modeled members first, so a stray `fields.__type` or message can never override the code.
      const body: Record<string, unknown> = { ...err.fields, __type: err.code, [style.messageKey]: err.message };
      return { status, code: err.code, body, fault: status >= 500 };
    }
  }
  // Unmodeled PharosErrors (a store failure) and plain exceptions: never leak internals to clients.
  return {
    status: 500,
    code: style.faultCode,
    body: { __type: style.faultCode, [style.messageKey]: 'An internal error occurred.' },
    fault: true,
  };
}
