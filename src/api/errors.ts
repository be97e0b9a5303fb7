import { PharosError } from '../lib/index.ts';
import { ECS_ERRORS } from '../orchestrator/index.ts';
import { CLOUD_MAP_ERRORS } from '../registry/index.ts';

/**
 * The one error mapping of the HTTP boundary. Modules throw `PharosError`s whose `code` is the AWS
 * error code; each domain declares its codes once, with their statuses, in its `errors.ts`
 * (`CLOUD_MAP_ERRORS`, `ECS_ERRORS`), and this file reads those tables to decide what goes on the
 * wire: HTTP status, `__type`, the message member (`Message` for Cloud Map, `message` for ECS) and
 * the modeled extra members (`fields`). See docs/compatibility.md#errors.
 */

/** Codes the boundary itself produces, whatever the target. */
export const UNKNOWN_OPERATION = 'UnknownOperationException';
export const SERIALIZATION_ERROR = 'SerializationException';
export const REQUEST_TOO_LARGE = 'RequestEntityTooLargeException';
export const INTERNAL_FAILURE = 'InternalFailure';
/** limits.ts: this client address already has its cap of requests in flight (SDKs retry it with backoff); watch.ts: this client holds its cap of watches. */
export const THROTTLING = 'ThrottlingException';
/** SigV4 (sigv4.ts): no `Authorization` header at all. */
export const MISSING_AUTHENTICATION_TOKEN = 'MissingAuthenticationTokenException';
/** SigV4: an `Authorization` header (or `X-Amz-Date`) that cannot be parsed or lacks a part. */
export const INCOMPLETE_SIGNATURE = 'IncompleteSignatureException';
/** SigV4: the signature does not match, the request is too old or too new, or the scope is wrong. */
export const INVALID_SIGNATURE = 'InvalidSignatureException';
/** SigV4: the access key id is not one of the configured credentials. */
export const UNRECOGNIZED_CLIENT = 'UnrecognizedClientException';
/** browserguard.ts: without credentials, a request a browser sent for another site (rebinding, cross-site). */
export const ACCESS_DENIED = 'AccessDeniedException';

/** The store's code for an unreachable backend (store/errors.ts STORE_UNAVAILABLE; api does not import store). */
const STORE_UNAVAILABLE = 'StoreUnavailable';
/** What clients see for it: AWS's transient 503, retried by the SDKs. */
const SERVICE_UNAVAILABLE = 'ServiceUnavailable';

/** HTTP status per error code, for one service's codes. */
export type ErrorTable = Readonly<Record<string, number>>;

/**
 * The boundary's own codes, the same for every target. The authentication codes are the ones AWS
 * JSON (Coral) services such as DynamoDB, ECS and Cloud Map put in `__type`, with the `Exception`
 * suffix (the Query-protocol spellings `MissingAuthenticationToken`, `IncompleteSignature` belong
 * to XML services). Statuses as AWS sends them: 400 for a bad or unknown signature, 403 for a
 * request that carries no authentication at all (AWS common errors: MissingAuthenticationToken).
 * Clients read only `__type`, so the status is informative.
 */
export const BOUNDARY_ERRORS: ErrorTable = {
  [UNKNOWN_OPERATION]: 400,
  [SERIALIZATION_ERROR]: 400,
  [REQUEST_TOO_LARGE]: 413,
  [THROTTLING]: 400,
  [MISSING_AUTHENTICATION_TOKEN]: 403,
  [INCOMPLETE_SIGNATURE]: 400,
  [INVALID_SIGNATURE]: 400,
  [UNRECOGNIZED_CLIENT]: 400,
  [ACCESS_DENIED]: 403,
};

/** How one target prefix writes its errors. */
export interface ErrorStyle {
  /** Known codes and their statuses; a `PharosError` with any other code is a server fault. */
  errors: ErrorTable;
  /** `Message` (Cloud Map) or `message` (ECS). */
  messageKey: 'Message' | 'message';
  /** The `__type` of a server fault (status 500). */
  faultCode: string;
  /** The `__type` of input that is invalid (status 400): what a store refusal of a key built from input becomes. */
  invalidInputCode: string;
}

/**
 * The store's code for an argument it cannot hold (src/store/errors.ts STORE_INVALID_ARGUMENT):
 * a key with a NUL or an unpaired surrogate. Keys are built from names in requests, so it means
 * the request named something no record can have: a client error, not a fault.
 */
const STORE_INVALID_ARGUMENT = 'StoreInvalidArgument';

/** Cloud Map: `Message`, faults are `InternalFailure`. */
export const CLOUD_MAP_STYLE: ErrorStyle = { errors: CLOUD_MAP_ERRORS, messageKey: 'Message', faultCode: INTERNAL_FAILURE, invalidInputCode: 'InvalidInput' };
/** ECS: lowercase `message`, faults are `ServerException`. */
export const ECS_STYLE: ErrorStyle = { errors: ECS_ERRORS, messageKey: 'message', faultCode: 'ServerException', invalidInputCode: 'InvalidParameterException' };

/** An error as it goes on the wire. */
interface WireError {
  status: number;
  code: string;
  body: Record<string, unknown>;
  /** True for faults (5xx): the boundary logs these once; client errors are not logged. */
  fault: boolean;
}

/**
 * Errors the boundary raises before any module runs (unknown target, bad JSON, oversized body,
 * failed authentication); `code` is one of `BOUNDARY_ERRORS`, which gives the status.
 */
export class BoundaryError extends PharosError {
  readonly status: number;

  constructor(code: string, message: string) {
    super(code, message);
    this.status = BOUNDARY_ERRORS[code] ?? 400;
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
    if (err.code === STORE_INVALID_ARGUMENT) {
      const code = style.invalidInputCode;
      return { status: 400, code, body: { __type: code, [style.messageKey]: 'A name or id in the request holds a NUL character or an unpaired surrogate.' }, fault: false };
    }
  }
  if (err instanceof PharosError && err.code === STORE_UNAVAILABLE) {
    // The store is down or has lost quorum: a 503 that every AWS SDK retries on its own.
    return {
      status: 503,
      code: SERVICE_UNAVAILABLE,
      body: { __type: SERVICE_UNAVAILABLE, [style.messageKey]: 'The store (etcd) cannot be reached or has no quorum; retry later. Reads from DNS go on.' },
      fault: true,
    };
  }
  // Other unmodeled PharosErrors (a store failure) and plain exceptions: never leak internals to clients.
  return {
    status: 500,
    code: style.faultCode,
    body: { __type: style.faultCode, [style.messageKey]: 'An internal error occurred.' },
    fault: true,
  };
}
