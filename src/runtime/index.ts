/** Public surface of the task runtimes. See README.md and runtime.ts for the contract. */
export type * from './runtime.ts';
export * from './errors.ts';
export { createRuntime, chooseRuntime, DispatchRuntime, RUNTIME_CHOICES, type ChosenRuntime, type RuntimeChoice, type RuntimeOptions } from './create.ts';
export { ContainerRuntime, LABELS as CONTAINER_LABELS, DEFAULT_CONTAINER_PREFIX, type ContainerRuntimeOptions } from './container.ts';
export { Engine, parseEngineUrl, resolveEngineEndpoint, DEFAULT_ENGINE_SOCKETS, type EngineEndpoint, type EngineInfo } from './engine.ts';
export { ProcessRuntime, CLOSE_STOP_TIMEOUT_MS, type ProcessRuntimeOptions } from './process.ts';
export { NetnsRuntime, DEFAULT_BRIDGE, DEFAULT_NETNS_PREFIX, DEFAULT_VETH_PREFIX, type NetnsRuntimeOptions } from './netns.ts';
export { ETC_NETNS_DIR, TASK_RESOLV_OPTIONS, renderResolvConf } from './resolv.ts';
export { IpAllocator, DEFAULT_TASK_CIDR } from './ipalloc.ts';
export { TASK_LOG_LINES } from './logs.ts';
export { EXEC_OUTPUT_LIMIT } from './task.ts';
export { RuntimeMetrics } from './metrics.ts';
