import { jitter, type Clock, type Logger } from '../lib/index.ts';
import {
  UNCHANGED,
  type AgentCloudMapService,
  type ServiceRegistry,
  type TaskDefinitionRecord,
  type TaskRecord,
  type TaskRegistrar,
  type TaskRegistration,
  type TaskSource,
} from '../orchestrator/index.ts';
import type { AgentClient } from './client.ts';

/** A short request (state reports, registrations) gives up after this long and is retried by the supervisor. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Extra time a long poll may take beyond its wait before it counts as failed. */
const POLL_MARGIN_MS = 5000;
/** Wait between polls after a failed one: short, since polls are also the heartbeat. */
const POLL_RETRY_MS = 500;
/** CAS retries of one task report (the scheduler and the agent rarely write one task at once). */
const MAX_REPORT_ATTEMPTS = 20;

interface PollOutput {
  revision: number;
  instanceStatus: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  heartbeatSeconds: number;
  tasks: TaskRecord[];
  taskDefinitions: Record<string, TaskDefinitionRecord>;
  registries: Record<string, ServiceRegistry>;
  services: Record<string, AgentCloudMapService>;
}

interface ApiTaskSourceOptions {
  client: AgentClient;
  cluster: string;
  containerInstanceArn: string;
  clock: Clock;
  logger: Logger;
  /** Task ids the supervisor runs now (the server then also sends their records when STOPPED). */
  runningTasks: () => string[];
  /** The instance was deregistered: the agent should stop. */
  onInactive: () => void;
}

/**
 * The agent's TaskSource: task records arrive by long poll (`PollAgentTasks`, which is also the
 * heartbeat), observed state leaves by `SubmitAgentTaskState` with compare-and-swap on the task
 * version, and what the tasks need (task definitions, registries, Cloud Map drain settings)
 * comes with the poll. The agent has no other way into the store.
 */
export class ApiTaskSource implements TaskSource {
  private readonly records = new Map<string, TaskRecord>();
  private readonly taskDefinitions = new Map<string, TaskDefinitionRecord>();
  private readonly registries = new Map<string, ServiceRegistry>();
  readonly services = new Map<string, AgentCloudMapService>();
  private revision = 0;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly o: ApiTaskSourceOptions) {}

  private get instance() {
    return { cluster: this.o.cluster, containerInstance: this.o.containerInstanceArn };
  }

  async follow(onTask: (task: TaskRecord) => void, onError: (err: Error) => void): Promise<{ initial: TaskRecord[]; cancel(): void }> {
    const first = await this.poll(0);
    this.loop = (async () => {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        try {
          const out = await this.poll(undefined);
          for (const t of out.tasks) onTask(t);
        } catch (err) {
          if (signal.aborted) break;
          onError(err as Error);
          await this.o.clock.sleep(jitter(POLL_RETRY_MS), signal).catch(() => undefined);
        }
      }
    })();
    return { initial: first.tasks, cancel: () => this.abort.abort() };
  }

  /** Waits for the poll loop to end (after cancel). */
  async closed(): Promise<void> {
    await this.loop;
  }

  private async poll(waitSeconds: number | undefined): Promise<PollOutput> {
    const body = { ...this.instance, knownRevision: this.revision, runningTasks: this.o.runningTasks(), ...(waitSeconds !== undefined ? { waitSeconds } : {}) };
    const out = await this.o.client.call<PollOutput>('PollAgentTasks', body, (waitSeconds ?? 20) * 1000 + POLL_MARGIN_MS, this.abort.signal);
    this.revision = Math.max(this.revision, out.revision);
    for (const [arn, td] of Object.entries(out.taskDefinitions ?? {})) this.taskDefinitions.set(arn, td);
    for (const [id, r] of Object.entries(out.registries ?? {})) this.registries.set(id, r);
    for (const [id, s] of Object.entries(out.services ?? {})) this.services.set(id, s);
    for (const t of out.tasks ?? []) this.remember(t);
    if (out.instanceStatus === 'INACTIVE') this.o.onInactive();
    return out;
  }

  private remember(t: TaskRecord): void {
    const known = this.records.get(t.id);
    if (!known || t.version >= known.version) this.records.set(t.id, t);
    if (t.lastStatus === 'STOPPED') this.registries.delete(t.id);
  }

  async mutateTask(task: TaskRecord, fn: (current: TaskRecord) => TaskRecord | typeof UNCHANGED): Promise<TaskRecord | undefined> {
    let cur = this.records.get(task.id) ?? task;
    if (task.version > cur.version) cur = task;
    for (let attempt = 0; attempt < MAX_REPORT_ATTEMPTS; attempt++) {
      const next = fn(structuredClone(cur));
      if (next === UNCHANGED) return cur;
      const out = await this.o.client.call<{ conflict: boolean; task?: TaskRecord }>(
        'SubmitAgentTaskState',
        { ...this.instance, task: task.id, expectedVersion: cur.version, record: next },
        REQUEST_TIMEOUT_MS,
      );
      if (!out.task) return undefined;
      this.remember(out.task);
      if (!out.conflict) return out.task;
      cur = out.task;
    }
    throw new Error(`too much contention reporting task ${task.id}`);
  }

  async taskDefinition(arn: string): Promise<TaskDefinitionRecord | undefined> {
    return this.taskDefinitions.get(arn);
  }

  async registryOf(task: TaskRecord): Promise<ServiceRegistry | undefined> {
    return this.registries.get(task.id);
  }

  /** The server records registration failures itself; the agent's log has the rest. */
  async serviceEvent(): Promise<void> {}

  /** Cloud Map through the server (`SubmitAgentTaskRegistration`): the server registers with its own records. */
  registrar(): TaskRegistrar {
    const call = (task: string, action: string, extra: object = {}) =>
      this.o.client.call<{ registration: TaskRegistration | null }>('SubmitAgentTaskRegistration', { ...this.instance, task, action, ...extra }, REQUEST_TIMEOUT_MS);
    return {
      register: async (task) => {
        const out = await call(task.id, 'register');
        if (!out.registration) throw new Error('the server has no Cloud Map registry');
        return out.registration;
      },
      deregister: async (taskId) => {
        await call(taskId, 'deregister');
      },
      setCustomHealth: async (taskId, registration, status) => {
        if (!this.services.get(registration.serviceId)?.customHealth || registration.customHealth === status) return registration;
        return (await call(taskId, 'health', { status })).registration ?? registration;
      },
      hasCustomHealth: (serviceId) => this.services.get(serviceId)?.customHealth ?? false,
      drainDelayMs: (serviceId) => this.services.get(serviceId)?.drainDelayMs ?? 0,
    };
  }
}
