import { jitter, type Clock, type Logger, type Timer } from '../lib/index.ts';
import { follow, type Watch } from '../store/index.ts';
import { builtinInstance } from './containerinstances.ts';
import { ecsKeys, markStopped, type ClusterRecord, type ContainerInstanceRecord, type TaskRecord } from './model.ts';
import { EcsStore, UNCHANGED } from './state.ts';

/** ECS's wait before an agent that stopped heartbeating counts as disconnected (`--agent-timeout`). */
export const DEFAULT_AGENT_TIMEOUT_MS = 15_000;
/**
 * How often the monitor looks for silent instances: a small part of the timeout, so a lost host's
 * tasks leave DNS within the timeout plus a fraction of a second.
 */
const MONITOR_INTERVAL_MS = 250;
/** Heartbeats per agent timeout (the built-in instance's, and the agents' long-poll length). */
export const HEARTBEATS_PER_TIMEOUT = 3;

/**
 * How long CreateCluster on a server that does not lead waits for the leader's built-in instance
 * of the new cluster (the leader's keeper makes it when its cluster watch reports the cluster,
 * within milliseconds), so that a RunTask right after finds an instance to place on. A cluster
 * nobody makes one for (no leader, or a leader with --run-tasks=false) costs its CreateCluster
 * this once.
 */
export const LEADER_INSTANCE_WAIT_MS = 2000;
/** How often that wait looks; the store read is one range request. */
const LEADER_INSTANCE_POLL_MS = 20;

/** Resolves once `cluster` has a container instance, or after `timeoutMs` (see LEADER_INSTANCE_WAIT_MS). */
export async function waitForInstance(store: EcsStore, clock: Clock, cluster: string, timeoutMs = LEADER_INSTANCE_WAIT_MS): Promise<void> {
  const deadline = clock.now() + timeoutMs;
  while ((await store.kv.list(ecsKeys.clusterInstances(cluster), { limit: 1 })).items.length === 0 && clock.now() < deadline) await clock.sleep(LEADER_INSTANCE_POLL_MS);
}

/** Stopped reasons of tasks whose instance went away (ECS wording where it has one). */
export const LOST_REASONS = {
  lost: (id: string, seconds: number) => `Task stopped because its container instance ${id} was lost (no agent heartbeat for ${seconds} s)`,
  deregistered: (id: string) => `Task stopped because its container instance ${id} was deregistered`,
  notLeading: (id: string) => `Task stopped because its container instance ${id} is the built-in instance of a Pharos server that no longer leads`,
} as const;

/** Takes a task out of Cloud Map (the monitor calls it before recording the task STOPPED). */
export type Deregister = (task: TaskRecord) => Promise<void>;

/**
 * Keeps this server's built-in container instance alive in every ACTIVE cluster: created when a
 * cluster appears, heartbeat every timeout/3. `--run-tasks=false` simply does not start it.
 */
export class InstanceKeeper {
  private timer?: Timer;
  private watch?: Watch;
  private stopped = false;

  constructor(
    private readonly o: { store: EcsStore; clock: Clock; logger: Logger; node: string; availabilityZone: string; agentTimeoutMs: number },
  ) {}

  async start(): Promise<void> {
    const kv = this.o.store.kv;
    const rev = await kv.revision();
    await this.beat();
    this.watch = follow(kv, ecsKeys.clusterPrefix, rev, () => void this.beat().catch((err: unknown) => this.o.logger.warn({ err }, 'built-in instance heartbeat failed')), {
      logger: this.o.logger,
      onError: (err) => this.o.logger.error({ err }, 'cluster watch failed'),
    });
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.watch?.cancel();
  }

  /** Ensures the instance in one cluster (CreateCluster calls it so a new cluster can place at once). */
  async ensure(cluster: ClusterRecord): Promise<void> {
    if (cluster.status !== 'ACTIVE') return;
    const now = this.o.clock.now();
    const fresh = builtinInstance(cluster, this.o.node, this.o.availabilityZone, now);
    await this.o.store.mutate<ContainerInstanceRecord>(ecsKeys.instance(cluster.name, fresh.id), (cur) => {
      if (!cur) return fresh;
      // Deregistered by a user: stays out of placement until the cluster is created again.
      if (cur.status === 'INACTIVE') return UNCHANGED;
      return { ...cur, lastHeartbeatAt: now, agentConnected: true, cpu: fresh.cpu, memory: fresh.memory, version: cur.agentConnected ? cur.version : cur.version + 1 };
    });
  }

  private async beat(): Promise<void> {
    for (const cluster of await this.o.store.list<ClusterRecord>(ecsKeys.clusterPrefix)) await this.ensure(cluster);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.beat()
        .catch((err: unknown) => this.o.logger.warn({ err }, 'built-in instance heartbeat failed'))
        .finally(() => this.schedule());
    }, jitter(this.o.agentTimeoutMs / HEARTBEATS_PER_TIMEOUT));
  }
}

