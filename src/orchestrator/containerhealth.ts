import type { Clock, Timer } from '../lib/index.ts';
import type { ContainerHealthCheck, TaskHealth } from './model.ts';

/** Result of one run of a health check command. */
export interface CheckResult {
  ok: boolean;
  /** Why it failed (`exit code 1`, `timed out after 5 s`), for logs and stop reasons. */
  detail: string;
}

/** Runs a container's check command once; must resolve (never reject) with the outcome. */
export type CheckRunner = (argv: string[], timeoutMs: number, signal: AbortSignal) => Promise<CheckResult>;

/**
 * Cadence while a container has not yet passed a check and is inside its start period: Docker's
 * `start-interval` idea, so a task that is ready in 300 ms is registered in about a second rather
 * than after a full `interval` (≥ 5 s).
 */
export const STARTUP_CHECK_INTERVAL_MS = 1000;

/**
 * One container's health check as ECS defines it (CLOUDMAP-SPEC 4.5): UNKNOWN until the first
 * counted result; `retries` consecutive failures → UNHEALTHY; one success → HEALTHY; failures
 * inside `startPeriod` do not count, a success inside it counts at once. Observing only: the
 * listener decides what a status change means (Consul's probe/status split).
 */
export class ContainerHealthMonitor {
  private status: TaskHealth = 'UNKNOWN';
  private failures = 0;
  private timer?: Timer;
  private readonly abort = new AbortController();
  private readonly startedAt: number;
  private running?: Promise<void>;
  private lastDetail = '';

  constructor(
    private readonly check: ContainerHealthCheck,
    private readonly argv: string[],
    private readonly run: CheckRunner,
    private readonly clock: Clock,
    private readonly onChange: (status: TaskHealth, detail: string) => void,
  ) {
    this.startedAt = clock.now();
  }

  get current(): TaskHealth {
    return this.status;
  }

  get detail(): string {
    return this.lastDetail;
  }

  start(): void {
    this.schedule(Math.min(STARTUP_CHECK_INTERVAL_MS, this.check.interval * 1000));
  }

  /** Stops checking; resolves once a check in flight has finished. Repeatable. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.timer?.cancel();
    await this.running;
  }

  private inStartPeriod(): boolean {
    return this.clock.now() - this.startedAt < (this.check.startPeriod ?? 0) * 1000;
  }

  private schedule(ms: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = this.clock.setTimeout(() => {
      this.running = this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    const result = await this.run(this.argv, this.check.timeout * 1000, this.abort.signal);
    if (this.abort.signal.aborted) return;
    this.lastDetail = result.detail;
    if (result.ok) {
      this.failures = 0;
      this.set('HEALTHY', result.detail);
    } else if (!this.inStartPeriod()) {
      this.failures++;
      if (this.failures >= this.check.retries) this.set('UNHEALTHY', result.detail);
    }
    const fast = this.status === 'UNKNOWN' && this.inStartPeriod();
    this.schedule(fast ? Math.min(STARTUP_CHECK_INTERVAL_MS, this.check.interval * 1000) : this.check.interval * 1000);
  }

  private set(status: TaskHealth, detail: string): void {
    if (status === this.status) return;
    this.status = status;
    this.onChange(status, detail);
  }
}
