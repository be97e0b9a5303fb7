import type Docker from 'dockerode';
import type { Logger } from '../lib/index.ts';
import { demux, errorText, statusOf, type Engine, type EngineInfo, type ImageInfo } from './engine.ts';
import {
  BadContainerSpecError,
  BadRuntimeConfigError,
  DependencyFailedError,
  EngineFailedError,
  NetworkModeUnsupportedError,
  RuntimeAbortedError,
  RuntimeClosedError,
  TaskExistsError,
  TaskStoppedError,
} from './errors.ts';
import { LineSplitter, LogRing } from './logs.ts';
import { observeStart, type RuntimeMetrics } from './metrics.ts';
import type { NetnsLease, NetnsRuntime } from './netns.ts';
import { processIdentity, serverIdentity } from './orphans.ts';
import { CLOSE_STOP_TIMEOUT_MS } from './process.ts';
import type {
  ContainerExit,
  ContainerSpec,
  ContainerStatus,
  ExecOptions,
  ExecResult,
  LogLine,
  NetworkBinding,
  NetworkMode,
  PortMappingSpec,
  Runtime,
  RunningTask,
  StopOptions,
  TaskDnsProvider,
  TaskSpec,
} from './runtime.ts';
import { validateTaskSpec } from './spec.ts';
import { EXEC_OUTPUT_LIMIT } from './task.ts';

/**
 * Labels on every container Pharos creates, so it finds its own (cleanup) and so `docker ps
 * --filter label=pharos.task-id=…` answers operators.
 */
export const LABELS = {
  /** The runtime's name prefix: cleanup() only touches containers with its own scope. */
  scope: 'pharos.scope',
  /** `<pid>@<start time>` of the server that created it: a dead server's containers are removed. */
  server: 'pharos.server',
  cluster: 'pharos.cluster',
  taskId: 'pharos.task-id',
  containerName: 'pharos.container-name',
} as const;

export const DEFAULT_CONTAINER_PREFIX = 'pharos-';
/** Docker's default bridge network (Podman's compat API maps it to its default network too). */
const DEFAULT_BRIDGE_NETWORK = 'bridge';
/** When `wait` breaks (engine restarted, socket closed), the container's state is polled this often: exits are still seen within 1 s. */
const EXIT_POLL_MS = 500;
/** A stopped container that `remove` cannot delete is retried this many times (the engine may still be tearing it down). */
const REMOVE_ATTEMPTS = 3;
/** A configured engine may be slow to answer on a loaded host (Podman's first request initialises its storage): wait this long before a task fails with RuntimeEngineUnavailable. */
const ENGINE_BUSY_TIMEOUT_MS = 30_000;
/** How long a container waits for its `dependsOn` conditions (the ECS agent's default container start timeout is 3 min). */
const DEPENDENCY_TIMEOUT_MS = 180_000;
/** A HEALTHY dependency's check is retried at its interval, but at least this often: starting dependents early matters more than a few extra execs. */
const HEALTHY_POLL_MAX_MS = 1000;
/** Engine error texts meaning a resource limit could not be applied (cgroup v1 hybrid hosts, rootless without delegation). */
const LIMIT_ERROR_RE = /cgroup|memory|cpu[ _.-]?shares|cpu\.|resource limit/i;

export interface ContainerRuntimeOptions {
  engine: Engine;
  /** Makes awsvpc tasks' namespaces (veth, address, resolv.conf); without it awsvpc tasks are refused. */
  netns?: NetnsRuntime;
  /** `AWS_INSTANCE_IPV4` of host and bridge tasks (their ports are host ports). Default 127.0.0.1. */
  advertiseAddress?: string;
  /** Engine network of bridge-mode tasks. Default `bridge`. */
  bridgeNetwork?: string;
  /** Container names are `<prefix><taskId>-<container>`; also the `pharos.scope` label. Default `pharos-`, or `pharos-<owner>-`. */
  namePrefix?: string;
  /** The server's identity (TaskHostOptions.owner): part of the default name prefix, so servers sharing an engine keep apart. */
  owner?: string;
  /**
   * When set (the API does not authenticate requests), every container runs as this user and a
   * task definition asking for another is refused, as with the process runtime.
   */
  taskUser?: string;
  metrics?: RuntimeMetrics;
  logger?: Logger;
}

