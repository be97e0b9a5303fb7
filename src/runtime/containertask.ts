import type Docker from 'dockerode';
import type { Logger } from '../lib/index.ts';
import { engineExec } from './containerexec.ts';
import { bindingOf, LABELS, signalOf, startOrder } from './containerspec.ts';
import { demux, errorText, killContainer, removeContainer, statusOf, type ImageInfo } from './engine.ts';
import { DependencyFailedError, EngineFailedError, RuntimeAbortedError, TaskStoppedError } from './errors.ts';
import { LineSplitter, LogRing, TASK_LOG_LINES } from './logs.ts';
import type {
  ContainerExit,
  ContainerSpec,
  ContainerStatus,
  ExecOptions,
  ExecResult,
  LogLine,
  NetworkBinding,
  NetworkMode,
  RunningTask,
  StopOptions,
  TaskSpec,
} from './runtime.ts';
import { TaskBook } from './taskbook.ts';

/** When `wait` breaks (engine restarted, socket closed), the container's state is polled this often: exits are still seen within 1 s. */
const EXIT_POLL_MS = 500;
/** How long a container waits for its `dependsOn` conditions (the ECS agent's default container start timeout is 3 min). */
const DEPENDENCY_TIMEOUT_MS = 180_000;
/** A HEALTHY dependency's check is retried at its interval, but at least this often: starting dependents early matters more than a few extra execs. */
const HEALTHY_POLL_MAX_MS = 1000;
/** Engine error texts meaning a resource limit could not be applied (cgroup v1 hybrid hosts, rootless without delegation). */
const LIMIT_ERROR_RE = /cgroup|memory|cpu[ _.-]?shares|cpu\.|resource limit/i;

/** A container to create: its spec, its image (being made present) and the engine's create options. */
interface PlannedContainer {
  c: ContainerSpec;
  image: Promise<ImageInfo>;
  create: Docker.ContainerCreateOptions;
}

/** A container found running in the engine after a restart (see ContainerTask.adopt). */
interface FoundContainer {
  c: ContainerSpec;
  handle: Docker.Container;
  info: Docker.ContainerInspectInfo;
  imageDigest?: string;
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

/** Where a ContainerTask lives on the network, and how to give that back. */
interface ContainerTaskNetwork {
  ipv4: string;
  netns?: string;
  /** Frees the task's network (pause container, namespace, address) once its containers are removed. Never rejects. */
  release(): Promise<void>;
}

/** One task's containers in the engine. */
export class ContainerTask implements RunningTask {
  readonly taskId: string;
  readonly networkMode: NetworkMode;
  readonly ipv4: string;
  readonly netns?: string;
  networkBindings: readonly NetworkBinding[] = [];
  readonly stopped: Promise<void>;

  readonly #docker: Docker;
  readonly #containers: Running[] = [];
  readonly #logs = new LogRing();
  readonly #book: TaskBook;
  readonly #log: Logger | undefined;

  constructor(docker: Docker, spec: TaskSpec, network: ContainerTaskNetwork, onFinal: () => void, log: Logger | undefined) {
    this.#docker = docker;
    this.taskId = spec.taskId;
    this.networkMode = spec.networkMode;
    this.ipv4 = network.ipv4;
    if (network.netns !== undefined) this.netns = network.netns;
    this.#log = log;
    this.#book = new TaskBook(
      spec.taskId,
      async () => {
        try {
          await Promise.all(this.#containers.map((c) => removeContainer(c.handle)));
        } catch (err) {
          this.#log?.warn({ err, taskId: this.taskId }, 'could not remove a task container');
        }
        await network.release();
      },
      onFinal,
    );
    this.stopped = this.#book.stopped;
  }

  get isFinal(): boolean {
    return this.#book.isFinal;
  }

