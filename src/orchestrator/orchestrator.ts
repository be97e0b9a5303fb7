import { systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import { OrchestratorMetrics } from './metrics.ts';
import type { RegistryView } from '../registry/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { KV } from '../store/index.ts';
import { EcsApi } from './api.ts';
import { DEFAULT_AGENT_TIMEOUT_MS, InstanceKeeper, InstanceMonitor, waitForInstance } from './liveness.ts';
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
 * The ECS side of Pharos, put together: `api` (the ECS operations, for the API's target table,
 * served by every server) and, while `start()`ed (on the cluster leader), a term of leader work:
 * the service scheduler, this node's task supervisor, its built-in container instance and the
 * instance monitor. Each `start()` after a `stop()` builds a fresh term over the same metrics, so
 * a server that leads again schedules, heals and reports as it did in its first term.
 */
export class Orchestrator {
  readonly api: EcsApi;
  private readonly store: EcsStore;
  private readonly leaderStore: EcsStore;
  private readonly metrics?: OrchestratorMetrics;
  private readonly registrar?: Registrar;
  private readonly node: string;
  private readonly agentTimeoutMs: number;
  private term?: LeaderTerm;
  /** The term before, for the logs of the tasks it ran (`pharos logs` after a leadership change). */
  private previous?: LeaderTerm;
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly options: OrchestratorOptions) {
    this.store = new EcsStore(options.kv);
    this.leaderStore = options.leaderKv ? new EcsStore(options.leaderKv) : this.store;
    this.metrics = options.metrics ? new OrchestratorMetrics(options.metrics) : undefined;
    this.agentTimeoutMs = options.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS;
    this.node = options.node ?? DEFAULT_NODE;
    const clock = options.clock ?? systemClock;
    this.registrar = options.cloudMap ? new Registrar(options.cloudMap, options.registryView, options.region, clock) : undefined;
    this.api = new EcsApi({
      store: this.store,
      clock,
      region: options.region,
      accountId: options.accountId,
      availabilityZone: options.availabilityZone,
      cloudMapService: (id) => options.registryView.service(id),
      taskLogs: (taskId, container) => (this.term?.supervisor.logs(taskId, container) ?? this.previous?.supervisor.logs(taskId, container)),
      // Only the leader runs tasks, so only its built-in instance is created here; a follower's
      // new cluster gets the leader's instance from the leader's keeper, which watches clusters:
      // the follower waits for it, so a RunTask right after finds it.
      onClusterActive: (cluster) => (this.term ? (this.term.keeper?.ensure(cluster) ?? Promise.resolve()) : waitForInstance(this.store, clock, cluster.name)),
      agents: { agentTimeoutMs: this.agentTimeoutMs, logger: options.logger.child({ part: 'agents' }), registrar: this.registrar, drainDelayMs: options.drainDelayMs },
    });
  }

  /**
   * Starts a term: recovers this node's tasks from a previous run, starts the supervisor, the
   * built-in instance, the scheduler and the instance monitor. No-op while a term runs.
   */
  start(): Promise<void> {
    return this.serially(async () => {
      if (this.term) return;
      const term = this.newTerm();
      try {
        await term.supervisor.start();
        await term.keeper?.start();
        // Before the first pass places anything: other servers' built-in instances are not placeable.
        await term.monitor.start();
        await term.scheduler.start();
      } catch (err) {
        await stopTerm(term);
        throw err;
      }
      this.term = term;
    });
  }

  /**
   * Ends the term: the scheduler first (so nothing is replaced during shutdown), then the local
   * tasks (deregistered, stopped, recorded as STOPPED so the next leader replaces them). Repeatable.
   */
  stop(): Promise<void> {
    return this.serially(async () => {
      const term = this.term;
      if (!term) return;
      this.term = undefined;
      this.previous = term;
      await stopTerm(term);
    });
  }

  /** Runs start and stop one after another; a failed one does not block the next. */
  private serially(step: () => Promise<void>): Promise<void> {
    const done = this.transition.then(step);
    this.transition = done.catch(() => undefined);
    return done;
  }

  private newTerm(): LeaderTerm {
    const { options, store, leaderStore, metrics, registrar, node, agentTimeoutMs } = this;
    const clock = options.clock ?? systemClock;
    const supervisor = new TaskSupervisor({
      // Not fenced: a stepping-down leader's supervisor still records its tasks as STOPPED.
      source: new StoreTaskSource(store),
      runtime: options.runtime,
      registrar,
      clock,
      logger: options.logger.child({ part: 'supervisor' }),
      node,
      drainDelayMs: options.drainDelayMs,
      metrics,
    });
    const keeper =
      (options.runTasks ?? true)
        ? new InstanceKeeper({ store, clock, logger: options.logger.child({ part: 'instances' }), node, availabilityZone: this.api.availabilityZone, agentTimeoutMs })
        : undefined;
    const monitor = new InstanceMonitor({
      store: leaderStore,
      clock,
      logger: options.logger.child({ part: 'instances' }),
      agentTimeoutMs,
      node,
      deregister: async (task) => {
        if (!registrar) return;
        const serviceId = task.registration?.serviceId ?? registryServiceId((await registryOfTask(store, task))?.registryArn ?? '');
        if (serviceId) await registrar.deregister(task.id, { serviceId });
      },
    });
    const scheduler = new ServiceScheduler({
      store: leaderStore,
      clock,
      logger: options.logger.child({ part: 'scheduler' }),
      availabilityZone: this.api.availabilityZone,
      metrics,
    });
    return { supervisor, keeper, monitor, scheduler };
  }
}

async function stopTerm(term: LeaderTerm): Promise<void> {
  await term.monitor.stop();
  await term.scheduler.stop();
  term.keeper?.stop();
  await term.supervisor.stop();
}

/** The leader-only parts of one leadership term. */
interface LeaderTerm {
  readonly supervisor: TaskSupervisor;
  /** This server's built-in container instance in every cluster (absent with `--run-tasks=false`). */
  readonly keeper?: InstanceKeeper;
  /** Heals lost and deregistered container instances. */
  readonly monitor: InstanceMonitor;
  readonly scheduler: ServiceScheduler;
}
