export * from './model.ts';
export * from './snapshot.ts';
export * from './errors.ts';
export { RAW_JSON, RAW_JSON_BYTES } from './discovery.ts';
export { Registry, DEFAULT_QUOTAS, type RegistryConfig, type RegistryOptions, type RegistryQuotas } from './registry.ts';
export * from './rdata.ts';
