export * from './model.ts';
export * from './snapshot.ts';
export * from './errors.ts';
export {
  Registry,
  REGISTRY_OPERATIONS,
  RAW_JSON,
  DEFAULT_QUOTAS,
  methodNameOf,
  type RegistryOperation,
  type RegistryConfig,
  type RegistryOptions,
  type RegistryQuotas,
  type RegistryMethod,
} from './registry.ts';
export * from './rdata.ts';
