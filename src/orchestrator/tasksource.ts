import { follow } from '../store/index.ts';
import { addServiceEvent } from './factory.ts';
import { ecsKeys, parseTaskDefinitionRef, type EcsServiceRecord, type ServiceRegistry, type TaskDefinitionRecord, type TaskRecord } from './model.ts';
import type { Registrar } from './registration.ts';
import { EcsStore, UNCHANGED } from './state.ts';

/**
 * What a task supervisor needs from the rest of Pharos, owned by the supervisor: in a server it is
 * the store (`StoreTaskSource`); in `pharos agent` it is the API (src/agent), so an agent never
 * touches the store.
 */
export interface TaskSource {
  /** Every task record the supervisor may own now, then each change as it happens. */
  follow(onTask: (task: TaskRecord) => void, onError: (err: Error) => void): Promise<{ initial: TaskRecord[]; cancel(): void }>;
  /**
   * Read-modify-write of one task record under compare-and-swap: `fn` gets a copy of the stored
   * record and returns the next one, or UNCHANGED. Resolves with what is stored afterwards.
   */
  mutateTask(task: TaskRecord, fn: (current: TaskRecord) => TaskRecord | typeof UNCHANGED): Promise<TaskRecord | undefined>;
  taskDefinition(arn: string): Promise<TaskDefinitionRecord | undefined>;
  /** The Cloud Map registry of a service task's deployment (RunTask tasks have none). */
  registryOf(task: TaskRecord): Promise<ServiceRegistry | undefined>;
  /** Adds an event to the task's service (what users read in DescribeServices). */
  serviceEvent(task: TaskRecord, message: string, now: number): Promise<void>;
}

/** Cloud Map settings of a service a task registers in, so the agent can time its drain. */
export interface AgentCloudMapService {
  customHealth: boolean;
  drainDelayMs: number;
}

/** The Cloud Map side a supervisor uses: the server's `Registrar`, or the agent's API-backed one. */
export type TaskRegistrar = Pick<Registrar, 'register' | 'deregister' | 'setCustomHealth' | 'hasCustomHealth' | 'drainDelayMs'>;

/** A TaskSource over the store: the server's own supervisor (its built-in container instance). */
export class StoreTaskSource implements TaskSource {
  constructor(private readonly store: EcsStore) {}

  async follow(onTask: (task: TaskRecord) => void, onError: (err: Error) => void): Promise<{ initial: TaskRecord[]; cancel(): void }> {
    const kv = this.store.kv;
    const listed = await kv.list(ecsKeys.taskPrefix);
    const initial = listed.items.flatMap((item) => parseTask(item.value) ?? []);
    const watch = follow(
      kv,
      ecsKeys.taskPrefix,
      listed,
      (events) => {
        for (const ev of events) {
          if (ev.type !== 'put' || ev.value === undefined) continue;
          const task = parseTask(ev.value);
          if (task) onTask(task);
        }
      },
      { onError },
    );
    return { initial, cancel: () => watch.cancel() };
  }

  mutateTask(task: TaskRecord, fn: (current: TaskRecord) => TaskRecord | typeof UNCHANGED): Promise<TaskRecord | undefined> {
    return this.store.mutate<TaskRecord>(ecsKeys.task(task.clusterName, task.id), (cur) => (cur ? fn(structuredClone(cur)) : UNCHANGED));
  }

  async taskDefinition(arn: string): Promise<TaskDefinitionRecord | undefined> {
    const ref = parseTaskDefinitionRef(arn);
    if (!ref || ref.revision === undefined) return undefined;
    return (await this.store.get<TaskDefinitionRecord>(ecsKeys.taskDefinition(ref.family, ref.revision)))?.value;
  }

  async registryOf(task: TaskRecord): Promise<ServiceRegistry | undefined> {
    return registryOfTask(this.store, task);
  }

  async serviceEvent(task: TaskRecord, message: string, now: number): Promise<void> {
    if (task.serviceName === undefined) return;
    await this.store.mutate<EcsServiceRecord>(ecsKeys.service(task.clusterName, task.serviceName), (cur) => {
      if (!cur) return UNCHANGED;
      const next = structuredClone(cur);
      addServiceEvent(next, message, now);
      return next;
    });
  }
}

/** The registry of a service task's deployment, from the store. */
export async function registryOfTask(store: EcsStore, task: TaskRecord): Promise<ServiceRegistry | undefined> {
  if (task.serviceName === undefined) return undefined;
  const svc = (await store.get<EcsServiceRecord>(ecsKeys.service(task.clusterName, task.serviceName)))?.value;
  if (!svc) return undefined;
  const deployment = svc.deployments.find((d) => d.id === task.deploymentId);
  return (deployment?.serviceRegistries ?? svc.serviceRegistries)[0];
}

function parseTask(text: string): TaskRecord | undefined {
  try {
    return JSON.parse(text) as TaskRecord;
  } catch {
    return undefined;
  }
}
