import { systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import { OrchestratorMetrics } from './metrics.ts';
import type { RegistryView } from '../registry/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { KV } from '../store/index.ts';
import { EcsApi } from './api.ts';
import { Registrar, type CloudMapWriter } from './registration.ts';
import { ServiceScheduler } from './scheduler.ts';
import { EcsStore } from './state.ts';
import { TaskSupervisor } from './supervisor.ts';

/** The node name written on task records when none is configured (one server, one node). */
export const DEFAULT_NODE = 'local';

export interface OrchestratorOptions {
  kv: KV;
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
}

/**
 * The ECS side of Pharos, put together: `api` (the ECS operations, for the API's target table),
 * the service scheduler and this node's task supervisor.
 */
export class Orchestrator {
  readonly api: EcsApi;
  readonly scheduler: ServiceScheduler;
  readonly supervisor: TaskSupervisor;
  private stopping?: Promise<void>;

  constructor(options: OrchestratorOptions) {
    const clock = options.clock ?? systemClock;
    const store = new EcsStore(options.kv);
    const metrics = options.metrics ? new OrchestratorMetrics(options.metrics) : undefined;
    const registrar = options.cloudMap ? new Registrar(options.cloudMap, options.registryView, options.region, clock) : undefined;
    this.supervisor = new TaskSupervisor({
      store,
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
    });
    this.scheduler = new ServiceScheduler({
      store,
      clock,
      logger: options.logger.child({ part: 'scheduler' }),
      availabilityZone: this.api.availabilityZone,
      metrics,
    });
  }

  /** Recovers this node's tasks from a previous run, then starts the supervisor and the scheduler. */
  async start(): Promise<void> {
    await this.supervisor.start();
    await this.scheduler.start();
  }

  /**
   * Stops the scheduler first (so nothing is replaced during shutdown), then the local tasks
   * (deregistered, stopped, recorded as STOPPED so the next start replaces them). Repeatable.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.scheduler.stop();
      await this.supervisor.stop();
    })();
    return this.stopping;
  }
}
