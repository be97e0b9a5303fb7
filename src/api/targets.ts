import { CLOUD_MAP_STYLE, ECS_STYLE } from './errors.ts';
import type { ApiTarget, OperationHandler } from './server.ts';

/** `X-Amz-Target` prefix of Cloud Map (docs/compatibility.md#wire-protocol). */
export const CLOUD_MAP_PREFIX = 'Route53AutoNaming_v20170314';
/** `X-Amz-Target` prefix of ECS (docs/compatibility.md#protocol-and-identifiers). */
export const ECS_PREFIX = 'AmazonEC2ContainerServiceV20141113';
/** SigV4 signing name of Cloud Map (the model's `signingName`). */
export const CLOUD_MAP_SIGNING_NAME = 'servicediscovery';
/** SigV4 signing name of ECS. */
export const ECS_SIGNING_NAME = 'ecs';

/** The Cloud Map target: `Route53AutoNaming_v20170314.<Op>` → the registry's handler table, Cloud Map error style. */
export function cloudMapTarget(operations: Readonly<Record<string, OperationHandler>>): ApiTarget {
  return { prefix: CLOUD_MAP_PREFIX, operations, style: CLOUD_MAP_STYLE, signingName: CLOUD_MAP_SIGNING_NAME };
}

/** The ECS target: `AmazonEC2ContainerServiceV20141113.<Op>` → the ECS handler table, ECS errors (lowercase `message`, ServerException 500). */
export function ecsTarget(operations: Readonly<Record<string, OperationHandler>>): ApiTarget {
  return { prefix: ECS_PREFIX, operations, style: ECS_STYLE, signingName: ECS_SIGNING_NAME };
}
