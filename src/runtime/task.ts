import { spawn, type ChildProcess } from 'node:child_process';
import { RuntimeAbortedError, SpawnFailedError, TaskStoppedError } from './errors.ts';
import { LineSplitter, LogRing } from './logs.ts';
import type {
  ContainerExit,
  ContainerStatus,
  ExecOptions,
  ExecResult,
  LogLine,
  NetworkBinding,
  NetworkMode,
  RunningTask,
  StopOptions,
} from './runtime.ts';
import { asUser, type Launch } from './spec.ts';
import { DEFAULT_PATH, killGroup, resolveExecutable } from './spawn.ts';

/** ECS keeps the first 1 KiB of a health check's output; a little more helps debugging. */
export const EXEC_OUTPUT_LIMIT = 4096;

/** What a runtime gives a task: where it lives on the network and how to enter and leave it. */
export interface TaskNetwork {
  ipv4: string;
  netns?: string;
  bindings: NetworkBinding[];
  /** Turns a resolved program + args into the argv that runs it in the task's network context. */
  wrap(file: string, args: string[]): { file: string; args: string[] };
  /** Kills stragglers and frees network resources once every container has exited. Never rejects. */
  release(): Promise<void>;
}

interface Container {
  launch: Launch;
  child: ChildProcess;
  status: ContainerStatus;
}

/**
 * One task's containers as process groups. Shared by both runtimes; the network differences sit
 * behind TaskNetwork. Each container is spawned `detached` (its own session and process group),
 * so signals reach the process and everything it forked; when a container's main process exits,
 * the rest of its group is killed, as Docker kills a container's processes when PID 1 exits.
 */
export class ProcessTask implements RunningTask {
  readonly taskId: string;
  readonly networkMode: NetworkMode;
  readonly ipv4: string;
  readonly netns?: string;
  readonly networkBindings: readonly NetworkBinding[];
  readonly stopped: Promise<void>;

  readonly #network: TaskNetwork;
  readonly #containers: Container[] = [];
  readonly #logs = new LogRing();
  readonly #exits: ContainerExit[] = [];
  readonly #listeners = new Set<(exit: ContainerExit) => void>();
  readonly #execs = new Set<number>();
  readonly #onFinal: () => void;
  #resolveStopped!: () => void;
  #stopPromise?: Promise<void>;
  #stopRequested = false;
  #finalizing = false;
  #final = false;
  #spawned = false;

  private constructor(taskId: string, networkMode: NetworkMode, network: TaskNetwork, onFinal: () => void) {
    this.taskId = taskId;
    this.networkMode = networkMode;
    this.ipv4 = network.ipv4;
    if (network.netns !== undefined) this.netns = network.netns;
    this.networkBindings = network.bindings;
    this.#network = network;
    this.#onFinal = onFinal;
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
  }

