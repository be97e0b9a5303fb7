import { jitter, type Clock, type Logger, type Timer } from '../lib/index.ts';
import { follow, type Watch } from '../store/index.ts';
import { addServiceEvent, newDeploymentId, newTask } from './factory.ts';
import {
  ecsKeys,
  isLive,
  isServing,
  type DeploymentRecord,
  type EcsServiceRecord,
  type TaskDefinitionRecord,
  type TaskRecord,
  parseTaskDefinitionRef,
} from './model.ts';
import type { OrchestratorMetrics } from './metrics.ts';
import { EcsStore, UNCHANGED } from './state.ts';
import {
  assignInstance,
  compileConstraints,
  DEFAULT_SERVICE_STRATEGY,
  loadPicture,
  needsOf,
  place,
  reserve,
  taskDefinitionConstraints,
  UNABLE_TO_PLACE,
  type ClusterPicture,
} from './placement.ts';

/** Periodic pass, for what no store event announces: grace periods ending, backoff expiring. */
export const SCHEDULER_TICK_MS = 1000;
/** First retry delay after a task of a service fails to start or exits at once; doubles per failure. */
export const BACKOFF_BASE_MS = 1000;
/** Cap of that delay: a broken service retries about once a minute instead of spinning. */
export const BACKOFF_MAX_MS = 60_000;
/** STOPPED tasks stay visible to DescribeTasks this long (ECS keeps them at least an hour). */
export const STOPPED_TASK_RETENTION_MS = 60 * 60 * 1000;
/** How often STOPPED tasks past their retention are looked for (a full scan of the task keys). */
const COLLECT_INTERVAL_MS = 60_000;
/** Deployment circuit breaker threshold: half the desired count, at least 3 and at most 200 failed tasks (the ECS rule). */
const CIRCUIT_BREAKER_MIN = 3;
const CIRCUIT_BREAKER_MAX = 200;
/** ECS's stopped reason for tasks replaced after failing their container health checks. */
export const UNHEALTHY_REASON = 'Task failed container health checks';

interface SchedulerOptions {
  store: EcsStore;
  clock: Clock;
  logger: Logger;
  availabilityZone: string;
  stoppedTaskRetentionMs?: number;
  metrics?: OrchestratorMetrics;
}

/** ECS's stopped reason for tasks moved off a DRAINING container instance. */
export const DRAINING_REASON = 'Container instance is being drained';

/** What one pass decided for one service. */
interface Plan {
  stop: { task: TaskRecord; reason: string }[];
  start: { deployment: DeploymentRecord; count: number }[];
  patches: ((s: EcsServiceRecord) => void)[];
}

/**
 * The service scheduler: a level-triggered reconciler over the stored desired state. Each pass
 * compares every ACTIVE/DRAINING service with its tasks and writes the difference as task records
 * (new PROVISIONING tasks, or `desiredStatus: STOPPED` on tasks to stop); task supervisors do the
 * rest. Because it reads only the store, a restarted server simply resumes: tasks lost in the
 * restart are STOPPED records, and the next pass replaces them.
 *
 * Rules: keep `desiredCount` tasks of the PRIMARY deployment; replace tasks that turn UNHEALTHY
 * once `healthCheckGracePeriodSeconds` after their start have passed; roll deployments within
 * `minimumHealthyPercent`/`maximumPercent` (a task counts as healthy only when it is serving and,
 * for services with a registry, registered, so old tasks leave DNS only after new ones joined it);
 * back off exponentially when tasks fail to start; take DRAINING services to INACTIVE.
 */
export class ServiceScheduler {
  private watch?: Watch;
  private timer?: Timer;
  private running?: Promise<void>;
  private dirty = false;
  private stopped = false;
  private stopping?: Promise<void>;
  private readonly retentionMs: number;
  private lastCollect = -Infinity;

  constructor(private readonly options: SchedulerOptions) {
    this.retentionMs = options.stoppedTaskRetentionMs ?? STOPPED_TASK_RETENTION_MS;
  }

