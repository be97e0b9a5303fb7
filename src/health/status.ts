import { silentLogger, systemClock, type Clock, type Logger } from '../lib/index.ts';
import type { HealthMetrics } from './metrics.ts';
import type { ProbeResult } from './probe.ts';

export type CheckStatus = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY';

/**
 * Where decided status changes go. The consumer-owned interface: the Registry satisfies it with
 * `setHealth`, which stores the instance's health record (and resolves false when nothing changed).
 */
export interface HealthNotifier {
  setHealth(serviceId: string, instanceId: string, status: 'HEALTHY' | 'UNHEALTHY', reason: string): Promise<unknown>;
}

/**
 * How the first results count.
 * - `decides` (Cloud Map checks): the first result sets the status at once, so a new endpoint is
 *   in or out of DNS after one probe instead of sitting UNKNOWN for `threshold` intervals; after
 *   that, `threshold` consecutive results the other way flip it.
 * - `counts` (ECS/Docker container checks): from UNKNOWN, `successThreshold` successes make it
 *   HEALTHY and `failureThreshold` failures make it UNHEALTHY.
 */
export type FirstResultPolicy = 'decides' | 'counts';

export interface StatusHandlerOptions {
  serviceId: string;
  instanceId: string;
  notifier: HealthNotifier;
  /** Consecutive failures that turn HEALTHY into UNHEALTHY (Route 53 `FailureThreshold`, ECS `retries`). */
  failureThreshold: number;
  /** Consecutive successes that turn UNHEALTHY into HEALTHY; defaults to `failureThreshold` as Route 53 does. */
  successThreshold?: number;
  firstResult?: FirstResultPolicy;
  /** The status already stored (after a restart): thresholds start from it and it is not written again. */
  initial?: CheckStatus;
  /** Failures within this long after creation do not count (ECS `startPeriod`). */
  gracePeriodMs?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: HealthMetrics;
}

/** Route 53's `FailureThreshold` range (docs/compatibility.md#services); out-of-range values are clamped. */
const MIN_THRESHOLD = 1;
const MAX_THRESHOLD = 10;

function clampThreshold(n: number | undefined, fallback: number): number {
  const v = Number.isFinite(n) ? Math.trunc(n!) : fallback;
  return Math.min(MAX_THRESHOLD, Math.max(MIN_THRESHOLD, v));
}

/**
 * Applies thresholds to probe results and is the only thing that reports status (Consul's
 * `StatusHandler`). It keeps what it decided apart from what it knows is stored, so a failed write
 * is retried with the next result, and writes for one instance never overlap.
 */
export class StatusHandler {
  private current: CheckStatus;
  private currentReason = '';
  private stored: CheckStatus;
  private successes = 0;
  private failures = 0;
  private writing: Promise<void> | undefined;
  private disposed = false;
  private readonly failureThreshold: number;
  private readonly successThreshold: number;
  private readonly graceUntil: number;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: StatusHandlerOptions) {
    this.failureThreshold = clampThreshold(options.failureThreshold, 3);
    this.successThreshold = clampThreshold(options.successThreshold, this.failureThreshold);
    this.current = options.initial ?? 'UNKNOWN';
    this.stored = this.current;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.graceUntil = this.clock.now() + (options.gracePeriodMs ?? 0);
  }

  /** The status decided so far. */
  get status(): CheckStatus {
    return this.current;
  }

  /** The reason of the last result that decided or confirmed the status. */
  get reason(): string {
    return this.currentReason;
  }

  /** Feeds one probe result; may start a write through the notifier. */
  observe(result: ProbeResult): void {
    if (this.disposed) return;
    if (result.ok) {
      this.successes++;
      this.failures = 0;
    } else if (this.clock.now() < this.graceUntil) {
      return; // failures during the start period do not count, and do not reset a success streak
    } else {
      this.failures++;
      this.successes = 0;
    }
    const want: CheckStatus = result.ok ? 'HEALTHY' : 'UNHEALTHY';
    if (want === this.current) {
      this.currentReason = result.reason;
    } else {
      const needed = this.current === 'UNKNOWN' && this.options.firstResult !== 'counts' ? 1 : result.ok ? this.successThreshold : this.failureThreshold;
      if ((result.ok ? this.successes : this.failures) >= needed) this.transition(want, result.reason);
    }
    this.reportIfNeeded();
  }

  /** Tells the handler what the store now says (from the registry watch); a difference is written with the next result. */
  syncStored(status: CheckStatus | undefined): void {
    if (!this.writing) this.stored = status ?? 'UNKNOWN';
  }

  /** Resolves when no write is in flight. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Stops reporting (the endpoint went away); a write already in flight finishes. */
  dispose(): void {
    this.disposed = true;
  }

  private transition(to: CheckStatus, reason: string): void {
    const from = this.current;
    this.current = to;
    this.currentReason = reason;
    this.options.metrics?.transitions.inc({ from, to });
    this.logger.info({ serviceId: this.options.serviceId, instanceId: this.options.instanceId, from, to, reason }, 'health status changed');
  }

  private reportIfNeeded(): void {
    if (this.writing || this.disposed || this.current === 'UNKNOWN' || this.current === this.stored) return;
    const status = this.current;
    const reason = this.currentReason;
    // Through a promise, so a notifier that throws synchronously is a failed write, not a crash.
    this.writing = Promise.resolve()
      .then(() => this.options.notifier.setHealth(this.options.serviceId, this.options.instanceId, status, reason))
      .then(
        () => {
          this.stored = status;
        },
        (err: unknown) => {
          this.options.metrics?.reportErrors.inc();
          this.logger.warn(
            { err, serviceId: this.options.serviceId, instanceId: this.options.instanceId, status },
            'health status write failed; retrying with the next result',
          );
        },
      )
      .finally(() => {
        this.writing = undefined;
        // The status may have flipped again while writing; a failed write waits for the next result.
        if (this.stored === status) this.reportIfNeeded();
      });
  }
}
