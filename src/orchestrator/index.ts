/** Public surface of the ECS orchestrator. See README.md. */
export { Orchestrator, DEFAULT_NODE, type OrchestratorOptions } from './orchestrator.ts';
export { storedNodeName } from './nodename.ts';
export { EcsApi, type EcsApiOptions, type TaskLogLine } from './api.ts';
export { DEFAULT_CLUSTER } from './model.ts';
export { ServiceScheduler, BACKOFF_BASE_MS, BACKOFF_MAX_MS, SCHEDULER_TICK_MS, STOPPED_TASK_RETENTION_MS, UNHEALTHY_REASON } from './scheduler.ts';
export { TaskSupervisor, STOP_REASONS } from './supervisor.ts';
export { Registrar, instanceAttributes, type CloudMapWriter } from './registration.ts';
export { REGISTRY_MESSAGES, checkServiceRegistries, registryServiceId } from './registries.ts';
export { EcsStore } from './state.ts';
export { hostResources, AGENT_VERSION } from './containerinstances.ts';
export type { AgentCloudMapService, TaskSource, TaskRegistrar } from './tasksource.ts';
export { UNCHANGED } from './state.ts';
export * from './errors.ts';
export type * from './model.ts';
export { ecsKeys } from './model.ts';
