import { setMaxListeners } from 'node:events';
import { jitter, type Clock, type Logger, type Timer } from '../lib/index.ts';
import { ContainerCheck, Semaphore, TaskCommandProbe, type TaskExec } from '../health/index.ts';
import type { ContainerExit, LogLine, Runtime, RunningTask, TaskSpec } from '../runtime/index.ts';
import {
  deriveTaskHealth,
  isServing,
  markStopped,
  type ServiceRegistry,
  type StopCode,
  type TaskDefinitionRecord,
  type TaskHealth,
  type TaskRecord,
} from './model.ts';
import type { OrchestratorMetrics } from './metrics.ts';
import { portReady } from './readiness.ts';
import { registryServiceId } from './registries.ts';
import { UNCHANGED } from './state.ts';
import type { TaskRegistrar, TaskSource } from './tasksource.ts';
import { exitCodeOf, macOf, stopTimeoutMs, taskSpecOf } from './taskspec.ts';

/** How often every local task's registration is re-checked (retries after a registry error). */
const RESYNC_INTERVAL_MS = 2000;
/** SIGTERM→SIGKILL wait when the server itself shuts down: short, so shutdown is not held up for minutes. */
const SHUTDOWN_STOP_TIMEOUT_MS = 3000;
/**
 * Task starts in flight at once on this node: a service scaled to hundreds must not fork hundreds
 * of processes and namespaces in the same instant on a small machine; the rest wait in PENDING.
 */
const MAX_CONCURRENT_STARTS = 32;
/** Runtime handles of stopped tasks kept for their logs (`pharos logs`), newest last. */
const STOPPED_LOGS_KEPT = 200;

/** The ECS stopped reasons Pharos writes (ECS wording where ECS has one). */
export const STOP_REASONS = {
  essentialExited: 'Essential container in task exited',
  serverRestarted: 'Task stopped because the Pharos server restarted while it was running',
  serverShutdown: 'Task stopped because the Pharos server shut down',
  neverStarted: 'Task stopped before it started',
} as const;

interface SupervisorOptions {
  /** Where task records come from and go to: the store in a server, the API in an agent. */
  source: TaskSource;
  runtime: Runtime;
  /** Absent when no registry is wired (tasks then run unregistered). */
  registrar?: TaskRegistrar;
  clock: Clock;
  logger: Logger;
  /** This node's name on task records (`task.node`). */
  node: string;
  /** stoppedReason of this node's tasks found running at start (default: the server restarted). */
  restartReason?: string;
  /** Fixed drain delay in ms; undefined = the largest TTL of the task's Cloud Map records. */
  drainDelayMs?: number;
  metrics?: OrchestratorMetrics;
}

interface Handle {
  task: TaskRecord;
  taskDefinition?: TaskDefinitionRecord;
  registry?: ServiceRegistry;
  running?: RunningTask;
  monitors: Map<string, ContainerCheck>;
  /** Aborts a start in progress when a stop is asked for. */
  startAbort: AbortController;
  stopRequested: boolean;
  /** When the stop was asked for (clock ms), for the deregistration latency metric. */
  stopRequestedAt?: number;
  /** Per-task work queue: start, health changes, exits and the stop sequence never interleave. */
  queue: Promise<void>;
  unsubscribeExit?: () => void;
  done: boolean;
  registrationErrorReported?: boolean;
}

/**
 * Runs the tasks assigned to this node: claims PROVISIONING tasks from the store, starts them in
 * the runtime, runs their container health checks, registers them in Cloud Map once they are
 * RUNNING and healthy, and on a stop request walks DEACTIVATING (deregister, drain delay) →
 * STOPPING (SIGTERM, stopTimeout, SIGKILL) → STOPPED. It writes observed state to the task records;
 * it never decides to replace a task (that is the scheduler's job).
 */
export class TaskSupervisor {
  private readonly handles = new Map<string, Handle>();
  private readonly stoppedTasks = new Map<string, RunningTask>();
  private readonly startSlots = new Semaphore(MAX_CONCURRENT_STARTS);
  /** Stopped tasks whose deregistration failed: retried on every resync until Cloud Map agrees. */
  private readonly leftovers = new Map<string, TaskRecord>();
  private watch?: { cancel(): void };
  private resyncTimer?: Timer;
  private started = false;
  private stopping?: Promise<void>;
  private readonly shutdown = new AbortController();