/**
 * Runs the task definition's images in an OCI engine through the Docker Engine API (Podman's
 * `podman system service` or Docker Engine). host tasks use the host network, bridge tasks the
 * engine's bridge network with published ports (`hostPort` 0 = a port the engine picks, as ECS
 * dynamic host ports), and awsvpc tasks join a namespace the NetnsRuntime prepared (its veth,
 * task address and resolv.conf) by path — Podman's `ns:<path>` network mode, the pause-container
 * pattern with the namespace pinned by `ip netns` instead of a pause process.
 */
export class ContainerRuntime implements Runtime {
  readonly networkModes: readonly NetworkMode[] = ['host', 'bridge', 'awsvpc'];
  readonly engine: Engine;
  readonly namePrefix: string;
  readonly #netns: NetnsRuntime | undefined;
  readonly #advertise: string;
  readonly #bridgeNetwork: string;
  readonly #taskUser: string | undefined;
  readonly #live = new Map<string, ContainerTask>();
  readonly #starting = new Set<string>();
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #log: Logger | undefined;
  #info?: Promise<EngineInfo>;
  #closed = false;

  constructor(options: ContainerRuntimeOptions) {
    this.engine = options.engine;
    this.#netns = options.netns;
    this.#advertise = options.advertiseAddress ?? '127.0.0.1';
    this.#bridgeNetwork = options.bridgeNetwork ?? DEFAULT_BRIDGE_NETWORK;
    this.namePrefix = options.namePrefix ?? (options.owner ? `${DEFAULT_CONTAINER_PREFIX}${options.owner}-` : DEFAULT_CONTAINER_PREFIX);
    this.#taskUser = options.taskUser;
    this.#metrics = options.metrics;
    this.#log = options.logger;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(this.namePrefix)) throw new BadRuntimeConfigError(`container name prefix "${this.namePrefix}" is not valid`);
  }

  /** The engine's kind and version (probed once; a failed probe is retried by the next call). */
  info(): Promise<EngineInfo> {
    this.#info ??= this.engine.probe(ENGINE_BUSY_TIMEOUT_MS);
    this.#info.catch(() => (this.#info = undefined));
    return this.#info;
  }

  setTaskDns(provider: TaskDnsProvider | undefined): void {
    this.#netns?.setTaskDns(provider);
  }

