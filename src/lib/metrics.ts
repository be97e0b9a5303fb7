import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/**
 * Each server owns one registry (no global default), so several servers in one test process
 * do not share counters.
 */
export function createMetricsRegistry(): Registry {
  return new Registry();
}

/** Latency buckets in seconds, from 50 µs (a cached DNS answer) to 5 s (a slow probe). */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