  async start(): Promise<void> {
    const kv = this.options.store.kv;
    const rev = await kv.revision();
    // Any change (or, after a compaction, the empty "look again" batch) asks for a pass.
    this.watch = follow(kv, ecsKeys.root, rev, () => this.kick(), {
      logger: this.options.logger,
      onError: (err) => this.options.logger.error({ err }, 'scheduler watch failed'),
    });
    this.schedule(jitter(SCHEDULER_TICK_MS));
    this.kick();
  }

  /** Stops the loop; resolves once a pass in progress has finished. Repeatable. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.watch?.cancel();
      this.timer?.cancel();
      await this.running;
    })();
    return this.stopping;
  }

  /** Asks for a pass soon; passes never overlap, and kicks during a pass cause one more. */
  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.running) return;
    this.running = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        const end = this.options.metrics?.schedulerPassSeconds.startTimer();
        try {
          this.options.metrics?.schedulerPasses.inc();
          await this.reconcileOnce();
          end?.();
        } catch (err) {
          this.options.logger.error({ err }, 'scheduler pass failed');
        }
      }
      this.running = undefined;
    })();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.kick();
      this.schedule(SCHEDULER_TICK_MS);
    }, ms);
  }

  /** One pass over every service (tests call it directly with a ManualClock). */
  async reconcileOnce(): Promise<void> {
    const { store } = this.options;
    const now = this.options.clock.now();
    this.tdCache.clear();
    this.pictures.clear();
    const services = await store.list<EcsServiceRecord>(ecsKeys.servicePrefix);
    const tasksByCluster = new Map<string, TaskRecord[]>();
    for (const t of await store.list<TaskRecord>(ecsKeys.taskPrefix)) {
      let list = tasksByCluster.get(t.clusterName);
      if (!list) tasksByCluster.set(t.clusterName, (list = []));
      list.push(t);
    }
    for (const [cluster, tasks] of tasksByCluster) await this.settleUnplaced(cluster, tasks, services, now);
    for (const svc of services) {
      if (svc.status === 'INACTIVE') continue;
      const tasks = tasksByCluster.get(svc.clusterName) ?? [];
      await this.reconcileService(svc, tasks.filter((t) => t.serviceName === svc.name), now);
    }
    if (now - this.lastCollect >= COLLECT_INTERVAL_MS) {
      this.lastCollect = now;
      await this.collectStoppedTasks(now);
    }
  }

  private async reconcileService(svc: EcsServiceRecord, tasks: TaskRecord[], now: number): Promise<void> {
    if (await this.circuitBreaker(svc, now)) return; // the next pass works on the new deployment state
    const plan: Plan = { stop: [], start: [], patches: [] };
    this.accountFailures(svc, tasks, now, plan);
    const stopping = new Set<string>();
    const stop = (task: TaskRecord, reason: string) => {
      if (stopping.has(task.id)) return;
      stopping.add(task.id);
      plan.stop.push({ task, reason });
    };

    // Replace tasks that failed their health checks, once the grace period is over.
    const graceMs = svc.healthCheckGracePeriodSeconds * 1000;
    for (const t of tasks) {
      if (isLive(t) && t.lastStatus === 'RUNNING' && t.healthStatus === 'UNHEALTHY' && now - (t.startedAt ?? now) >= graceMs) {
        stop(t, UNHEALTHY_REASON);
        const deploymentId = t.deploymentId;
        plan.patches.push((s) => {
          const d = s.deployments.find((x) => x.id === deploymentId);
          if (d) d.failedTasks++;
          addServiceEvent(s, `(service ${s.name}) (task ${t.id}) failed container health checks.`, now);
        });
      }
    }

    const primary = svc.deployments.find((d) => d.status === 'PRIMARY');
    const primaryPorts = primary ? hostPortsOf(await this.taskDefinition(primary.taskDefinitionArn)) : new Set<string>();
    const live = tasks.filter((t) => isLive(t) && !stopping.has(t.id));
    const desired = svc.status === 'DRAINING' || !primary ? 0 : svc.desiredCount;
    const serving = (t: TaskRecord) => isServing(t) && (this.registriesOf(svc, t).length === 0 || t.registration !== undefined);
    // Tasks on a DRAINING instance are replaced like an old deployment's: new ones start elsewhere
    // first, and they stop as minimumHealthyPercent allows (ECS's draining).
    const picture = await this.picture(svc.clusterName);
    const draining = (t: TaskRecord) => t.containerInstanceId !== undefined && picture.instances.get(t.containerInstanceId)?.status === 'DRAINING';
    let newLive = live.filter((t) => primary && t.deploymentId === primary.id && !draining(t));
    let oldLive = live.filter((t) => !primary || t.deploymentId !== primary.id || draining(t));

    // Scale in: the least useful tasks go first (not serving, then the newest).
    if (newLive.length > desired) {
      const ranked = [...newLive].sort((a, b) => Number(serving(a)) - Number(serving(b)) || (b.createdAt - a.createdAt));
      for (const t of ranked.slice(0, newLive.length - desired)) stop(t, `Scaling activity initiated by (deployment ${primary?.id ?? 'none'})`);
      newLive = newLive.filter((t) => !stopping.has(t.id));
    }

    const maxTotal = Math.floor((desired * svc.deploymentConfiguration.maximumPercent) / 100);
    const minHealthy = Math.ceil((desired * svc.deploymentConfiguration.minimumHealthyPercent) / 100);
    const replaced = (t: TaskRecord) => (draining(t) ? DRAINING_REASON : `Task replaced by (deployment ${primary?.id ?? 'none'})`);
    // Old tasks that are not serving are no use to anyone.
    for (const t of oldLive) if (!serving(t)) stop(t, replaced(t));
    oldLive = oldLive.filter((t) => !stopping.has(t.id));
    let healthy = newLive.filter(serving).length + oldLive.length;
    const oldest = [...oldLive].sort((a, b) => (a.startedAt ?? a.createdAt) - (b.startedAt ?? b.createdAt));
    while (oldest.length > 0 && healthy - 1 >= minHealthy) {
      const t = oldest.shift()!;
      stop(t, replaced(t));
      healthy--;
    }
    oldLive = oldLive.filter((t) => !stopping.has(t.id));
    const need = Math.max(0, desired - newLive.length);
    let room = Math.max(0, maxTotal - newLive.length - oldLive.length);
    if (need > 0 && room === 0 && oldLive.length > 0 && newLive.every(serving) && stopping.size === 0) {
      // maximumPercent leaves no room and minimumHealthyPercent forbids stopping: give way by one
      // old task, as ECS does, rather than stall the deployment forever.
      stop(oldLive[0]!, replaced(oldLive[0]!));
      oldLive = oldLive.slice(1);
      room = Math.max(0, maxTotal - newLive.length - oldLive.length);
    }
    let toStart = Math.min(need, room);
    if (primaryPorts.size > 0) {
      // Host-network tasks with fixed host ports: an instance can hold one task per port. Tasks
      // still draining hold theirs too. When an old task blocks the new one, it goes first
      // (minimumHealthyPercent gives way by one, as ECS does when no instance can place the task).
      const holders: TaskRecord[] = [];
      for (const t of tasks) {
        if (t.lastStatus === 'STOPPED' || (t.lastStatus === 'PROVISIONING' && t.desiredStatus === 'STOPPED')) continue;
        if (stopping.has(t.id) && t.lastStatus === 'PROVISIONING') continue;
        const ports = hostPortsOf(await this.taskDefinition(t.taskDefinitionArn));
        if ([...ports].some((p) => primaryPorts.has(p))) holders.push(t);
      }
      // One task per port on each ACTIVE, connected instance (ECS's rule); a holder on another
      // instance (draining, lost) does not take a slot, an unplaced one waits for one.
      const active = new Set(picture.candidates.filter((c) => c.instance.status === 'ACTIVE' && c.instance.agentConnected).map((c) => c.instance.id));
      const busy = holders.filter((t) => t.containerInstanceId === undefined || active.has(t.containerInstanceId)).length;
      toStart = Math.min(toStart, Math.max(0, active.size - busy));
      const blocking = holders.filter((t) => isLive(t) && !stopping.has(t.id) && t.deploymentId !== primary?.id);
      if (need > 0 && toStart === 0 && blocking.length > 0 && holders.every((t) => isLive(t) && !stopping.has(t.id))) {
        stop(blocking[0]!, `Task replaced by (deployment ${primary?.id ?? 'none'})`);
        oldLive = oldLive.filter((t) => !stopping.has(t.id));
      }
    }
    // A deployment the circuit breaker failed (without rollback) launches nothing more.
    if (primary?.rolloutState === 'FAILED') toStart = 0;
    const backoff = svc.backoff;
    if (toStart > 0 && backoff && now < backoff.notBefore) toStart = 0;
    if (toStart > 0 && primary) plan.start.push({ deployment: primary, count: toStart });

    // Rollout bookkeeping.
    if (primary && primary.rolloutState === 'IN_PROGRESS' && oldLive.length === 0 && toStart === 0 && newLive.length === desired && newLive.every(serving) && svc.status === 'ACTIVE') {
      const id = primary.id;
      plan.patches.push((s) => {
        const d = s.deployments.find((x) => x.id === id);
        // A deployment created since this pass read the service makes this one stale: leave it.
        if (!d || d.status !== 'PRIMARY' || d.rolloutState !== 'IN_PROGRESS') return;
        d.rolloutState = 'COMPLETED';
        d.rolloutStateReason = `ECS deployment ${id} completed.`;
        d.updatedAt = now;
        s.deployments = s.deployments.filter((x) => x.status === 'PRIMARY');
        s.backoff = undefined;
        addServiceEvent(s, `(service ${s.name}) has reached a steady state.`, now);
      });
    }
    // Old deployments leave the list once their last task is gone.
    const oldWithTasks = new Set(oldLive.map((t) => t.deploymentId));
    const emptied = svc.deployments.filter((d) => d.status !== 'PRIMARY' && !oldWithTasks.has(d.id)).map((d) => d.id);
    if (emptied.length > 0 && primary) plan.patches.push((s) => (s.deployments = s.deployments.filter((d) => !emptied.includes(d.id))));
    if (svc.status === 'DRAINING' && plan.stop.length === 0 && tasks.every((t) => t.lastStatus === 'STOPPED')) {
      plan.patches.push((s) => {
        if (s.status !== 'DRAINING') return;
        s.status = 'INACTIVE';
        s.deployments = [];
        addServiceEvent(s, `(service ${s.name}) has been deleted.`, now);
      });
    }
    await this.apply(svc, plan, now);
  }

  /**
   * The deployment circuit breaker: when the PRIMARY deployment's failed tasks reach the threshold,
   * its rollout is FAILED and, with `rollback`, the previous deployment comes back as a new PRIMARY.
   * Returns true when it changed the service.
   */
  private async circuitBreaker(svc: EcsServiceRecord, now: number): Promise<boolean> {
    const cb = svc.deploymentConfiguration.deploymentCircuitBreaker;
    const primary = svc.deployments.find((d) => d.status === 'PRIMARY');
    if (!cb.enable || svc.status !== 'ACTIVE' || !primary || primary.rolloutState !== 'IN_PROGRESS') return false;
    const threshold = Math.min(CIRCUIT_BREAKER_MAX, Math.max(CIRCUIT_BREAKER_MIN, Math.ceil(svc.desiredCount / 2)));
    if (primary.failedTasks < threshold) return false;
    let changed = false;
    await this.options.store.mutate<EcsServiceRecord>(ecsKeys.service(svc.clusterName, svc.name), (cur) => {
      const next = cur && structuredClone(cur);
      const d = next?.deployments.find((x) => x.id === primary.id && x.status === 'PRIMARY' && x.rolloutState === 'IN_PROGRESS');
      if (!next || !d) return UNCHANGED;
      changed = true;
      d.rolloutState = 'FAILED';
      d.rolloutStateReason = `ECS deployment circuit breaker: ${d.failedTasks} tasks failed.`;
      d.updatedAt = now;
      addServiceEvent(next, `(service ${next.name}) (deployment ${d.id}) deployment failed: ${d.failedTasks} tasks failed.`, now);
      const previous = next.deployments.find((x) => x.status === 'ACTIVE');
      if (cb.rollback && previous) {
        const id = newDeploymentId();
        d.status = 'ACTIVE';
        next.deployments = [
          { ...previous, id, status: 'PRIMARY', rolloutState: 'IN_PROGRESS', rolloutStateReason: `ECS deployment ${id} in progress (rolling back ${d.id}).`, failedTasks: 0, createdAt: now, updatedAt: now },
          ...next.deployments,
        ];
        next.taskDefinitionArn = previous.taskDefinitionArn;
        next.launchType = previous.launchType;
        next.networkConfiguration = previous.networkConfiguration;
        next.serviceRegistries = previous.serviceRegistries;
        next.backoff = undefined;
        addServiceEvent(next, `(service ${next.name}) rolling back to deployment ${previous.id} (${previous.taskDefinitionArn}).`, now);
      }
      return next;
    });
    return changed;
  }

  /** Counts tasks that failed to start or exited on their own since the last count, and sets the backoff. */
  private accountFailures(svc: EcsServiceRecord, tasks: TaskRecord[], now: number, plan: Plan): void {
    const since = Math.max(svc.failuresCountedUntil ?? 0, svc.createdAt - 1);
    const failed = tasks.filter(
      (t) => t.lastStatus === 'STOPPED' && (t.stopCode === 'TaskFailedToStart' || t.stopCode === 'EssentialContainerExited') && (t.stoppedAt ?? 0) > since,
    );
    if (failed.length === 0) return;
    const newest = Math.max(...failed.map((t) => t.stoppedAt ?? 0));
    plan.patches.push((s) => {
      if ((s.failuresCountedUntil ?? 0) >= newest) return;
      const failures = (s.backoff?.failures ?? 0) + failed.length;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(30, failures - 1));
      s.backoff = { failures, notBefore: now + delay };
      s.failuresCountedUntil = newest;
      for (const t of failed) {
        const d = s.deployments.find((x) => x.id === t.deploymentId);
        if (d) d.failedTasks++;
        addServiceEvent(s, `(service ${s.name}) (task ${t.id}) stopped: ${t.stoppedReason ?? t.stopCode}. Retrying in ${Math.round(delay / 1000)} s.`, now);
      }
    });
  }

  private registriesOf(svc: EcsServiceRecord, t: TaskRecord) {
    const d = svc.deployments.find((x) => x.id === t.deploymentId);
    return d?.serviceRegistries ?? svc.serviceRegistries;
  }

  private async apply(svc: EcsServiceRecord, plan: Plan, now: number): Promise<void> {
    const { store, logger } = this.options;
    const stoppedIds: string[] = [];
    for (const { task, reason } of plan.stop) {
      let changed = false;
      await store.mutate<TaskRecord>(ecsKeys.task(task.clusterName, task.id), (cur) => {
        if (!cur || cur.desiredStatus !== 'RUNNING') return UNCHANGED;
        changed = true;
        return { ...cur, desiredStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated', stoppedReason: reason, stoppingAt: now, version: cur.version + 1 };
      });
      if (changed) stoppedIds.push(task.id);
    }
    const startedIds: string[] = [];
    const startErrors: string[] = [];
    let unplaced: string | undefined;
    for (const { deployment, count } of plan.start) {
      const td = await this.taskDefinition(deployment.taskDefinitionArn);
      if (!td) {
        startErrors.push(`task definition ${deployment.taskDefinitionArn} does not exist`);
        continue;
      }
      for (let i = 0; i < count; i++) {
        const task = newTask({
          clusterName: svc.clusterName,
          clusterArn: svc.clusterArn,
          taskDefinition: td,
          launchType: deployment.launchType,
          networkConfiguration: deployment.networkConfiguration,
          availabilityZone: this.options.availabilityZone,
          group: `service:${svc.name}`,
          startedBy: deployment.id,
          serviceName: svc.name,
          deploymentId: deployment.id,
          tags: svc.propagateTags === 'SERVICE' ? svc.tags : svc.propagateTags === 'TASK_DEFINITION' ? td.tags : [],
          now,
        });
        const placed = await this.placeTask(task, td, svc);
        if (!placed.ok) unplaced = placed.reason;
        await store.create(ecsKeys.task(svc.clusterName, task.id), task);
        startedIds.push(task.id);
      }
    }
    if (unplaced !== undefined) {
      const message = `(service ${svc.name}) ${UNABLE_TO_PLACE} Reason: ${unplaced}`;
      // Said once per change of reason, not on every pass while it lasts.
      plan.patches.push((s) => {
        if (s.events[0]?.message !== message) addServiceEvent(s, message, now);
      });
    }
    if (stoppedIds.length > 0) {
      plan.patches.push((s) => addServiceEvent(s, `(service ${s.name}) has stopped ${stoppedIds.length} running tasks: ${stoppedIds.map((id) => `(task ${id})`).join(' ')}.`, now));
    }
    if (startedIds.length > 0) {
      plan.patches.push((s) => addServiceEvent(s, `(service ${s.name}) has started ${startedIds.length} tasks: ${startedIds.map((id) => `(task ${id})`).join(' ')}.`, now));
    }
    for (const e of startErrors) plan.patches.push((s) => addServiceEvent(s, `(service ${s.name}) was unable to start tasks: ${e}.`, now));
    if (plan.patches.length === 0) return;
    await store.mutate<EcsServiceRecord>(ecsKeys.service(svc.clusterName, svc.name), (cur) => {
      if (!cur || cur.createdAt !== svc.createdAt) return UNCHANGED;
      const next = structuredClone(cur);
      for (const p of plan.patches) p(next);
      return next;
    });
    if (startedIds.length + stoppedIds.length > 0) {
      logger.info({ service: svc.name, cluster: svc.clusterName, started: startedIds, stopped: stoppedIds }, 'scheduler changed tasks');
    }
  }

  /** This pass's picture of each cluster (instances and their load), built on first use. */
  private pictures = new Map<string, ClusterPicture>();

  private async picture(cluster: string): Promise<ClusterPicture> {
    let p = this.pictures.get(cluster);
    if (!p) this.pictures.set(cluster, (p = await loadPicture(this.options.store, cluster, (arn) => this.taskDefinition(arn))));
    return p;
  }

  /**
   * Chooses the task's container instance and writes it on the (not yet stored) record; a task that
   * fits nowhere is left unplaced (PROVISIONING, no node) and tried again on every pass.
   */
  private async placeTask(task: TaskRecord, td: TaskDefinitionRecord, svc: EcsServiceRecord | undefined): Promise<{ ok: true } | { ok: false; reason: string }> {
    const picture = await this.picture(task.clusterName);
    const needs = needsOf(td, task.group);
    let constraints;
    try {
      constraints = compileConstraints([...(svc?.placementConstraints ?? []), ...taskDefinitionConstraints(td)]);
    } catch (err) {
      // A task definition's expression is not checked at registration: say so instead of placing.
      return { ok: false, reason: (err as Error).message };
    }
    const decision = place(needs, picture.candidates, svc?.placementStrategy ?? DEFAULT_SERVICE_STRATEGY, constraints);
    if (!decision.ok) return { ok: false, reason: decision.reason };
    reserve(decision.candidate, needs);
    assignInstance(task, decision.candidate.instance);
    return { ok: true };
  }

  /**
   * Tasks no instance could take yet: placed when one can now, recorded STOPPED when they were
   * asked to stop (no supervisor owns them, so nobody else would).
   */
  private async settleUnplaced(cluster: string, tasks: TaskRecord[], services: EcsServiceRecord[], now: number): Promise<void> {
    const { store } = this.options;
    for (const t of tasks) {
      if (t.lastStatus !== 'PROVISIONING' || t.containerInstanceId !== undefined) continue;
      if (t.desiredStatus === 'STOPPED') {
        await store.mutate<TaskRecord>(ecsKeys.task(cluster, t.id), (cur) => {
          if (!cur || cur.containerInstanceId !== undefined || cur.lastStatus !== 'PROVISIONING') return UNCHANGED;
          const next = structuredClone(cur);
          next.lastStatus = 'STOPPED';
          next.stoppedAt = now;
          next.stoppedReason ??= 'Task stopped before it was placed';
          for (const c of next.containers) c.lastStatus = 'STOPPED';
          next.version++;
          return next;
        });
        continue;
      }
      const td = await this.taskDefinition(t.taskDefinitionArn);
      if (!td) continue;
      const svc = services.find((s) => s.clusterName === cluster && s.name === t.serviceName);
      const candidate = structuredClone(t);
      if (!(await this.placeTask(candidate, td, svc)).ok) continue;
      await store.mutate<TaskRecord>(ecsKeys.task(cluster, t.id), (cur) => {
        if (!cur || cur.containerInstanceId !== undefined || cur.lastStatus !== 'PROVISIONING' || cur.desiredStatus !== 'RUNNING') return UNCHANGED;
        const next = structuredClone(cur);
        assignInstance(next, this.pictures.get(cluster)!.instances.get(candidate.containerInstanceId!)!);
        next.version++;
        return next;
      });
    }
  }

  /** Task definitions never change once registered (only their status), so a pass may cache them. */
  private tdCache = new Map<string, TaskDefinitionRecord | undefined>();

  private async taskDefinition(arn: string): Promise<TaskDefinitionRecord | undefined> {
    if (this.tdCache.has(arn)) return this.tdCache.get(arn);
    const ref = parseTaskDefinitionRef(arn);
    const td = !ref || ref.revision === undefined ? undefined : (await this.options.store.get<TaskDefinitionRecord>(ecsKeys.taskDefinition(ref.family, ref.revision)))?.value;
    this.tdCache.set(arn, td);
    return td;
  }

  private async collectStoppedTasks(now: number): Promise<void> {
    const { store } = this.options;
    const { items } = await store.kv.list(ecsKeys.taskPrefix);
    for (const item of items) {
      if (!item.value.includes('"lastStatus":"STOPPED"')) continue;
      const t = JSON.parse(item.value) as TaskRecord;
      if (t.lastStatus === 'STOPPED' && now - (t.stoppedAt ?? now) > this.retentionMs) {
        await store.kv.txn([{ type: 'delete', key: item.key, prevRevision: item.modRevision }]).catch(() => undefined);
      }
    }
  }
}

/** `port/protocol` of every fixed host port a host/bridge task definition binds (none for awsvpc). */
function hostPortsOf(td: TaskDefinitionRecord | undefined): Set<string> {
  if (!td || td.networkMode === 'awsvpc' || td.networkMode === 'none') return new Set();
  return new Set(td.containerDefinitions.flatMap((c) => c.portMappings.map((m) => `${m.hostPort || m.containerPort}/${m.protocol}`)));
}
