export {
  ApiServer,
  MAX_BODY_BYTES,
  MAX_DRAIN_BYTES,
  CLOSE_GRACE_MS,
  type ApiTarget,
  type ApiServerOptions,
  type OperationHandler,
  type PathRoute,
  type PathRequest,
  type PathOutcome,
  type HttpHandler,
  type RequestAuthenticator,
  type TlsMaterial,
} from './server.ts';
export { WatchHub, watchRoute, WATCH_PREFIX, DEFAULT_WAIT_MS, MAX_WAIT_MS, SSE_HEARTBEAT_MS, type WatchSource } from './watch.ts';
export { ConsoleBackend, CONSOLE_PREFIX, COALESCE_MS, HEARTBEAT_MS, MAX_EVENT_STREAMS, type ChangeFeed, type ConsoleBackendOptions } from './console.ts';
export { ConsoleSessions, SESSION_COOKIE, CSRF_HEADER, SESSION_TTL_MS, readCookie, type ConsoleSession } from './session.ts';
export { DEFAULT_HTTP_LIMITS, type HttpLimits } from './limits.ts';
export { CLOUD_MAP_PREFIX, ECS_PREFIX, CLOUD_MAP_SIGNING_NAME, ECS_SIGNING_NAME, cloudMapTarget, ecsTarget } from './targets.ts';
export {
  SigV4Verifier,
  FixedKeyHmac,
  MAX_CLOCK_SKEW_MS,
  SIGNING_SERVICES,
  SIGNATURE_MISMATCH_MESSAGE,
  deriveSigningKey,
  type Credentials,
  type SignedRequest,
  type VerifiedCaller,
} from './sigv4.ts';
export {
  CLOUD_MAP_STYLE,
  ECS_STYLE,
  INTERNAL_FAILURE,
  SERIALIZATION_ERROR,
  UNKNOWN_OPERATION,
  REQUEST_TOO_LARGE,
  MISSING_AUTHENTICATION_TOKEN,
  INCOMPLETE_SIGNATURE,
  INVALID_SIGNATURE,
  UNRECOGNIZED_CLIENT,
  BOUNDARY_ERRORS,
  toWireError,
  type ErrorStyle,
  type ErrorTable,
} from './errors.ts';
export { route53Route, ROUTE53_PREFIX, ROUTE53_SIGNING_NAME } from './route53.ts';
export { clusterRoute, CLUSTER_PATH, type ClusterSource } from './cluster.ts';
export { parseXml, writeXml, escapeXml, XmlError, type XmlElement } from './xml.ts';
