import { systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import { OrchestratorMetrics } from './metrics.ts';
import type { RegistryView } from '../registry/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { KV } from '../store/index.ts';
import { EcsApi } from './api.ts';
import { DEFAULT_AGENT_TIMEOUT_MS, InstanceKeeper, InstanceMonitor } from './liveness.ts';
import { registryServiceId } from './registries.ts';
import { Registrar, type CloudMapWriter } from './registration.ts';
import { ServiceScheduler } from './scheduler.ts';
import { EcsStore } from './state.ts';
import { TaskSupervisor } from './supervisor.ts';
import { registryOfTask, StoreTaskSource } from './tasksource.ts';

/** The node name written on task records when none is configured (one server, one node). */
export const DEFAULT_NODE = 'local';

export interface OrchestratorOptions {
  kv: KV;
  /**
   * The store as the scheduler and the instance monitor write to it: fenced by the leadership, so
   * a deposed leader cannot place, replace or heal tasks after the new one took over. The API,
   * the supervisor (it records its own tasks' ends, also while stepping down) and the built-in
   * instance (ensured by CreateCluster on any server) write through `kv`. Default `kv`.
   */
  leaderKv?: KV;
  runtime: Runtime;
  /** The registry snapshot: Cloud Map services (records, TTLs, health config) and instances. */
  registryView: RegistryView;
  /** Cloud Map writes (the registry). Without it, service tasks run but are never registered. */
  cloudMap?: CloudMapWriter;
  region: string;
  accountId: string;
  logger: Logger;
  clock?: Clock;
  node?: string;
  /** Fixed drain delay (ms) between deregistration and SIGTERM; default: the records' largest TTL. */
  drainDelayMs?: number;
  availabilityZone?: string;
  /** Prometheus registry for the `pharos_ecs_*` metrics. */
  metrics?: MetricsRegistry;
  /** Whether this server has a built-in container instance that runs tasks (default true; `--run-tasks`). */
  runTasks?: boolean;
  /** An agent silent this long is lost: its tasks leave Cloud Map and are replaced (`--agent-timeout`). */
  agentTimeoutMs?: number;
}

/**
 * The ECS side of Pharos, put together: `api` (the ECS operations, for the API's target table),
 * the service scheduler and this node's task supervisor.
 */
export class Orchestrator {
  readonly api: EcsApi;
  readonly scheduler: ServiceScheduler;
  readonly supervisor: TaskSupervisor;
  /** Heals lost and deregistered container instances. */
  readonly monitor: InstanceMonitor;
  /** The built-in container instance of this server in every cluster (absent with `--run-tasks=false`). */
  readonly keeper?: InstanceKeeper;
  private stopping?: Promise<void>;

  constructor(options: OrchestratorOptions) {
    const clock = options.clock ?? systemClock;
    const store = new EcsStore(options.kv);
    const leaderStore = options.leaderKv ? new EcsStore(options.leaderKv) : store;
    const metrics = options.metrics ? new OrchestratorMetrics(options.metrics) : undefined;
    const agentTimeoutMs = options.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS;
    const registrar = options.cloudMap ? new Registrar(options.cloudMap, options.registryView, options.region, clock) : undefined;
    this.supervisor = new TaskSupervisor({
      // Not fenced: a stepping-down leader's supervisor still records its tasks as STOPPED.
      source: new StoreTaskSource(store),
      runtime: options.runtime,
      registrar,
      clock,
      logger: options.logger.child({ part: 'supervisor' }),
      node: options.node ?? DEFAULT_NODE,
      drainDelayMs: options.drainDelayMs,
      metrics,
    });
    this.api = new EcsApi({
      store,
      clock,
      region: options.region,
      accountId: options.accountId,
      availabilityZone: options.availabilityZone,
      cloudMapService: (id) => options.registryView.service(id),
      taskLogs: (taskId, container) => this.supervisor.logs(taskId, container),
      onClusterActive: (cluster) => this.keeper?.ensure(cluster) ?? Promise.resolve(),
      agents: { agentTimeoutMs, logger: options.logger.child({ part: 'agents' }), registrar, drainDelayMs: options.drainDelayMs },
    });
    const node = options.node ?? DEFAULT_NODE;
    if (options.runTasks ?? true) {
      this.keeper = new InstanceKeeper({ store, clock, logger: options.logger.child({ part: 'instances' }), node, availabilityZone: this.api.availabilityZone, agentTimeoutMs });
    }
    this.monitor = new InstanceMonitor({
      store: leaderStore,
      clock,
      logger: options.logger.child({ part: 'instances' }),
      agentTimeoutMs,
      deregister: async (task) => {
        if (!registrar) return;
        const serviceId = task.registration?.serviceId ?? registryServiceId((await registryOfTask(store, task))?.registryArn ?? '');
        if (serviceId) await registrar.deregister(task.id, { serviceId });
      },
    });
    this.scheduler = new ServiceScheduler({
      store: leaderStore,
      clock,
      logger: options.logger.child({ part: 'scheduler' }),
      availabilityZone: this.api.availabilityZone,
      metrics,
    });
  }

  /** Recovers this node's tasks from a previous run, then starts the supervisor and the scheduler. */
  async start(): Promise<void> {
    await this.supervisor.start();
    await this.keeper?.start();
    await this.scheduler.start();
    this.monitor.start();
  }

  /**
   * Stops the scheduler first (so nothing is replaced during shutdown), then the local tasks
   * (deregistered, stopped, recorded as STOPPED so the next start replaces them). Repeatable.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.monitor.stop();
      await this.scheduler.stop();
      this.keeper?.stop();
      await this.supervisor.stop();
    })();
    return this.stopping;
  }
}
