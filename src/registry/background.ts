import type { Clock, Logger, Timer } from '../lib/index.ts';
import type { KV } from '../store/index.ts';
import type { RegistryMetrics } from './metrics.ts';
import type { Snapshot } from './snapshot.ts';

/** What the registry's parts (operation engine, health writer) share. */
export interface RegistryParts {
  kv: KV;
  snapshot: Snapshot;
  clock: Clock;
  logger: Logger;
  metrics?: RegistryMetrics;
  background: Background;
}

/**
 * The timers and promises the registry's background work owns (operation worker, sweeps, delayed
 * health changes): `later` runs only while running, `track` keeps a promise for `stop` to await
 * and logs its failure once, here.
 */
export class Background {
  running = false;
  private readonly timers = new Set<Timer>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  track<T>(p: Promise<T>): void {
    const tracked = p.catch((err) => this.logger.error({ err }, 'registry: background task failed'));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  later(ms: number, fn: () => void): void {
    if (!this.running) return;
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      if (this.running) fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Stops running and cancels the timers; `settle` then waits for the tracked work. */
  halt(): void {
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }

  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}

/** Base of the registry's parts: the shared pieces, as fields. */
export abstract class RegistryPart {
  protected readonly kv: KV;
  protected readonly snapshot: Snapshot;
  protected readonly clock: Clock;
  protected readonly logger: Logger;
  protected readonly metrics?: RegistryMetrics;
  protected readonly bg: Background;

  constructor(parts: RegistryParts) {
    this.kv = parts.kv;
    this.snapshot = parts.snapshot;
    this.clock = parts.clock;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.bg = parts.background;
  }
}
