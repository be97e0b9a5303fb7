import { Counter, Histogram, LATENCY_BUCKETS, type Registry as MetricsRegistry } from '../lib/index.ts';

/** Label for requests whose target names no known operation (keeps label cardinality bounded). */
export const UNKNOWN_LABEL = 'unknown';
/** Label value of `code` for successful requests. */
export const OK_LABEL = 'OK';

interface Observer {
  observe(seconds: number): void;
}
interface Incrementer {
  inc(): void;
}

/**
 * API metrics: `pharos_api_requests_total{operation, code}` and
 * `pharos_api_request_duration_seconds{operation}`. Label children are cached, because looking
 * them up by label set on every request is measurable on the DiscoverInstances hot path.
 */
export class ApiMetrics {
  private readonly requests: Counter<'operation' | 'code'>;
  private readonly duration: Histogram<'operation'>;
  private readonly counters = new Map<string, Incrementer>();
  private readonly observers = new Map<string, Observer>();

  constructor(registry: MetricsRegistry) {
    this.requests = new Counter({
      name: 'pharos_api_requests_total',
      help: 'API requests by operation (X-Amz-Target) and result code (OK or the error __type).',
      labelNames: ['operation', 'code'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'pharos_api_request_duration_seconds',
      help: 'API request latency from the last body byte to the response being written, by operation.',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  record(operation: string, code: string, seconds: number): void {
    const key = `${operation}\u0000${code}`;
    let counter = this.counters.get(key);
    if (!counter) this.counters.set(key, (counter = this.requests.labels(operation, code)));
    counter.inc();
    let observer = this.observers.get(operation);
    if (!observer) this.observers.set(operation, (observer = this.duration.labels(operation)));
    observer.observe(seconds);
  }
}
