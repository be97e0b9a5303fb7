import type { ContainerExit, ContainerStatus } from './runtime.ts';

/**
 * The bookkeeping every RunningTask shares, whatever runs its containers (ProcessTask: process
 * groups; ContainerTask: an engine's containers): exits recorded and handed to listeners (past
 * ones replayed to late listeners, a throwing listener never breaking the task), and the one-time
 * end — once every container is launched and none is running, `release()` runs, then `onFinal()`,
 * then `stopped` resolves.
 */
export class TaskBook {
  readonly stopped: Promise<void>;
  readonly #statuses: ContainerStatus[] = [];
  readonly #exits: ContainerExit[] = [];
  readonly #listeners = new Set<(exit: ContainerExit) => void>();
  readonly #release: () => Promise<void>;
  readonly #onFinal: () => void;
  #resolveStopped!: () => void;
  #stopPromise?: Promise<void>;
  #stopRequested = false;
  #launched = false;
  #finalizing = false;
  #final = false;

  /** `release`: frees the task's resources once no container runs. `onFinal`: the runtime forgets the task. */
  constructor(
    readonly taskId: string,
    release: () => Promise<void>,
    onFinal: () => void,
  ) {
    this.#release = release;
    this.#onFinal = onFinal;
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
  }

  /** Every container was launched (or launching failed and what was launched is being killed): the task may now end. */
  launched(): void {
    this.#launched = true;
    this.#maybeFinalize();
  }

  /** A container that now runs: `status` is its live record (the owner may fill in its pid later). */
  track(status: ContainerStatus): void {
    this.#statuses.push(status);
  }

  /** Copies of every container's status (RunningTask.containers). */
  containers(): ContainerStatus[] {
    return this.#statuses.map((s) => ({ ...s }));
  }

  /** Statuses of the containers still running. */
  running(): ContainerStatus[] {
    return this.#statuses.filter((s) => s.state === 'RUNNING');
  }

  /**
   * Records a container's exit (an exit code, or the signal that ended it), tells the listeners,
   * and ends the task if it was the last one running. `reason` defaults to `killed by <signal>` or
   * `exited with code <n>`.
   */
  exited(status: ContainerStatus, exitCode: number | null, signal: NodeJS.Signals | null, reason?: string): void {
    status.state = 'STOPPED';
    status.exitCode = exitCode;
    status.signal = signal;
    status.stoppedAt = new Date();
    const exit: ContainerExit = {
      taskId: this.taskId,
      name: status.name,
      essential: status.essential,
      exitCode,
      signal,
      stopRequested: this.#stopRequested,
      reason: reason ?? (signal !== null ? `killed by ${signal}` : `exited with code ${exitCode}`),
    };
    this.#exits.push(exit);
    for (const l of this.#listeners) callListener(l, exit);
    this.#maybeFinalize();
  }

  /** RunningTask.onContainerExit: past exits are replayed (asynchronously) to a new listener. */
  subscribe(listener: (exit: ContainerExit) => void): () => void {
    this.#listeners.add(listener);
    const past = [...this.#exits];
    if (past.length > 0) {
      queueMicrotask(() => {
        if (this.#listeners.has(listener)) for (const e of past) callListener(listener, e);
      });
    }
    return () => this.#listeners.delete(listener);
  }

  /** Whether Pharos asked the containers to stop (exits after that are not failures). */
  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  /** Exits from now on were asked for (a stop, or a start that failed and kills what it launched). */
  requestStop(): void {
    this.#stopRequested = true;
  }

  /**
   * RunningTask.stop: `signal('SIGTERM')` to what runs, `signal('SIGKILL')` after `timeoutMs` to
   * what is left, then waits for the end. Idempotent: later calls return the first call's promise.
   */
  stop(timeoutMs: number, signal: (sig: 'SIGTERM' | 'SIGKILL') => Promise<unknown> | void): Promise<void> {
    this.#stopPromise ??= (async () => {
      this.#stopRequested = true;
      await signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))));
      await Promise.race([this.stopped, graceOver]);
      clearTimeout(timer);
      await signal('SIGKILL');
      await this.stopped;
    })();
    return this.#stopPromise;
  }

  /** The end has begun: no container runs, resources are being released (exec is refused from now on). */
  get finalizing(): boolean {
    return this.#finalizing;
  }

  /** Every container exited and the resources are released. */
  get isFinal(): boolean {
    return this.#final;
  }

  #maybeFinalize(): void {
    if (!this.#launched || this.#finalizing || this.running().length > 0) return;
    this.#finalizing = true;
    void this.#release()
      .catch(() => undefined)
      .finally(() => {
        this.#final = true;
        this.#onFinal();
        this.#resolveStopped();
      });
  }
}

function callListener(l: (exit: ContainerExit) => void, exit: ContainerExit): void {
  try {
    l(exit);
  } catch {
    // A listener's bug must not break the task's bookkeeping; listeners log their own errors.
  }
}