  /**
   * Spawns every container. On failure (or abort) kills what was spawned, releases the network
   * and rejects; the caller then owns nothing.
   */
  static async start(
    taskId: string,
    networkMode: NetworkMode,
    launches: Launch[],
    network: TaskNetwork,
    onFinal: () => void,
    signal?: AbortSignal,
  ): Promise<ProcessTask> {
    const task = new ProcessTask(taskId, networkMode, network, onFinal);
    try {
      for (const l of launches) {
        if (signal?.aborted) throw new RuntimeAbortedError(taskId);
        await task.#spawnContainer(l);
      }
      if (signal?.aborted) throw new RuntimeAbortedError(taskId);
    } catch (err) {
      task.#stopRequested = true;
      for (const c of task.#containers) if (c.status.state === 'RUNNING') killGroup(c.status.pid, 'SIGKILL');
      task.#spawned = true;
      task.#maybeFinalize();
      await task.stopped;
      throw err;
    }
    task.#spawned = true;
    task.#maybeFinalize();
    return task;
  }

  async #spawnContainer(l: Launch): Promise<void> {
    const dropped = asUser(l.user, l.file, l.args);
    const { file, args } = this.#network.wrap(dropped.file, dropped.args);
    // argv[0] as the spec wrote it, unless a wrapper (ip netns exec, setpriv) runs first and execs the program.
    const argv0 = file === l.file ? l.program : file;
    const child = spawn(file, args, { argv0, cwd: l.cwd, env: l.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      throw new SpawnFailedError(l.name, err);
    }
    child.on('error', () => {
      // After a successful spawn, errors only come from kill() on a dead process: nothing to do.
    });
    const status: ContainerStatus = { name: l.name, essential: l.essential, pid: child.pid!, state: 'RUNNING', startedAt: new Date() };
    const c: Container = { launch: l, child, status };
    this.#containers.push(c);
    for (const stream of ['stdout', 'stderr'] as const) {
      const split = new LineSplitter((line) => this.#logs.push({ container: l.name, stream, line, at: Date.now() }));
      child[stream]!.on('data', (chunk: Buffer) => split.write(chunk));
      child[stream]!.on('end', () => split.end());
      child[stream]!.on('error', () => split.end());
    }
    child.once('exit', (code, sig) => this.#onExit(c, code, sig));
  }

  #onExit(c: Container, code: number | null, sig: NodeJS.Signals | null): void {
    // Whatever the main process left behind in its group goes with it.
    killGroup(c.status.pid, 'SIGKILL');
    c.status.state = 'STOPPED';
    c.status.exitCode = code;
    c.status.signal = sig;
    c.status.stoppedAt = new Date();
    const exit: ContainerExit = {
      taskId: this.taskId,
      name: c.launch.name,
      essential: c.launch.essential,
      exitCode: code,
      signal: sig,
      stopRequested: this.#stopRequested,
      reason: sig !== null ? `killed by ${sig}` : `exited with code ${code}`,
    };
    this.#exits.push(exit);
    for (const l of this.#listeners) callListener(l, exit);
    this.#maybeFinalize();
  }

  #maybeFinalize(): void {
    if (!this.#spawned || this.#finalizing) return;
    if (this.#containers.some((c) => c.status.state === 'RUNNING')) return;
    this.#finalizing = true;
    for (const pgid of this.#execs) killGroup(pgid, 'SIGKILL');
    void this.#network.release().finally(() => {
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
        if (this.#listeners.has(listener)) for (const e of past) callListener(listener, e);
      });
    }
    return () => this.#listeners.delete(listener);
  }

  stop({ timeoutMs }: StopOptions): Promise<void> {
    this.#stopPromise ??= this.#stop(timeoutMs);
    return this.#stopPromise;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#stopRequested = true;
    const running = () => this.#containers.filter((c) => c.status.state === 'RUNNING');
    for (const c of running()) killGroup(c.status.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))));
    await Promise.race([this.stopped, graceOver]);
    clearTimeout(timer);
    for (const c of running()) killGroup(c.status.pid, 'SIGKILL');
    await this.stopped;
  }

  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    if (this.#finalizing) throw new TaskStoppedError(this.taskId);
    const c = (options.container === undefined ? undefined : this.#containers.find((x) => x.launch.name === options.container)) ?? this.#containers[0]!;
    const { env, cwd } = c.launch;
    if (argv.length === 0 || argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
      return { exitCode: 127, signal: null, timedOut: false, output: 'exec: empty or invalid command' };
    }
    const r = await resolveExecutable(argv[0]!, env.PATH ?? DEFAULT_PATH, cwd);
    if (!r.ok) return { exitCode: 127, signal: null, timedOut: false, output: `exec: executable "${argv[0]}" ${r.detail}` };
    if (this.#finalizing) throw new TaskStoppedError(this.taskId);
    // Health-check commands run as the container's user, like the container itself.
    const dropped = asUser(c.launch.user, r.file, argv.slice(1));
    const { file, args } = this.#network.wrap(dropped.file, dropped.args);
    return new Promise<ExecResult>((resolve) => {
      const child = spawn(file, args, { argv0: file === r.file ? argv[0]! : file, cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      let timedOut = false;
      const collect = (chunk: Buffer) => {
        if (output.length < EXEC_OUTPUT_LIMIT) output = (output + chunk.toString()).slice(0, EXEC_OUTPUT_LIMIT);
      };
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      const kill = () => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      };
      const timer = setTimeout(kill, Math.max(0, options.timeoutMs));
      options.signal?.addEventListener('abort', kill, { once: true });
      if (child.pid !== undefined) this.#execs.add(child.pid);
      const done = (res: ExecResult) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', kill);
        if (child.pid !== undefined) this.#execs.delete(child.pid);
        resolve(res);
      };
      child.once('error', (err) => done({ exitCode: 127, signal: null, timedOut: false, output: `exec: ${err.message}` }));
      child.once('close', (code, sig) => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        done({ exitCode: code, signal: sig, timedOut, output });
      });
    });
  }

  logs(container?: string): LogLine[] {
    return this.#logs.lines(container);
  }

  /** True once every container exited and resources were released. */
  get isFinal(): boolean {
    return this.#final;
  }
}

function callListener(l: (exit: ContainerExit) => void, exit: ContainerExit): void {
  try {
    l(exit);
  } catch {
    // A listener's bug must not break process bookkeeping; listeners log their own errors.
  }
}
