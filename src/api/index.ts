export { ApiServer, MAX_BODY_BYTES, MAX_DRAIN_BYTES, CLOSE_GRACE_MS, type ApiTarget, type ApiServerOptions, type OperationHandler } from './server.ts';
export { CLOUD_MAP_PREFIX, ECS_PREFIX, cloudMapTarget, ecsTarget, operationsOf, lowerCamel } from './targets.ts';
export {
  CLOUD_MAP_ERRORS,
  CLOUD_MAP_STYLE,
  ECS_ERRORS,
  ECS_STYLE,
  INTERNAL_FAILURE,
  SERIALIZATION_ERROR,
  UNKNOWN_OPERATION,
  REQUEST_TOO_LARGE,
  toWireError,
  type ErrorStyle,
  type ErrorTable,
} from './errors.ts';