  startTask(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    return observeStart(this.#metrics, 'container', () => this.#start(spec, signal));
  }

  async #start(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    if (this.#closed) throw new RuntimeClosedError();
    validateTaskSpec(spec, 'image');
    for (const c of spec.containers) {
      if (this.#taskUser !== undefined && c.user !== undefined && c.user !== this.#taskUser) {
        throw new BadContainerSpecError(
          `container ${c.name}: user ${JSON.stringify(c.user)} is honoured only when the API authenticates requests (pharos server --credentials); without credentials every task runs as ${this.#taskUser}`,
          { container: c.name },
        );
      }
    }
    if (this.#live.has(spec.taskId) || this.#starting.has(spec.taskId)) throw new TaskExistsError(spec.taskId);
    this.#starting.add(spec.taskId);
    let lease: NetnsLease | undefined;
    try {
      const info = await this.info();
      if (spec.networkMode === 'awsvpc' && (this.#netns === undefined || info.kind !== 'podman')) {
        const why = this.#netns === undefined ? 'no task network is configured' : 'joining a prepared network namespace needs Podman (Docker Engine cannot)';
        throw new NetworkModeUnsupportedError(`awsvpc (${why})`, ['host', 'bridge']);
      }
      if (!this.networkModes.includes(spec.networkMode)) throw new NetworkModeUnsupportedError(spec.networkMode, this.networkModes);
      const images = new Map<string, Promise<ImageInfo>>();
      for (const c of spec.containers) if (!images.has(c.image)) images.set(c.image, this.engine.ensureImage(c.image, signal));
      await Promise.all(images.values());
      if (signal?.aborted) throw new RuntimeAbortedError(spec.taskId);
      if (spec.networkMode === 'awsvpc') lease = await this.#netns!.lease(spec.taskId, signal);
      const task = new ContainerTask(this.engine.docker, spec, lease?.ipv4 ?? this.#advertise, lease, () => this.#live.delete(spec.taskId), this.#log);
      const leased = lease;
      lease = undefined; // the task owns it now: released when its last container is gone
      await task.start(
        spec.containers.map((c, i) => ({ c, image: images.get(c.image)!, create: this.#createOptions(spec, c, leased, i) })),
        signal,
      );
      if (this.#closed) {
        await task.stop({ timeoutMs: 0 });
        throw new RuntimeClosedError();
      }
      if (!task.isFinal) this.#live.set(spec.taskId, task);
      return task;
    } finally {
      await lease?.release();
      this.#starting.delete(spec.taskId);
    }
  }

  #createOptions(spec: TaskSpec, c: ContainerSpec, lease: NetnsLease | undefined, _index: number): Docker.ContainerCreateOptions {
    const env = Object.entries(c.environment ?? {}).map(([k, v]) => `${k}=${v}`);
    const host: Docker.HostConfig = { Init: false };
    const exposed: Record<string, object> = {};
    if (spec.networkMode === 'host') host.NetworkMode = 'host';
    else if (spec.networkMode === 'bridge') {
      host.NetworkMode = this.#bridgeNetwork;
      host.PortBindings = {};
      for (const pm of c.portMappings ?? []) {
        const key = `${pm.containerPort}/${pm.protocol}`;
        exposed[key] = {};
        // An empty HostPort asks the engine for a free one (ECS dynamic host port).
        host.PortBindings[key] = [{ HostIp: '', HostPort: pm.hostPort ? String(pm.hostPort) : '' }];
      }
    } else {
      host.NetworkMode = `ns:${lease!.path}`;
      // The task's resolv.conf (Pharos names through the gateway DNS), as `ip netns exec` shows it to processes.
      if (lease!.resolvConf !== undefined) host.Binds = [`${lease!.resolvConf}:/etc/resolv.conf:ro`];
    }
    if (c.memoryMiB !== undefined) host.Memory = c.memoryMiB * 1024 * 1024;
    if (c.cpuUnits !== undefined && c.cpuUnits > 0) host.CpuShares = Math.max(2, c.cpuUnits);
    const opts: Docker.ContainerCreateOptions = {
      name: this.containerName(spec.taskId, c.name),
      Image: c.image,
      Env: env,
      Labels: {
        [LABELS.scope]: this.namePrefix,
        [LABELS.server]: serverIdentity(),
        [LABELS.taskId]: spec.taskId,
        [LABELS.containerName]: c.name,
        ...(spec.cluster !== undefined ? { [LABELS.cluster]: spec.cluster } : {}),
      },
      ExposedPorts: exposed,
      HostConfig: host,
    };
    if (spec.networkMode !== 'host') opts.Hostname = spec.taskId.slice(0, 12);
    if (c.entryPoint !== undefined) opts.Entrypoint = c.entryPoint;
    if (c.command !== undefined) opts.Cmd = c.command;
    if (c.workingDirectory !== undefined) opts.WorkingDir = c.workingDirectory;
    const user = c.user ?? this.#taskUser;
    if (user !== undefined) opts.User = user;
    return opts;
  }

  containerName(taskId: string, container: string): string {
    return `${this.namePrefix}${taskId}-${container}`;
  }

  tasks(): RunningTask[] {
    return [...this.#live.values()];
  }

  /**
   * Removes containers with this runtime's scope whose server is gone (a `kill -9`ed or crashed
   * Pharos): they would otherwise run unaccounted, holding ports and task addresses. Containers of
   * a live server (this one, or another one on the same engine with the same prefix) are left
   * alone. The orchestrator records the tasks they belonged to as stopped and starts replacements.
   */
  async cleanup(): Promise<void> {
    try {
      await this.info();
    } catch {
      return; // no engine: nothing of ours can be running in it
    }
    const list = await this.engine.docker.listContainers({ all: true, filters: { label: [`${LABELS.scope}=${this.namePrefix}`] } });
    const me = serverIdentity();
    const orphans = list.filter((c) => {
      const server = c.Labels?.[LABELS.server];
      if (server === undefined || server === me) return false;
      const pid = Number(server.split('@')[0]);
      return !(Number.isInteger(pid) && pid > 0 && processIdentity(pid) === server);
    });
    await Promise.all(orphans.map((c) => removeContainer(this.engine.docker.getContainer(c.Id))));
    if (orphans.length === 0) return;
    this.#metrics?.cleanedUp.inc({ kind: 'container' }, orphans.length);
    this.#log?.info({ containers: orphans.map((c) => c.Names?.[0] ?? c.Id) }, 'removed containers left by a previous server');
  }

  async close(options: Partial<StopOptions> = {}): Promise<void> {
    this.#closed = true;
    const timeoutMs = options.timeoutMs ?? CLOSE_STOP_TIMEOUT_MS;
    await Promise.all(this.tasks().map((t) => t.stop({ timeoutMs })));
  }
}

interface Planned {
  c: ContainerSpec;
  image: Promise<ImageInfo>;
  create: Docker.ContainerCreateOptions;
}

interface Running {
  spec: ContainerSpec;
  handle: Docker.Container;
  status: ContainerStatus;
  /** Resolves when the container has exited and its exit is recorded. */
  exited: Promise<void>;
  /** Resolves when its log stream has ended (so the last lines are in the ring before removal). */
  logsDone: Promise<void>;
}

/** One task's containers in the engine. */
class ContainerTask implements RunningTask {
  readonly taskId: string;
  readonly networkMode: NetworkMode;
  readonly ipv4: string;
  readonly netns?: string;
  networkBindings: readonly NetworkBinding[] = [];
  readonly stopped: Promise<void>;

  readonly #docker: Docker;
  readonly #lease: NetnsLease | undefined;
  readonly #containers: Running[] = [];
  readonly #logs = new LogRing();
  readonly #exits: ContainerExit[] = [];
  readonly #listeners = new Set<(exit: ContainerExit) => void>();
  readonly #onFinal: () => void;
  readonly #log: Logger | undefined;
  #resolveStopped!: () => void;
  #stopPromise?: Promise<void>;
  #stopRequested = false;
  #created = false;
  #finalizing = false;
  #final = false;

  constructor(docker: Docker, spec: TaskSpec, ipv4: string, lease: NetnsLease | undefined, onFinal: () => void, log: Logger | undefined) {
    this.#docker = docker;
    this.taskId = spec.taskId;
    this.networkMode = spec.networkMode;
    this.ipv4 = ipv4;
    if (lease !== undefined) this.netns = lease.netns;
    this.#lease = lease;
    this.#onFinal = onFinal;
    this.#log = log;
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
  }

  get isFinal(): boolean {
    return this.#final;
  }

  /** Creates and starts every container in order; on failure removes them and rejects. */
  async start(planned: Planned[], signal?: AbortSignal): Promise<void> {
    try {
      for (const p of startOrder(planned)) {
        if (signal?.aborted) throw new RuntimeAbortedError(this.taskId);
        await this.#awaitDependencies(p.c, signal);
        await this.#startContainer(p);
      }
      if (signal?.aborted) throw new RuntimeAbortedError(this.taskId);
      this.networkBindings = await this.#bindings(planned);
    } catch (err) {
      this.#stopRequested = true;
      await Promise.all(this.#containers.map((c) => kill(c.handle, 'SIGKILL')));
      this.#created = true;
      this.#maybeFinalize();
      await this.stopped;
      throw err;
    }
    this.#created = true;
    this.#maybeFinalize();
  }

  /** ECS `dependsOn`: waits until every dependency meets its condition (bounded by DEPENDENCY_TIMEOUT_MS). */
  async #awaitDependencies(c: ContainerSpec, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + DEPENDENCY_TIMEOUT_MS;
    for (const d of c.dependsOn ?? []) {
      const dep = this.#containers.find((x) => x.spec.name === d.containerName)!;
      const fail = (why: string) => new DependencyFailedError(c.name, d.containerName, d.condition, why);
      if (d.condition === 'START') continue;
      if (d.condition === 'COMPLETE' || d.condition === 'SUCCESS') {
        const exited = await Promise.race([dep.exited.then(() => true), sleep(Math.max(0, deadline - Date.now()), signal).then(() => false)]);
        if (signal?.aborted) throw new RuntimeAbortedError(this.taskId);
        if (!exited) throw fail(`still running after ${DEPENDENCY_TIMEOUT_MS / 1000} s`);
        if (d.condition === 'SUCCESS' && dep.status.exitCode !== 0) throw fail(`exited with ${dep.status.exitCode ?? dep.status.signal}`);
        continue;
      }
      // HEALTHY: its health check passes once (the orchestrator's monitor takes over afterwards).
      const check = dep.spec.healthCheck;
      if (check === undefined) throw fail('it has no health check');
      for (;;) {
        if (dep.status.state === 'STOPPED') throw fail(`exited with ${dep.status.exitCode ?? dep.status.signal} before it was healthy`);
        const r = await this.exec(check.argv, { timeoutMs: check.timeoutMs, container: dep.spec.name, ...(signal ? { signal } : {}) });
        if (r.exitCode === 0) break;
        if (signal?.aborted) throw new RuntimeAbortedError(this.taskId);
        if (Date.now() > deadline) throw fail(`not healthy after ${DEPENDENCY_TIMEOUT_MS / 1000} s`);
        await sleep(Math.min(check.intervalMs, HEALTHY_POLL_MAX_MS), signal);
      }
    }
  }

  async #startContainer(p: Planned): Promise<void> {
    const name = p.c.name;
    const image = await p.image;
    let handle: Docker.Container;
    const limited = p.create.HostConfig?.Memory !== undefined || p.create.HostConfig?.CpuShares !== undefined;
    try {
      handle = await this.#createAndStart(p.create);
    } catch (err) {
      if (!limited || !LIMIT_ERROR_RE.test(errorText(err))) throw err;
      // The host's cgroups refused the limits: run without them, and say so where users look.
      const note = `[pharos] memory/cpu limits could not be applied on this host (${errorText(err).slice(0, 300)}); container runs without them`;
      this.#logs.push({ container: name, stream: 'stderr', line: note, at: Date.now() });
      this.#log?.warn({ taskId: this.taskId, container: name, err: errorText(err) }, 'memory/cpu limits not applied');
      const { Memory: _m, CpuShares: _c, ...rest } = p.create.HostConfig ?? {};
      handle = await this.#createAndStart({ ...p.create, HostConfig: rest });
    }
    const status: ContainerStatus = {
      name,
      essential: p.c.essential !== false,
      pid: 0,
      state: 'RUNNING',
      startedAt: new Date(),
      runtimeId: handle.id,
      imageDigest: image.digest,
    };
    const r: Running = { spec: p.c, handle, status, exited: Promise.resolve(), logsDone: Promise.resolve() };
    this.#containers.push(r);
    r.logsDone = this.#followLogs(r);
    r.exited = this.#watchExit(r);
    const info = await handle.inspect().catch(() => undefined);
    if (info?.State?.Pid) status.pid = info.State.Pid;
  }

  async #createAndStart(create: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    const name = create.Labels?.[LABELS.containerName] ?? String(create.name);
    let handle: Docker.Container;
    try {
      handle = await this.#docker.createContainer(create);
    } catch (err) {
      throw new EngineFailedError(name, 'create', errorText(err), err);
    }
    try {
      await handle.start();
    } catch (err) {
      await removeContainer(handle);
      throw new EngineFailedError(name, 'start', errorText(err), err);
    }
    return handle;
  }

  /** Host ports as the engine published them (dynamic ones are known only now). */
  async #bindings(planned: Planned[]): Promise<NetworkBinding[]> {
    const out: NetworkBinding[] = [];
    for (const p of planned) {
      const r = this.#containers.find((x) => x.spec.name === p.c.name)!;
      const published = this.networkMode === 'bridge' ? ((await r.handle.inspect()).NetworkSettings?.Ports ?? {}) : {};
      for (const pm of p.c.portMappings ?? []) out.push(bindingOf(p.c.name, pm, this.networkMode, this.ipv4, published));
    }
    return out;
  }

  /** Follows stdout/stderr into the ring from the container's start. */
  async #followLogs(r: Running): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await r.handle.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
    } catch {
      return;
    }
    const parts = demux(this.#docker, stream as never);
    const ends: Promise<void>[] = [];
    for (const which of ['stdout', 'stderr'] as const) {
      const split = new LineSplitter((line) => this.#logs.push({ container: r.spec.name, stream: which, line, at: Date.now() }));
      parts[which].on('data', (chunk: Buffer) => split.write(chunk));
      ends.push(new Promise((resolve) => parts[which].once('end', () => resolve(split.end()))));
    }
    await Promise.all(ends);
  }

  /** `wait` (a long poll the engine answers when the container stops); polls when it breaks. */
  async #watchExit(r: Running): Promise<void> {
    let state: { ExitCode?: number; OOMKilled?: boolean; Running?: boolean } | undefined;
    try {
      await r.handle.wait();
    } catch {
      // The connection broke: fall back to polling below.
    }
    for (;;) {
      try {
        state = (await r.handle.inspect()).State;
      } catch (err) {
        if (statusOf(err) === 404) break;
      }
      if (state !== undefined && !state.Running) break;
      await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
    }
    // The log stream ends when the container stops; give it a moment to deliver the last lines.
    await Promise.race([r.logsDone, new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS))]);
    const code = state?.ExitCode ?? null;
    const signal = signalOf(code, this.#stopRequested);
    r.status.state = 'STOPPED';
    r.status.exitCode = signal === null ? code : null;
    r.status.signal = signal;
    r.status.stoppedAt = new Date();
    const exit: ContainerExit = {
      taskId: this.taskId,
      name: r.spec.name,
      essential: r.status.essential,
      exitCode: r.status.exitCode,
      signal,
      stopRequested: this.#stopRequested,
      reason: state?.OOMKilled ? 'OutOfMemoryError: container killed due to memory usage' : signal !== null ? `killed by ${signal}` : `exited with code ${code}`,
    };
    this.#exits.push(exit);
    for (const l of this.#listeners) {
      try {
        l(exit);
      } catch {
        // listeners log their own errors
      }
    }
    this.#maybeFinalize();
  }

  #maybeFinalize(): void {
    if (!this.#created || this.#finalizing) return;
    if (this.#containers.some((c) => c.status.state === 'RUNNING')) return;
    this.#finalizing = true;
    void (async () => {
      await Promise.all(this.#containers.map((c) => removeContainer(c.handle)));
      await this.#lease?.release();
    })()
      .catch((err: unknown) => this.#log?.warn({ err, taskId: this.taskId }, 'could not remove a task container'))
      .finally(() => {
        this.#final = true;
        this.#onFinal();
        this.#resolveStopped();
      });
  }

  containers(): ContainerStatus[] {
    return this.#containers.map((c) => ({ ...c.status }));
  }

  onContainerExit(listener: (exit: ContainerExit) => void): () => void {
    this.#listeners.add(listener);
    const past = [...this.#exits];
    if (past.length > 0) {
      queueMicrotask(() => {
        if (this.#listeners.has(listener)) for (const e of past) listener(e);
      });
    }
    return () => this.#listeners.delete(listener);
  }

  stop({ timeoutMs }: StopOptions): Promise<void> {
    this.#stopPromise ??= this.#stop(timeoutMs);
    return this.#stopPromise;
  }

  /** SIGTERM, `timeoutMs`, SIGKILL — timed here, not by the engine's whole-second `stop?t=`. */
  async #stop(timeoutMs: number): Promise<void> {
    this.#stopRequested = true;
    const running = () => this.#containers.filter((c) => c.status.state === 'RUNNING');
    if (timeoutMs > 0) await Promise.all(running().map((c) => kill(c.handle, 'SIGTERM')));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))));
    await Promise.race([Promise.all(this.#containers.map((c) => c.exited)), graceOver]);
    clearTimeout(timer);
    await Promise.all(running().map((c) => kill(c.handle, 'SIGKILL')));
    await this.stopped;
  }

  /**
   * The engine's exec in the container (its environment, user and namespaces: what a Docker
   * HEALTHCHECK sees). A timed-out command is killed by its host pid when the engine runs on this
   * machine; otherwise it is abandoned.
   */
  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    if (this.#finalizing) throw new TaskStoppedError(this.taskId);
    const c = (options.container === undefined ? undefined : this.#containers.find((x) => x.spec.name === options.container)) ?? this.#containers[0]!;
    if (argv.length === 0 || argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
      return { exitCode: 127, signal: null, timedOut: false, output: 'exec: empty or invalid command' };
    }
    let exec: Docker.Exec;
    let stream: NodeJS.ReadWriteStream;
    try {
      exec = await c.handle.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
      stream = (await exec.start({})) as unknown as NodeJS.ReadWriteStream;
    } catch (err) {
      if (this.#finalizing || c.status.state === 'STOPPED') throw new TaskStoppedError(this.taskId);
      return { exitCode: 127, signal: null, timedOut: false, output: `exec: ${errorText(err)}`.slice(0, EXEC_OUTPUT_LIMIT) };
    }
    let output = '';
    let timedOut = false;
    const parts = demux(this.#docker, stream as never);
    const collect = (chunk: Buffer) => {
      if (output.length < EXEC_OUTPUT_LIMIT) output = (output + chunk.toString()).slice(0, EXEC_OUTPUT_LIMIT);
    };
    parts.stdout.on('data', collect);
    parts.stderr.on('data', collect);
    const ended = Promise.all([new Promise((r) => parts.stdout.once('end', r)), new Promise((r) => parts.stderr.once('end', r))]);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, options.timeoutMs));
      options.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    const finished = await Promise.race([ended.then(() => true), expired.then(() => false)]);
    clearTimeout(timer);
    if (!finished) {
      timedOut = true;
      const pid = (await exec.inspect().catch(() => undefined))?.Pid;
      if (pid !== undefined && pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile, or the engine runs elsewhere
        }
      }
      (stream as unknown as { destroy?: () => void }).destroy?.();
      return { exitCode: null, signal: 'SIGKILL', timedOut, output };
    }
    const code = (await exec.inspect().catch(() => undefined))?.ExitCode;
    return { exitCode: typeof code === 'number' ? code : null, signal: null, timedOut, output };
  }

  logs(container?: string): LogLine[] {
    return this.#logs.lines(container);
  }
}

/** Definition order, moved only as far as `dependsOn` requires (dependencies first); cycles and unknown names are refused. */
function startOrder(planned: Planned[]): Planned[] {
  const byName = new Map(planned.map((p) => [p.c.name, p]));
  const out: Planned[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: Planned): void => {
    if (state.get(p.c.name) === 'done') return;
    if (state.get(p.c.name) === 'visiting') throw new BadContainerSpecError(`container dependencies form a cycle through ${p.c.name}`);
    state.set(p.c.name, 'visiting');
    for (const d of p.c.dependsOn ?? []) {
      const dep = byName.get(d.containerName);
      if (dep === undefined || dep === p) throw new BadContainerSpecError(`container ${p.c.name} depends on unknown container "${d.containerName}"`);
      visit(dep);
    }
    state.set(p.c.name, 'done');
    out.push(p);
  };
  for (const p of planned) visit(p);
  return out;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One ECS network binding: published ports for bridge tasks, the task's (or host's) address otherwise. */
function bindingOf(container: string, pm: PortMappingSpec, mode: NetworkMode, ipv4: string, published: Record<string, { HostIp: string; HostPort: string }[] | null>): NetworkBinding {
  if (mode !== 'bridge') return { containerName: container, bindIP: mode === 'awsvpc' ? ipv4 : '0.0.0.0', containerPort: pm.containerPort, hostPort: pm.containerPort, protocol: pm.protocol };
  const hostPort = Number(published[`${pm.containerPort}/${pm.protocol}`]?.[0]?.HostPort);
  return { containerName: container, bindIP: '0.0.0.0', containerPort: pm.containerPort, hostPort: Number.isInteger(hostPort) && hostPort > 0 ? hostPort : pm.hostPort || pm.containerPort, protocol: pm.protocol };
}

/** 128 + n after a signal Pharos sent is reported as that signal (Docker's convention for exit codes). */
function signalOf(code: number | null, stopRequested: boolean): NodeJS.Signals | null {
  if (!stopRequested || code === null) return null;
  if (code === 137) return 'SIGKILL';
  if (code === 143) return 'SIGTERM';
  return null;
}

async function kill(handle: Docker.Container, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  try {
    await handle.kill({ signal });
  } catch {
    // not running any more (409) or gone (404): what a kill wanted anyway
  }
}

async function removeContainer(handle: Docker.Container): Promise<void> {
  for (let i = 0; i < REMOVE_ATTEMPTS; i++) {
    try {
      await handle.remove({ force: true, v: true });
      return;
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (i === REMOVE_ATTEMPTS - 1) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * (i + 1)));
    }
  }
}