/**
 * Heals lost hosts: an instance whose heartbeat is older than the agent timeout is marked
 * disconnected, and every task on a disconnected or deregistered instance is taken out of Cloud
 * Map at once and recorded STOPPED, so the scheduler replaces it on the other instances. An agent
 * that comes back learns (through its poll) that those tasks are STOPPED and removes them.
 *
 * Only the leader runs the monitor, and only the leader's supervisor runs the tasks of its
 * built-in instance: another server's built-in instance (`node` differs) is disconnected at once,
 * without waiting for the timeout, so a new leader neither places tasks on the old leader's
 * instance nor leaves the old leader's tasks in DNS for the agent timeout.
 */
export class InstanceMonitor {
  private timer?: Timer;
  private stopped = false;
  private running?: Promise<void>;

  constructor(
    private readonly o: { store: EcsStore; clock: Clock; logger: Logger; agentTimeoutMs: number; deregister: Deregister; /** This server's node: its own built-in instances are kept. */ node?: string },
  ) {}

  /** A monitor that just started gives every agent a full timeout to check in (the server may have been down). */
  private startedAt = -Infinity;

  /** Runs a first pass at once (errors logged), then every MONITOR_INTERVAL_MS. */
  async start(): Promise<void> {
    this.startedAt = this.o.clock.now();
    this.stopped = false;
    this.running = this.checkOnce().catch((err: unknown) => this.o.logger.error({ err }, 'instance check failed'));
    await this.running;
    this.running = undefined;
    this.schedule(jitter(MONITOR_INTERVAL_MS));
  }

  /** Stops the loop; resolves once a check in progress has finished. Repeatable. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.running = this.checkOnce()
        .catch((err: unknown) => this.o.logger.error({ err }, 'instance check failed'))
        .finally(() => {
          this.running = undefined;
          this.schedule(MONITOR_INTERVAL_MS);
        });
    }, ms);
  }

  /** One pass (tests call it with a ManualClock). */
  async checkOnce(): Promise<void> {
    const { store, clock, agentTimeoutMs } = this.o;
    const now = clock.now();
    for (const instance of await store.list<ContainerInstanceRecord>(ecsKeys.instancePrefix)) {
      let current = instance;
      const silentSince = Math.max(instance.lastHeartbeatAt, this.startedAt);
      const otherServer = this.isOtherServer(instance);
      if (instance.status !== 'INACTIVE' && instance.agentConnected && (otherServer || now - silentSince > agentTimeoutMs)) {
        const updated = await store.mutate<ContainerInstanceRecord>(ecsKeys.instance(instance.clusterName, instance.id), (cur) => {
          // A heartbeat that arrived meanwhile wins.
          if (!cur || !cur.agentConnected || cur.lastHeartbeatAt !== instance.lastHeartbeatAt) return UNCHANGED;
          return { ...cur, agentConnected: false, version: cur.version + 1 };
        });
        if (updated) current = updated;
        if (!current.agentConnected && otherServer) this.o.logger.info({ instance: instance.id, cluster: instance.clusterName, node: instance.node }, 'built-in container instance of a server that does not lead: disconnected');
        else if (!current.agentConnected) this.o.logger.warn({ instance: instance.id, cluster: instance.clusterName, silentMs: now - instance.lastHeartbeatAt }, 'container instance lost: agent stopped heartbeating');
      }
      if (current.agentConnected && current.status !== 'INACTIVE') continue;
      const reason =
        current.status === 'INACTIVE'
          ? LOST_REASONS.deregistered(current.id)
          : otherServer
            ? LOST_REASONS.notLeading(current.id)
            : LOST_REASONS.lost(current.id, Math.round(agentTimeoutMs / 1000));
      await this.heal(current, reason, now);
    }
  }

  private isOtherServer(instance: ContainerInstanceRecord): boolean {
    return instance.builtin && this.o.node !== undefined && instance.node !== this.o.node;
  }

  private async heal(instance: ContainerInstanceRecord, reason: string, now: number): Promise<void> {
    const { store } = this.o;
    const tasks = (await store.list<TaskRecord>(ecsKeys.clusterTasks(instance.clusterName))).filter((t) => t.containerInstanceId === instance.id && t.lastStatus !== 'STOPPED');
    if (tasks.length === 0) return;
    // Out of DNS first, all at once: that is the latency clients see.
    await Promise.all(
      tasks.map((t) => this.o.deregister(t).catch((err: unknown) => this.o.logger.warn({ err, taskId: t.id }, 'could not deregister a task of a lost instance; recording it stopped anyway'))),
    );
    for (const t of tasks) {
      await store.mutate<TaskRecord>(ecsKeys.task(t.clusterName, t.id), (cur) => {
        if (!cur || cur.lastStatus === 'STOPPED' || cur.containerInstanceId !== instance.id) return UNCHANGED;
        const next = structuredClone(cur);
        if (next.desiredStatus === 'RUNNING' || next.stopCode === undefined) {
          next.desiredStatus = 'STOPPED';
          next.stopCode = 'TerminationNotice';
          next.stoppedReason = reason;
        }
        next.stoppingAt ??= now;
        markStopped(next, now);
        next.registration = undefined;
        next.version = cur.version + 1;
        return next;
      });
    }
    this.o.logger.warn({ instance: instance.id, tasks: tasks.map((t) => t.id), reason }, 'tasks of a lost or deregistered instance recorded as stopped');
  }
}