  constructor(private readonly options: SupervisorOptions) {
    // Every task's drain and readiness waits listen on this one signal at once: 20 tasks are not a leak.
    setMaxListeners(0, this.shutdown.signal);
  }

  private get log(): Logger {
    return this.options.logger;
  }

  /** Recovers tasks a previous run left behind, then follows the task records. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // Events that arrive while the recovery below runs wait for it, so none is handled twice out of order.
    const early: TaskRecord[] = [];
    let recovering = true;
    const followed = await this.options.source.follow(
      (task) => (recovering ? early.push(task) : this.onTaskRecord(task)),
      (err) => this.log.error({ err }, 'ecs task watch failed'),
    );
    this.watch = followed;
    for (const task of followed.initial) await this.recoverOrAdopt(task);
    await this.options.runtime.releaseUnadopted?.(); // what no task record claimed
    recovering = false;
    for (const task of early.splice(0)) this.onTaskRecord(task);
    this.scheduleResync(jitter(RESYNC_INTERVAL_MS));
  }

  /**
   * Stops following the store and stops every local task (deregistered first, short stop timeout),
   * recording them as STOPPED so the scheduler replaces them on the next start. Repeatable.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.watch?.cancel();
      this.resyncTimer?.cancel();
      this.shutdown.abort();
      const all = [...this.handles.values()];
      for (const h of all) {
        if (!h.stopRequested) {
          h.stopRequested = true;
          h.startAbort.abort();
          this.enqueue(h, () => this.stopSequence(h, { code: 'TerminationNotice', reason: STOP_REASONS.serverShutdown, shutdown: true }));
        }
      }
      await Promise.all(all.map((h) => h.queue));
    })();
    return this.stopping;
  }

  /** Captured output of a task this node ran (live or recently stopped). */
  logs(taskId: string, container?: string): LogLine[] | undefined {
    const rt = this.handles.get(taskId)?.running ?? this.stoppedTasks.get(taskId);
    return rt?.logs(container);
  }

  /** Tasks this node is running now (for metrics and tests). */
  get liveTaskIds(): string[] {
    return [...this.handles.keys()];
  }

  // ------------------------------------------------------------ dispatch

  private onTaskRecord(task: TaskRecord): void {
    if (this.shutdown.signal.aborted) return;
    const h = this.handles.get(task.id);
    if (!h) {
      if (task.lastStatus === 'STOPPED') return;
      // Only tasks the scheduler placed on this node's instance (unplaced ones have no node yet).
      if (task.node !== this.options.node) return;
      if (task.lastStatus === 'PROVISIONING' && task.desiredStatus === 'RUNNING') {
        const handle = this.newHandle(task);
        this.enqueue(handle, () => this.startSequence(handle));
      } else if (task.lastStatus === 'PROVISIONING') {
        void this.finishUnstarted(task).catch((err) => this.log.error({ err, taskId: task.id }, 'could not record a stopped task'));
      }
      return;
    }
    // Watch events can trail our own CAS writes: never let an older copy replace a newer one.
    if (task.version >= h.task.version) h.task = task;
    if (task.desiredStatus === 'STOPPED' && !h.stopRequested) {
      h.stopRequested = true;
      h.stopRequestedAt = this.options.clock.now();
      h.startAbort.abort();
      this.enqueue(h, () => this.stopSequence(h, {}));
    }
  }

  /** At start, a task this node ran before a restart: adopted if the runtime kept it running, else recorded stopped. */
  private async recoverOrAdopt(task: TaskRecord): Promise<void> {
    if (task.lastStatus === 'STOPPED' || task.node !== this.options.node) return;
    if (task.lastStatus === 'PROVISIONING') return this.onTaskRecord(task);
    if (task.lastStatus === 'RUNNING' && task.desiredStatus === 'RUNNING' && (await this.adopt(task))) return;
    try {
      // Also when the record does not say it was registered: a crash between registering and
      // recording it must not leave the instance in Cloud Map.
      const registry = task.registration ? undefined : await this.registryOf(task);
      const serviceId = task.registration?.serviceId ?? (registry ? registryServiceId(registry.registryArn) : undefined);
      if (serviceId) await this.options.registrar?.deregister(task.id, { serviceId });
    } catch (err) {
      this.log.warn({ err, taskId: task.id }, 'could not deregister a task left over from a previous run');
    }
    const now = this.options.clock.now();
    await this.update(task, (t) => {
      if (t.desiredStatus === 'RUNNING') {
        t.desiredStatus = 'STOPPED';
        t.stopCode = 'TerminationNotice';
        t.stoppedReason = this.options.restartReason ?? STOP_REASONS.serverRestarted;
      }
      t.registration = undefined;
      markStopped(t, now);
    });
    this.log.info({ taskId: task.id }, 'task from a previous run recorded as stopped');
  }