  /** Creates and starts every container in order; on failure removes them and rejects. */
  async start(planned: PlannedContainer[], signal?: AbortSignal): Promise<void> {
    try {
      for (const p of startOrder(planned)) {
        if (signal?.aborted) throw new RuntimeAbortedError(this.taskId);
        await this.#awaitDependencies(p.c, signal);
        await this.#startContainer(p);
      }
      if (signal?.aborted) throw new RuntimeAbortedError(this.taskId);
      this.networkBindings = await this.#bindings(planned.map((p) => p.c));
    } catch (err) {
      this.#book.requestStop();
      await Promise.all(this.#containers.map((c) => killContainer(c.handle, 'SIGKILL')));
      this.#book.launched();
      await this.stopped;
      throw err;
    }
    this.#book.launched();
  }

  /**
   * Takes over containers a previous server started (all running): their exits are watched again,
   * their recent output is read back into the log ring, and stop/exec work as for a task started here.
   */
  async adopt(found: FoundContainer[]): Promise<void> {
    for (const f of found) {
      const status: ContainerStatus = {
        name: f.c.name,
        essential: f.c.essential !== false,
        pid: f.info.State?.Pid ?? 0,
        state: 'RUNNING',
        startedAt: new Date(f.info.State?.StartedAt ?? Date.now()),
        runtimeId: f.info.Id,
        ...(f.imageDigest !== undefined ? { imageDigest: f.imageDigest } : {}),
      };
      this.#track(f.c, f.handle, status, TASK_LOG_LINES);
    }
    this.networkBindings = await this.#bindings(found.map((f) => f.c));
    this.#book.launched();
  }

  /** ECS `dependsOn`: waits until every dependency meets its condition (bounded by DEPENDENCY_TIMEOUT_MS). */
  async #awaitDependencies(c: ContainerSpec, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + DEPENDENCY_TIMEOUT_MS;
    for (const d of c.dependsOn ?? []) {
      const dep = this.#containers.find((x) => x.spec.name === d.containerName)!;
      const fail = (why: string) => new DependencyFailedError(c.name, d.containerName, d.condition, why);
      if (d.condition === 'START') continue;
      if (d.condition === 'COMPLETE' || d.condition === 'SUCCESS') {
        const exited = await settlesWithin(dep.exited, Math.max(0, deadline - Date.now()), signal);
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

  async #startContainer(p: PlannedContainer): Promise<void> {
    const name = p.c.name;
    const image = await p.image;
    let handle: Docker.Container;
    const limited = p.create.HostConfig?.Memory !== undefined || p.create.HostConfig?.CpuShares !== undefined;
    try {
      handle = await createAndStart(this.#docker, p.create);
    } catch (err) {
      if (!limited || !LIMIT_ERROR_RE.test(errorText(err))) throw err;
      // The host's cgroups refused the limits: run without them, and say so where users look.
      const note = `[pharos] memory/cpu limits could not be applied on this host (${errorText(err).slice(0, 300)}); container runs without them`;
      this.#logs.push({ container: name, stream: 'stderr', line: note, at: Date.now() });
      this.#log?.warn({ taskId: this.taskId, container: name, err: errorText(err) }, 'memory/cpu limits not applied');
      const { Memory: _m, CpuShares: _c, ...rest } = p.create.HostConfig ?? {};
      handle = await createAndStart(this.#docker, { ...p.create, HostConfig: rest });
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
    this.#track(p.c, handle, status);
    const info = await handle.inspect().catch(() => undefined);
    if (info?.State?.Pid) status.pid = info.State.Pid;
  }

  /** Follows a running container: its output into the ring (the last `tail` lines first, when adopting), its exit. */
  #track(spec: ContainerSpec, handle: Docker.Container, status: ContainerStatus, tail?: number): void {
    const r: Running = { spec, handle, status, exited: Promise.resolve(), logsDone: Promise.resolve() };
    this.#containers.push(r);
    this.#book.track(status);
    r.logsDone = this.#followLogs(r, tail);
    r.exited = this.#watchExit(r);
  }

  /** Host ports as the engine published them (dynamic ones are known only now). */
  async #bindings(specs: ContainerSpec[]): Promise<NetworkBinding[]> {
    const out: NetworkBinding[] = [];
    for (const c of specs) {
      const r = this.#containers.find((x) => x.spec.name === c.name)!;
      const published = this.networkMode === 'bridge' ? ((await r.handle.inspect()).NetworkSettings?.Ports ?? {}) : {};
      for (const pm of c.portMappings ?? []) out.push(bindingOf(c.name, pm, this.networkMode, this.ipv4, published));
    }
    return out;
  }

  /** Follows stdout/stderr into the ring from the container's start (or its last `tail` lines). */
  async #followLogs(r: Running, tail?: number): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await r.handle.logs({ follow: true, stdout: true, stderr: true, ...(tail !== undefined ? { tail } : {}) })) as unknown as NodeJS.ReadableStream;
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
    const signal = signalOf(code, this.#book.stopRequested);
    this.#book.exited(r.status, signal === null ? code : null, signal, state?.OOMKilled ? 'OutOfMemoryError: container killed due to memory usage' : undefined);
  }

  containers(): ContainerStatus[] {
    return this.#book.containers();
  }

  onContainerExit(listener: (exit: ContainerExit) => void): () => void {
    return this.#book.subscribe(listener);
  }

  /** SIGTERM, `timeoutMs`, SIGKILL — timed here, not by the engine's whole-second `stop?t=`. */
  stop({ timeoutMs }: StopOptions): Promise<void> {
    return this.#book.stop(timeoutMs, (sig) => {
      // With no grace, SIGKILL alone (PID 1 without a handler ignores SIGTERM anyway).
      if (sig === 'SIGTERM' && timeoutMs <= 0) return;
      return Promise.all(this.#containers.filter((c) => c.status.state === 'RUNNING').map((c) => killContainer(c.handle, sig)));
    });
  }

  /** The engine's exec in one of the task's containers (the first when none is named). */
  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    if (this.#book.finalizing) throw new TaskStoppedError(this.taskId);
    const c = (options.container === undefined ? undefined : this.#containers.find((x) => x.spec.name === options.container)) ?? this.#containers[0]!;
    return engineExec(this.#docker, c.handle, argv, options, () =>
      this.#book.finalizing || c.status.state === 'STOPPED' ? new TaskStoppedError(this.taskId) : undefined,
    );
  }

  logs(container?: string): LogLine[] {
    return this.#logs.lines(container);
  }
}

/** Creates and starts one container; one that was created but would not start is removed. */
async function createAndStart(docker: Docker, create: Docker.ContainerCreateOptions): Promise<Docker.Container> {
  const name = create.Labels?.[LABELS.containerName] ?? String(create.name);
  let handle: Docker.Container;
  try {
    handle = await docker.createContainer(create);
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

/**
 * Whether `p` settles within `ms` (false too when `signal` aborts first). The timer is cleared
 * either way: a forgotten 3-minute timer kept the process alive long after the task started.
 */
async function settlesWithin(p: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<boolean> {
  const gaveUp = new AbortController();
  const late = sleep(ms, signal, gaveUp.signal).then(() => false);
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    gaveUp.abort();
  }
}

/** Resolves after `ms`, or as soon as one of `signals` aborts (its timer cleared). */
function sleep(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      for (const s of signals) s?.removeEventListener('abort', done);
      resolve();
    }
    for (const s of signals) {
      if (s?.aborted) return done();
      s?.addEventListener('abort', done, { once: true });
    }
  });
}
