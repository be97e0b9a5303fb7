import type { Metric } from 'prom-client';
import { Counter, LATENCY_BUCKETS, type Registry as MetricsRegistry } from '../lib/index.ts';

/** Label for requests whose target names no known operation (keeps label cardinality bounded). */
export const UNKNOWN_LABEL = 'unknown';
/** Label value of `code` for successful requests. */
export const OK_LABEL = 'OK';

const REQUESTS_NAME = 'pharos_api_requests_total';
const DURATION_NAME = 'pharos_api_request_duration_seconds';
const DURATION_HELP = 'API request latency from the last body byte to the response being written, by operation.';

/** One (operation, code) count: incremented per request, handed to prom-client when scraped. */
interface Count {
  operation: string;
  code: string;
  n: number;
  flushed: number;
}

/** One operation's latency histogram: non-cumulative bucket counts (the last one is +Inf). */
interface Latency {
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * API metrics: `pharos_api_requests_total{operation, code}` and
 * `pharos_api_request_duration_seconds{operation}`, exact. Requests are counted in plain numbers
 * and reach prom-client only when scraped: prom-client's labelled `inc()` and `observe()` (label
 * checks, hashing, a closure per call) cost ~4 % of a cached DiscoverInstances.
 */
export class ApiMetrics {
  private readonly counts = new Map<string, Count>();
  private readonly latencies = new Map<string, Latency>();

  constructor(registry: MetricsRegistry) {
    const counts = this.counts;
    new Counter({
      name: REQUESTS_NAME,
      help: 'API requests by operation (X-Amz-Target) and result code (OK or the error __type).',
      labelNames: ['operation', 'code'],
      registers: [registry],
      collect() {
        for (const c of counts.values()) {
          if (c.n === c.flushed) continue;
          this.inc({ operation: c.operation, code: c.code }, c.n - c.flushed);
          c.flushed = c.n;
        }
      },
    });
    // A histogram prom-client formats like its own, read from the arrays above: the text format
    // from `getForPromString` (labels and shared labels apart), JSON from `get` (merged).
    const describe = { name: DURATION_NAME, help: DURATION_HELP, type: 'histogram', aggregator: 'sum' } as const;
    const histogram = {
      ...describe,
      getForPromString: async () => ({ ...describe, values: this.durationValues() }),
      get: async () => ({ ...describe, values: this.durationValues().map(({ labels, sharedLabels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) }),
      reset: () => this.latencies.clear(),
    };
    registry.registerMetric(histogram as unknown as Metric);
  }

  record(operation: string, code: string, seconds: number): void {
    const key = `${operation}\u0000${code}`;
    let count = this.counts.get(key);
    if (!count) this.counts.set(key, (count = { operation, code, n: 0, flushed: 0 }));
    count.n++;
    let latency = this.latencies.get(operation);
    if (!latency) this.latencies.set(operation, (latency = { buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 }));
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    latency.buckets[i]!++;
    latency.sum += seconds;
    latency.count++;
  }

  /** The histogram's series as prom-client's `get()` gives them (cumulative `le` buckets, +Inf, sum, count). */
  private durationValues(): { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string }[] {
    const values = [];
    for (const [operation, l] of this.latencies) {
      const shared = { operation };
      let acc = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        acc += l.buckets[i]!;
        values.push({ labels: { le: LATENCY_BUCKETS[i]! }, sharedLabels: shared, value: acc, metricName: `${DURATION_NAME}_bucket` });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: l.count, metricName: `${DURATION_NAME}_bucket` });
      values.push({ labels: {}, sharedLabels: shared, value: l.sum, metricName: `${DURATION_NAME}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: l.count, metricName: `${DURATION_NAME}_count` });
    }
    return values;
  }
}
