import { Counter, Gauge, type Registry } from 'prom-client';
import type { Metric } from 'prom-client';

/**
 * Metrics counted in plain numbers on hot paths and handed to prom-client only when scraped, so a
 * scrape shows exactly what prom-client's own calls would. prom-client's labelled `inc()` and
 * `observe()` (label checks, hashing the labels, a closure per call) cost ~1 µs each; a
 * registration made five of them.
 */

/** One series of a `CountedCounter`: `n` counts, `flushed` is what prom-client has been given. */
interface Cell<L extends string> {
  labels: Record<L, string>;
  n: number;
  flushed: number;
}

/** A labelled counter (`name{labels} n`), exact at every scrape. */
export class CountedCounter<L extends string> {
  /** Every series, for the scrape. */
  private readonly cells: Cell<L>[] = [];
  /**
   * Series by label values, one map level per label: the values are the callers' constant strings,
   * whose hashes V8 keeps, where a key joined from them would be a new string to hash per call.
   */
  private readonly index = new Map<string, unknown>();
  private readonly labelNames: readonly L[];

  constructor(config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    this.labelNames = config.labelNames;
    const cells = this.cells;
    new Counter({
      ...config,
      labelNames: [...config.labelNames],
      collect() {
        for (const c of cells) {
          if (c.n === c.flushed) continue;
          this.inc(c.labels, c.n - c.flushed);
          c.flushed = c.n;
        }
      },
    });
  }

  /** Counts one, as prom-client's `inc(labels)` would. */
  inc(labels: Record<L, string>): void {
    const names = this.labelNames;
    let level = this.index;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const value = labels[names[i]!];
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) level.set(value, (next = new Map<string, unknown>()));
      level = next;
    }
    const value = labels[names[last]!];
    const cell = level.get(value) as Cell<L> | undefined;
    if (cell) cell.n++;
    else {
      const created = { labels: { ...labels }, n: 1, flushed: 0 };
      level.set(value, created);
      this.cells.push(created);
    }
  }
}

/** A gauge whose value the owner keeps in `value`; read when scraped. */
export class CountedGauge {
  value = 0;

  constructor(config: { name: string; help: string; registers: Registry[] }) {
    const self = this;
    new Gauge({
      ...config,
      collect() {
        this.set(self.value);
      },
    });
  }
}

/** One label value's histogram: non-cumulative bucket counts (the last one is +Inf). */
interface Series {
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram with one label (`name{label}`), formatted as prom-client formats its own: the text
 * format from `getForPromString` (labels and shared labels apart), JSON from `get` (merged).
 */
export class CountedHistogram {
  private readonly series = new Map<string, Series>();

  constructor(
    config: { name: string; help: string; labelName: string; registers: Registry[] },
    private readonly bounds: readonly number[],
  ) {
    const describe = { name: config.name, help: config.help, type: 'histogram', aggregator: 'sum' } as const;
    const histogram = {
      ...describe,
      getForPromString: async () => ({ ...describe, values: this.values(config.name, config.labelName) }),
      get: async () => ({ ...describe, values: this.values(config.name, config.labelName).map(({ labels, sharedLabels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) }),
      reset: () => this.series.clear(),
    };
    for (const registry of config.registers) registry.registerMetric(histogram as unknown as Metric);
  }

  observe(label: string, value: number): void {
    let s = this.series.get(label);
    if (!s) this.series.set(label, (s = { buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }));
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    s.buckets[i]!++;
    s.sum += value;
    s.count++;
  }

  /** The series as prom-client's `get()` gives them (cumulative `le` buckets, +Inf, sum, count; buckets carry a null exemplar). */
  private values(name: string, labelName: string): { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string; exemplar?: null }[] {
    const values = [];
    for (const [label, s] of this.series) {
      const shared = { [labelName]: label };
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: shared, value: acc, metricName: `${name}_bucket`, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: `${name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${name}_count` });
    }
    return values;
  }
}