  /** A task the runtime kept from the previous run, followed as if started here (its registration kept). */
  private async adopt(task: TaskRecord): Promise<boolean> {
    const td = this.options.runtime.adopt && (await this.taskDefinitionOf(task));
    if (!td) return false;
    const warn = (err: unknown) => void this.log.warn({ err, taskId: task.id }, 'could not adopt a task from a previous run');
    const rt = await Promise.resolve().then(() => this.options.runtime.adopt!(taskSpecOf(task, td))).catch(warn);
    if (!rt) return false;
    const h = Object.assign(this.newHandle(task), { taskDefinition: td, registry: await this.registryOf(task), running: rt });
    this.enqueue(h, () => this.follow(h, td, rt));
    this.log.info({ taskId: task.id, ipv4: rt.ipv4 }, 'task from a previous run adopted: its containers kept running');
    return true;
  }

  private newHandle(task: TaskRecord): Handle {
    const h: Handle = { task, monitors: new Map(), startAbort: new AbortController(), stopRequested: false, queue: Promise.resolve(), done: false };
    this.handles.set(task.id, h);
    return h;
  }

  private enqueue(h: Handle, fn: () => Promise<void>): void {
    h.queue = h.queue.then(fn).catch((err) => this.log.error({ err, taskId: h.task.id }, 'task supervisor step failed'));
  }

  // ------------------------------------------------------------ start

