import type { Logger, Registry as MetricsRegistry } from '../lib/index.ts';
import type { Coordinator } from '../store/index.ts';

/** A piece of work that must run on one server at a time: starts it, resolves with how to stop it. */
export interface LeaderPart {
  name: string;
  start(metrics: MetricsRegistry | undefined): Promise<() => Promise<void>>;
}

/**
 * Starts the leader-only parts (health checker, ECS scheduler and supervisor, operation adoption)
 * when this server becomes leader and stops them, in reverse, when it stops being leader. Each
 * term builds fresh instances; their metrics are unregistered when they stop, so the next term can
 * register the same names again. Transitions run one after another.
 */
export class LeaderWork {
  private chain: Promise<void> = Promise.resolve();
  private stops: { name: string; stop: () => Promise<void>; metricNames: string[] }[] = [];
  private unsubscribe?: () => void;

  constructor(
    private readonly coordinator: Coordinator,
    private readonly parts: readonly LeaderPart[],
    private readonly logger: Logger,
    private readonly metrics?: MetricsRegistry,
  ) {}

  /** Follows the coordinator from now on; resolves once the parts run if it already leads. */
  start(): Promise<void> {
    this.unsubscribe = this.coordinator.onLeadership((leading) => this.enqueue(leading));
    if (this.coordinator.isLeader()) this.enqueue(true);
    return this.chain;
  }

  /** Stops following and stops whatever runs. Repeatable. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.enqueue(false);
    await this.chain;
  }

  private enqueue(leading: boolean): void {
    this.chain = this.chain.then(() => (leading ? this.startAll() : this.stopAll())).catch((err) => this.logger.error({ err }, 'cluster: leader work transition failed'));
  }

  private async startAll(): Promise<void> {
    if (this.stops.length > 0 || !this.coordinator.isLeader()) return;
    for (const part of this.parts) {
      const before = new Set(this.metrics?.getMetricsAsArray().map((m) => m.name) ?? []);
      const stop = await part.start(this.metrics);
      const metricNames = (this.metrics?.getMetricsAsArray().map((m) => m.name) ?? []).filter((n) => !before.has(n));
      this.stops.push({ name: part.name, stop, metricNames });
    }
    this.logger.info({ parts: this.parts.map((p) => p.name) }, 'cluster: leader work started');
  }

  private async stopAll(): Promise<void> {
    if (this.stops.length === 0) return;
    for (const { name, stop, metricNames } of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        this.logger.error({ err, part: name }, 'cluster: stopping leader work failed');
      }
      for (const n of metricNames) this.metrics?.removeSingleMetric(n);
    }
    this.logger.info('cluster: leader work stopped');
  }
}
