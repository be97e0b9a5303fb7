import { Counter, Gauge, type Registry as MetricsRegistry } from '../lib/index.ts';

/** The metrics every backend exports under the same names (README "Metrics"). */
export interface CommonStoreMetrics {
  writes: Counter<'result'>;
  revision: Gauge;
  watchers: Gauge;
  listenerErrors: Counter;
}

export function commonStoreMetrics(registry: MetricsRegistry, currentRevision: () => number): CommonStoreMetrics {
  const registers = [registry];
  return {
    writes: new Counter({ name: 'pharos_store_writes_total', help: 'Store writes by result (ok, conflict, error).', labelNames: ['result'], registers }),
    // Read at scrape time rather than updated on every write.
    revision: new Gauge({
      name: 'pharos_store_revision',
      help: 'The latest committed store revision (etcd: the newest this process has seen).',
      registers,
      collect() {
        this.set(currentRevision());
      },
    }),
    watchers: new Gauge({ name: 'pharos_store_watchers', help: 'Open store watches.', registers }),
    listenerErrors: new Counter({ name: 'pharos_store_watch_listener_errors_total', help: 'Watch listeners that threw.', registers }),
  };
}