  private async startSequence(h: Handle): Promise<void> {
    const { clock, node } = this.options;
    let claimed = false;
    const now = clock.now();
    await this.update(h.task, (t) => {
      if (t.desiredStatus !== 'RUNNING' || t.lastStatus !== 'PROVISIONING' || t.node !== node) return false;
      claimed = true;
      t.node = node;
      t.lastStatus = 'PENDING';
      t.pullStartedAt = now;
      t.pullStoppedAt = now;
      return true;
    }, h);
    if (!claimed) {
      if (h.task.lastStatus === 'PROVISIONING' && h.task.desiredStatus === 'STOPPED') await this.finishUnstarted(h.task);
      this.forget(h);
      return;
    }
    const td = await this.taskDefinitionOf(h.task);
    if (!td) {
      await this.failStart(h, 'CannotStartContainerError: the task definition no longer exists');
      return;
    }
    h.taskDefinition = td;
    h.registry = await this.registryOf(h.task);
    let spec: TaskSpec;
    try {
      spec = taskSpecOf(h.task, td);
    } catch (err) {
      await this.failStart(h, (err as Error).message);
      return;
    }
    let rt: RunningTask;
    try {
      await this.startSlots.acquire(h.startAbort.signal);
      try {
        rt = await this.options.runtime.startTask(spec, h.startAbort.signal);
      } finally {
        this.startSlots.release();
      }
    } catch (err) {
      if (h.stopRequested) {
        await this.update(h.task, (t) => {
          // Asked to stop by StopTask/the scheduler (desired already STOPPED) or by a server shutdown.
          if (t.desiredStatus === 'RUNNING') {
            t.desiredStatus = 'STOPPED';
            t.stopCode = 'TerminationNotice';
            t.stoppedReason = STOP_REASONS.serverShutdown;
          }
          return markStopped(t, clock.now());
        }, h);
        this.forget(h);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ taskId: h.task.id, err: message }, 'task failed to start');
      await this.failStart(h, message);
      return;
    }
    h.running = rt;
    const startedAt = clock.now();
    const statuses = rt.containers();
    this.options.metrics?.tasksStarted.inc({ launch: h.task.serviceName === undefined ? 'runtask' : 'service' });
    this.options.metrics?.startSeconds.observe((startedAt - now) / 1000);
    await this.update(h.task, (t) => {
      t.lastStatus = 'RUNNING';
      t.startedAt = startedAt;
      t.privateIpv4Address = rt.ipv4;
      if (t.networkMode === 'awsvpc') t.macAddress = macOf(t.id);
      for (const c of t.containers) {
        c.lastStatus = 'RUNNING';
        c.networkBindings = rt.networkBindings
          .filter((b) => b.containerName === c.name)
          .map((b) => ({ bindIP: b.bindIP, containerPort: b.containerPort, hostPort: b.hostPort, protocol: b.protocol }));
        const s = statuses.find((x) => x.name === c.name);
        if (s?.runtimeId !== undefined) c.runtimeId = s.runtimeId;
        if (s?.imageDigest !== undefined) c.imageDigest = s.imageDigest;
      }
      return true;
    }, h);
    await this.follow(h, td, rt);
  }

  /** A running task: its exits handled, its health checks run, its registration brought in line. */
  private async follow(h: Handle, td: TaskDefinitionRecord, rt: RunningTask): Promise<void> {
    h.unsubscribeExit = rt.onContainerExit((exit) => this.enqueue(h, () => this.onContainerExit(h, exit)));
    this.startHealthChecks(h, td, rt);
    await this.syncRegistration(h);
  }

  private async failStart(h: Handle, reason: string): Promise<void> {
    const now = this.options.clock.now();
    await this.update(h.task, (t) => {
      if (t.desiredStatus === 'RUNNING') {
        t.desiredStatus = 'STOPPED';
        t.stopCode = 'TaskFailedToStart';
        t.stoppedReason = reason;
      }
      for (const c of t.containers) c.reason = reason;
      markStopped(t, now);
      return true;
    }, h);
    this.forget(h);
  }

  /** A task asked to stop before this node ever claimed it. */
  private async finishUnstarted(task: TaskRecord): Promise<void> {
    const now = this.options.clock.now();
    await this.update(task, (t) => {
      if (t.lastStatus !== 'PROVISIONING' || t.desiredStatus !== 'STOPPED') return false;
      t.stoppedReason ??= STOP_REASONS.neverStarted;
      markStopped(t, now);
      return true;
    });
  }

  // ------------------------------------------------------------ health

  private startHealthChecks(h: Handle, td: TaskDefinitionRecord, rt: RunningTask): void {
    for (const c of td.containerDefinitions) {
      if (!c.healthCheck || c.healthCheck.command[0] === 'NONE') continue;
      const exec: TaskExec = (argv, { timeoutMs, signal }) => rt.exec(argv, { timeoutMs, container: c.name, signal });
      const monitor = new ContainerCheck({
        taskId: h.task.id,
        container: c.name,
        check: c.healthCheck,
        probe: new TaskCommandProbe(c.healthCheck.command, c.healthCheck.timeout * 1000, exec),
        clock: this.options.clock,
        logger: this.log,
        // Queued with the task's other steps; the check goes on at once, as Docker's does.
        onChange: async (status, detail) => this.enqueue(h, () => this.onHealthChange(h, c.name, status, detail)),
      });
      h.monitors.set(c.name, monitor);
      monitor.start();
    }
  }

  private async onHealthChange(h: Handle, container: string, status: TaskHealth, detail: string): Promise<void> {
    if (h.stopRequested || h.done) return;
    const now = this.options.clock.now();
    this.log.info({ taskId: h.task.id, container, status, detail }, 'container health changed');
    await this.update(h.task, (t) => {
      const c = t.containers.find((x) => x.name === container);
      if (!c) return false;
      c.healthStatus = status;
      if (status === 'UNHEALTHY') c.reason = `container health check failed: ${detail}`.slice(0, 255);
      const health = deriveTaskHealth(t.containers);
      if (health !== t.healthStatus) t.healthChangedAt = now;
      t.healthStatus = health;
      return true;
    }, h);
    await this.syncRegistration(h);
  }

  // ------------------------------------------------------------ registration

  /** Brings Cloud Map in line with the task: registered while serving, marked or removed when not. */
  private async syncRegistration(h: Handle): Promise<void> {
    const registrar = this.options.registrar;
    const task = h.task;
    if (!registrar || !h.registry || !h.taskDefinition || h.stopRequested || h.done || task.lastStatus !== 'RUNNING') return;
    const serving = isServing(task);
    try {
      if (serving && !task.registration) {
        const target = { taskDefinition: h.taskDefinition, registry: h.registry, running: h.running!, abandoned: () => h.stopRequested || h.done };
        if (!(await portReady(target, this.options.clock, this.shutdown.signal))) return;
        const registration = await registrar.register(task, h.registry, h.taskDefinition);
        await this.update(task, (t) => ((t.registration = registration), true), h);
        if (task.startedAt !== undefined) this.options.metrics?.registerSeconds.observe((this.options.clock.now() - task.startedAt) / 1000);
        this.log.info({ taskId: task.id, serviceId: registration.serviceId }, 'task registered');
      } else if (task.registration && registrar.hasCustomHealth(task.registration.serviceId)) {
        const next = await registrar.setCustomHealth(task.id, task.registration, serving ? 'HEALTHY' : 'UNHEALTHY');
        if (next !== task.registration) await this.update(task, (t) => ((t.registration = next), true), h);
      } else if (task.registration && !serving) {
        // Without custom health Cloud Map cannot mark the instance, so it leaves until the task is healthy again.
        await registrar.deregister(task.id, task.registration);
        await this.update(task, (t) => ((t.registration = undefined), true), h);
      }
    } catch (err) {
      this.log.warn({ err, taskId: task.id }, 'cloud map registration failed; will retry');
      if (!h.registrationErrorReported && task.serviceName !== undefined) {
        // Once per task, so users see it in DescribeServices events, not only in the server log.
        h.registrationErrorReported = true;
        const message = err instanceof Error ? err.message : String(err);
        const now = this.options.clock.now();
        await this.options.source
          .serviceEvent(task, `(service ${task.serviceName}) (task ${task.id}) could not be registered in Cloud Map: ${message.slice(0, 300)}. Retrying.`, now)
          .catch(() => undefined);
      }
    }
    // A stop may have been asked for while we were registering: the stop sequence deregisters.
  }

  private scheduleResync(ms: number): void {
    if (this.shutdown.signal.aborted) return;
    this.resyncTimer = this.options.clock.setTimeout(() => {
      for (const h of this.handles.values()) {
        if (h.running && !h.stopRequested) this.enqueue(h, () => this.syncRegistration(h));
      }
      for (const [id, task] of this.leftovers) {
        if (!task.registration || !this.options.registrar) {
          this.leftovers.delete(id);
          continue;
        }
        this.options.registrar
          .deregister(id, task.registration)
          .then(() => {
            this.leftovers.delete(id);
            return this.update(task, (t) => ((t.registration = undefined), true));
          })
          .catch((err: unknown) => this.log.warn({ err, taskId: id }, 'deregistration retry failed'));
      }
      this.scheduleResync(RESYNC_INTERVAL_MS);
    }, ms);
  }

  // ------------------------------------------------------------ exits and stop

  private async onContainerExit(h: Handle, exit: ContainerExit): Promise<void> {
    if (h.done) return;
    const stopTask = exit.essential && !exit.stopRequested && !h.stopRequested;
    // Set before the write, so the watch echo of our own write does not queue a second stop.
    if (stopTask) h.stopRequested = true;
    await this.update(h.task, (t) => {
      const c = t.containers.find((x) => x.name === exit.name);
      if (!c) return false;
      c.lastStatus = 'STOPPED';
      const code = exitCodeOf(exit.exitCode, exit.signal);
      if (code !== undefined) c.exitCode = code;
      c.reason = exit.reason;
      if (exit.essential && !exit.stopRequested && t.desiredStatus === 'RUNNING') {
        t.desiredStatus = 'STOPPED';
        t.stopCode = 'EssentialContainerExited';
        t.stoppedReason = `${STOP_REASONS.essentialExited}: ${exit.name} ${exit.reason}`;
      }
      return true;
    }, h);
    if (stopTask) await this.stopSequence(h, { skipDrain: true });
  }

  /**
   * DEACTIVATING (deregister, drain delay) → STOPPING (SIGTERM, stopTimeout, SIGKILL) → STOPPED.
   * `code`/`reason` are written only if nobody asked for the stop before (server shutdown).
   */
  private async stopSequence(h: Handle, opts: { code?: StopCode; reason?: string; skipDrain?: boolean; shutdown?: boolean }): Promise<void> {
    if (h.done) return;
    const { clock, registrar } = this.options;
    // Monitors stop in the background: a check in flight must not delay the deregistration.
    const monitorsStopped = Promise.all([...h.monitors.values()].map((m) => m.stop()));
    h.monitors.clear();
    if (!h.running) {
      await monitorsStopped;
      // Never started (the stop won the race against the start): just record it.
      await this.update(h.task, (t) => {
        if (t.desiredStatus === 'RUNNING' && opts.code) {
          t.desiredStatus = 'STOPPED';
          t.stopCode = opts.code;
          t.stoppedReason = opts.reason;
        }
        markStopped(t, clock.now());
        return true;
      }, h);
      this.forget(h);
      return;
    }
    const stoppingAt = clock.now();
    // Deregister before anything else (even before writing DEACTIVATING): leaving DNS is the
    // latency users see after StopTask.
    const registration = h.task.registration;
    let deregistered = false;
    if (registration && registrar) {
      try {
        await registrar.deregister(h.task.id, registration);
        deregistered = true;
        this.options.metrics?.deregisterSeconds.observe((clock.now() - (h.stopRequestedAt ?? stoppingAt)) / 1000);
        this.log.info({ taskId: h.task.id, serviceId: registration.serviceId }, 'task deregistered');
      } catch (err) {
        this.log.warn({ err, taskId: h.task.id }, 'could not deregister a stopping task; will retry');
        this.leftovers.set(h.task.id, h.task);
      }
    }
    await this.update(h.task, (t) => {
      if (t.desiredStatus === 'RUNNING' && opts.code) {
        t.desiredStatus = 'STOPPED';
        t.stopCode = opts.code;
        t.stoppedReason = opts.reason;
      }
      t.stoppingAt ??= stoppingAt;
      if (t.lastStatus === 'RUNNING' || t.lastStatus === 'PENDING' || t.lastStatus === 'ACTIVATING') t.lastStatus = 'DEACTIVATING';
      if (deregistered) t.registration = undefined;
      return true;
    }, h);
    if (registration && registrar) {
      const drainMs = opts.skipDrain || opts.shutdown ? 0 : (this.options.drainDelayMs ?? registrar.drainDelayMs(registration.serviceId));
      if (drainMs > 0) {
        try {
          await clock.sleep(drainMs, this.shutdown.signal);
        } catch {
          // Server shutdown cuts the drain short.
        }
      }
    }
    await monitorsStopped;
    await this.update(h.task, (t) => ((t.lastStatus = 'STOPPING'), true), h);
    const timeoutMs = opts.shutdown ? SHUTDOWN_STOP_TIMEOUT_MS : stopTimeoutMs(h.taskDefinition);
    await h.running.stop({ timeoutMs });
    const statuses = h.running.containers();
    const now = clock.now();
    await this.update(h.task, (t) => {
      for (const c of t.containers) {
        const s = statuses.find((x) => x.name === c.name);
        c.lastStatus = 'STOPPED';
        if (s && c.exitCode === undefined) {
          const code = exitCodeOf(s.exitCode, s.signal);
          if (code !== undefined) c.exitCode = code;
        }
      }
      markStopped(t, now);
      return true;
    }, h);
    this.forget(h);
  }

  private forget(h: Handle): void {
    if (!h.done && h.task.lastStatus === 'STOPPED') this.options.metrics?.tasksStopped.inc({ stop_code: h.task.stopCode ?? 'none' });
    h.done = true;
    h.unsubscribeExit?.();
    this.handles.delete(h.task.id);
    if (h.running) {
      this.stoppedTasks.set(h.task.id, h.running);
      while (this.stoppedTasks.size > STOPPED_LOGS_KEPT) this.stoppedTasks.delete(this.stoppedTasks.keys().next().value!);
    }
  }

  // ------------------------------------------------------------ store access

  /**
   * CAS-updates a task record with `fn` (return false to leave it), bumping `version`, and keeps
   * the handle's copy current.
   */
  private async update(task: TaskRecord, fn: (t: TaskRecord) => boolean | void, h?: Handle): Promise<void> {
    const stored = await this.options.source.mutateTask(task, (cur) => {
      const next = structuredClone(cur);
      if (fn(next) === false) return UNCHANGED;
      // Someone else (a lost-instance heal) recorded the task STOPPED: that stands; only the
      // registration bookkeeping may still change.
      if (cur.lastStatus === 'STOPPED') {
        if (next.registration === cur.registration) return UNCHANGED;
        return { ...cur, registration: next.registration, version: cur.version + 1 };
      }
      next.version = cur.version + 1;
      return next;
    });
    if (stored && h) h.task = stored;
  }

  private taskDefinitionOf(task: TaskRecord): Promise<TaskDefinitionRecord | undefined> {
    return this.options.source.taskDefinition(task.taskDefinitionArn);
  }

  /** The registry of the task's deployment (RunTask tasks have none: they are never registered). */
  private registryOf(task: TaskRecord): Promise<ServiceRegistry | undefined> {
    return this.options.source.registryOf(task);
  }
}
