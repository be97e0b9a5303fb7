import { performance } from 'node:perf_hooks';
import { silentLogger, type Clock, type Logger } from '../lib/index.ts';
import { Checker } from './checker.ts';
import { commandArgv } from './command.ts';
import { oneLine, type Probe, type ProbeResult } from './probe.ts';
import { StatusHandler, type CheckStatus, type HealthNotifier } from './status.ts';

/**
 * ECS container health checks (docs/compatibility.md#container-health-checks) as one more probe
 * of the same checker and status handler Cloud Map checks use: the probe runs the task
 * definition's command inside the task, the status handler applies ECS's thresholds.
 */

/** A task definition's `healthCheck` (seconds, as ECS has them). */
export interface ContainerCheckConfig {
  command: readonly string[];
  interval: number;
  timeout: number;
  retries: number;
  startPeriod?: number;
}

/** What running a command in the task returned (the runtime's exec result). */
export interface CommandOutcome {
  /** null when killed by a signal (including a timeout). */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
}

/** Runs argv inside the task (the consumer-owned slice of the runtime); may reject on a runtime fault. */
export type TaskExec = (argv: string[], options: { timeoutMs: number; signal: AbortSignal }) => Promise<CommandOutcome>;

/**
 * Cadence while a container has not yet passed a check and is inside its start period: Docker's
 * `start-interval` idea, so a task that is ready in 300 ms is registered in about a second rather
 * than after a full `interval` (≥ 5 s).
 */
export const STARTUP_CHECK_INTERVAL_MS = 1000;
/** Output kept in a failure's reason (ECS shows the first part of a check's output). */
const REASON_OUTPUT_CHARS = 200;

/** Probe: the container's health command, run in the task; healthy on exit 0. */
export class TaskCommandProbe implements Probe {
  readonly type: string;
  readonly target: string;
  private readonly argv: string[];

  constructor(
    command: readonly string[],
    private readonly timeoutMs: number,
    private readonly exec: TaskExec,
  ) {
    this.argv = commandArgv(command);
    this.type = command[0] === 'CMD-SHELL' ? 'CMD-SHELL' : 'CMD';
    this.target = oneLine(command.slice(1).join(' '));
  }

  async check(signal?: AbortSignal): Promise<ProbeResult> {
    const started = performance.now();
    const done = (r: Omit<ProbeResult, 'latencyMs'>): ProbeResult => ({ ...r, latencyMs: performance.now() - started });
    let r: CommandOutcome;
    try {
      r = await this.exec(this.argv, { timeoutMs: this.timeoutMs, signal: signal ?? new AbortController().signal });
    } catch (err) {
      return done({ ok: false, reason: String((err as Error)?.message ?? err), cause: 'error' });
    }
    if (r.timedOut) return done({ ok: false, reason: 'health check timed out', cause: 'timeout' });
    if (r.exitCode === 0) return done({ ok: true, reason: 'exit code 0', cause: 'ok' });
    const output = r.output.trim().slice(0, REASON_OUTPUT_CHARS);
    const why = r.exitCode === null ? `killed by ${r.signal}` : `exit code ${r.exitCode}`;
    return done({ ok: false, reason: output ? `${why}: ${output}` : why, cause: 'exit' });
  }
}

export interface ContainerCheckOptions {
  /** For logs. */
  taskId: string;
  container: string;
  check: ContainerCheckConfig;
  /** A probe of the check's command (`TaskCommandProbe` in the task); tests pass their own. */
  probe: Probe;
  clock: Clock;
  /** Gets each decided status change; the check's next change waits until it settles. */
  onChange: (status: 'HEALTHY' | 'UNHEALTHY', reason: string) => Promise<unknown>;
  logger?: Logger;
}

/**
 * One container's health check as ECS defines it: UNKNOWN until the first counted result;
 * `retries` consecutive failures → UNHEALTHY; one success → HEALTHY; failures inside `startPeriod`
 * do not count, a success inside it counts at once. A `Checker` runs the probe, a `StatusHandler`
 * (policy `counts`) decides, and only it reports.
 */
export class ContainerCheck {
  private readonly checker: Checker;
  private readonly status: StatusHandler;
  private readonly startedAt: number;

  constructor(options: ContainerCheckOptions) {
    const { check, clock } = options;
    this.startedAt = clock.now();
    const intervalMs = check.interval * 1000;
    const startupMs = Math.min(STARTUP_CHECK_INTERVAL_MS, intervalMs);
    const notifier: HealthNotifier = { setHealth: (_task, _container, status, reason) => options.onChange(status, reason) };
    this.status = new StatusHandler({
      serviceId: options.taskId,
      instanceId: options.container,
      notifier,
      failureThreshold: check.retries,
      successThreshold: 1,
      firstResult: 'counts',
      gracePeriodMs: (check.startPeriod ?? 0) * 1000,
      clock,
      logger: options.logger ?? silentLogger(),
    });
    this.checker = new Checker({
      probe: options.probe,
      intervalMs,
      firstDelayMs: startupMs,
      nextIntervalMs: () => (this.status.status === 'UNKNOWN' && this.inStartPeriod(clock, check) ? startupMs : intervalMs),
      jitterFraction: 0,
      onResult: (result) => this.status.observe(result),
      clock,
      logger: options.logger,
    });
  }

  /** The status decided so far. */
  get current(): CheckStatus {
    return this.status.status;
  }

  start(): void {
    this.checker.start();
  }

  /** Stops checking and reporting; resolves once a check in flight has finished. Repeatable. */
  async stop(): Promise<void> {
    this.status.dispose();
    await this.checker.stop();
  }

  private inStartPeriod(clock: Clock, check: ContainerCheckConfig): boolean {
    return clock.now() - this.startedAt < (check.startPeriod ?? 0) * 1000;
  }
}
