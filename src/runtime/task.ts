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
import { TaskBook } from './taskbook.ts';

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
  readonly #execs = new Set<number>();
  readonly #book: TaskBook;

  private constructor(taskId: string, networkMode: NetworkMode, network: TaskNetwork, onFinal: () => void) {
    this.taskId = taskId;
    this.networkMode = networkMode;
    this.ipv4 = network.ipv4;
    if (network.netns !== undefined) this.netns = network.netns;
    this.networkBindings = network.bindings;
    this.#network = network;
    this.#book = new TaskBook(
      taskId,
      () => {
        for (const pgid of this.#execs) killGroup(pgid, 'SIGKILL');
        return this.#network.release();
      },
      onFinal,
    );
    this.stopped = this.#book.stopped;
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
      task.#book.requestStop();
      for (const s of task.#book.running()) killGroup(s.pid, 'SIGKILL');
      task.#book.launched();
      await task.stopped;
      throw err;
    }
    task.#book.launched();
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
    this.#book.track(status);
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
    this.#book.exited(c.status, code, sig);
  }

  containers(): ContainerStatus[] {
    return this.#book.containers();
  }

  onContainerExit(listener: (exit: ContainerExit) => void): () => void {
    return this.#book.subscribe(listener);
  }

  stop({ timeoutMs }: StopOptions): Promise<void> {
    return this.#book.stop(timeoutMs, (sig) => {
      for (const s of this.#book.running()) killGroup(s.pid, sig);
    });
  }

  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    if (this.#book.finalizing) throw new TaskStoppedError(this.taskId);
    const c = (options.container === undefined ? undefined : this.#containers.find((x) => x.launch.name === options.container)) ?? this.#containers[0]!;
    const { env, cwd } = c.launch;
    if (argv.length === 0 || argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
      return { exitCode: 127, signal: null, timedOut: false, output: 'exec: empty or invalid command' };
    }
    const r = await resolveExecutable(argv[0]!, env.PATH ?? DEFAULT_PATH, cwd);
    if (!r.ok) return { exitCode: 127, signal: null, timedOut: false, output: `exec: executable "${argv[0]}" ${r.detail}` };
    if (this.#book.finalizing) throw new TaskStoppedError(this.taskId);
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
    return this.#book.isFinal;
  }
}
