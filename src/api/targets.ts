import { CLOUD_MAP_STYLE, ECS_STYLE } from './errors.ts';
import type { ApiTarget, OperationHandler } from './server.ts';

/** `X-Amz-Target` prefix of Cloud Map (CLOUDMAP-SPEC 0). */
export const CLOUD_MAP_PREFIX = 'Route53AutoNaming_v20170314';
/** `X-Amz-Target` prefix of ECS (CLOUDMAP-SPEC 4.1). */
export const ECS_PREFIX = 'AmazonEC2ContainerServiceV20141113';
/** SigV4 signing name of Cloud Map (the model's `signingName`, CLOUDMAP-SPEC 0). */
export const CLOUD_MAP_SIGNING_NAME = 'servicediscovery';
/** SigV4 signing name of ECS. */
export const ECS_SIGNING_NAME = 'ecs';

/** `CreateHttpNamespace` → `createHttpNamespace`. */
export function lowerCamel(operation: string): string {
  return operation.charAt(0).toLowerCase() + operation.slice(1);
}

/**
 * Builds a target table from an object whose methods are the operations in lowerCamel case (the
 * registry, the ECS orchestrator). A listed operation without a method is a wiring bug, reported
 * at start rather than as a 500 later.
 */
export function operationsOf(impl: object, operations: readonly string[]): Record<string, OperationHandler> {
  const table: Record<string, OperationHandler> = {};
  for (const operation of operations) {
    const method = (impl as Record<string, unknown>)[lowerCamel(operation)];
    if (typeof method !== 'function') throw new TypeError(`${impl.constructor.name} has no method ${lowerCamel(operation)} for ${operation}`);
    table[operation] = (input) => (method as (input: Record<string, unknown>) => unknown).call(impl, input);
  }
  return table;
}

/** The Cloud Map target: `Route53AutoNaming_v20170314.<Op>` → `registry.<op>(input)`, Cloud Map error style. */
export function cloudMapTarget(registry: object, operations: readonly string[]): ApiTarget {
  return { prefix: CLOUD_MAP_PREFIX, operations: operationsOf(registry, operations), style: CLOUD_MAP_STYLE, signingName: CLOUD_MAP_SIGNING_NAME };
}

/** The ECS target: `AmazonEC2ContainerServiceV20141113.<op>` with ECS errors (lowercase `message`, ServerException 500). */
export function ecsTarget(orchestrator: object, operations: readonly string[]): ApiTarget {
  return { prefix: ECS_PREFIX, operations: operationsOf(orchestrator, operations), style: ECS_STYLE, signingName: ECS_SIGNING_NAME };
}
