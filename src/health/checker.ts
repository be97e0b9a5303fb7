import { jitter, silentLogger, systemClock, type Clock, type Logger } from '../lib/index.ts';
import { HealthConfigError } from './errors.ts';
import type { HealthMetrics } from './metrics.ts';
import type { Probe, ProbeResult } from './probe.ts';
import type { Semaphore } from './semaphore.ts';

/**
 * Each interval is stretched or shrunk by up to this fraction at random, so endpoints that started
 * together drift apart instead of being probed in bursts. Small, so detection time stays close to
 * interval × threshold.
 */
export const INTERVAL_JITTER_FRACTION = 0.05;
/** A run that starts later than this fraction of the interval after it was due counts as missed. */
const MISSED_INTERVAL_FRACTION = 0.5;

export interface CheckerOptions {
  probe: Probe;
  intervalMs: number;
  /** Gets every result, in order; `StatusHandler.observe` in the monitor. */
  onResult: (result: ProbeResult) => void;
  /** Shared cap on concurrent probes. */
  slots?: Semaphore;
  /** Delay before the first probe; default a random fraction of the interval (Consul's stagger). */
  firstDelayMs?: number;
  /** The interval after each run, when it varies (container checks run faster in their start period); default `intervalMs`. */
  nextIntervalMs?: () => number;
  /** Random spread of each interval; default `INTERVAL_JITTER_FRACTION` (container checks keep Docker's exact cadence: 0). */
  jitterFraction?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: HealthMetrics;
}

/**
 * Runs one probe on a schedule (Consul's CheckHTTP/CheckTCP loop): a random first delay, then every
 * interval ± jitter, measured from when each run was due (not from when it ended), so a slow probe
 * does not slowly stretch the period. Runs never overlap: a run due while the previous one is still
 * going starts right after it.
 */
export class Checker {
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private runs = 0;

  constructor(private readonly options: CheckerOptions) {
    if (!(options.intervalMs > 0)) throw new HealthConfigError(`health check interval must be positive, got ${options.intervalMs} ms`);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
  }

  /** Probes run so far (tests and benchmarks). */
  get probesRun(): number {
    return this.runs;
  }

  get running(): boolean {
    return this.controller !== undefined;
  }

  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    this.loop = this.run(controller.signal);
  }

  /** Stops the loop and aborts a probe in flight; resolves once nothing is left running. Repeatable. */
  async stop(): Promise<void> {
    const controller = this.controller;
    const loop = this.loop;
    if (!controller) return loop;
    this.controller = undefined;
    controller.abort();
    await loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { probe, intervalMs, slots, metrics } = this.options;
    let due = this.clock.now() + (this.options.firstDelayMs ?? jitter(intervalMs));
    // Set when the previous probe overran the next due time, so the skipped run is counted once.
    let behind = false;
    const lateLimit = intervalMs * MISSED_INTERVAL_FRACTION;
    try {
      for (;;) {
        const wait = due - this.clock.now();
        if (wait > 0) await this.clock.sleep(wait, signal);
        if (slots) await slots.acquire(signal);
        let result: ProbeResult;
        try {
          const late = this.clock.now() - due;
          metrics?.startDelay.observe(Math.max(0, late) / 1000);
          if (behind || late > lateLimit) metrics?.missedIntervals.inc();
          metrics?.inFlight.inc();
          result = await probe.check(signal);
        } finally {
          metrics?.inFlight.dec();
          slots?.release();
        }
        if (signal.aborted) return;
        this.runs++;
        metrics?.probes.inc({ type: probe.type, result: result.ok ? 'healthy' : 'unhealthy', cause: result.cause });
        metrics?.probeDuration.observe({ type: probe.type }, result.latencyMs / 1000);
        try {
          this.options.onResult(result);
        } catch (err) {
          this.logger.error({ err, target: probe.target }, 'health result handler failed');
        }
        const interval = this.options.nextIntervalMs?.() ?? intervalMs;
        const spread = interval * (this.options.jitterFraction ?? INTERVAL_JITTER_FRACTION);
        const next = due + interval + (Math.random() * 2 - 1) * spread;
        const now = this.clock.now();
        behind = now - next > lateLimit;
        due = Math.max(next, now); // catch up with one run, not a burst
      }
    } catch (err) {
      if (signal.aborted) return;
      // Probes never reject; if one does, the endpoint must not stop being checked without a trace.
      this.logger.error({ err, target: probe.target }, 'health checker stopped unexpectedly');
    }
  }
}
