import { Counter, Gauge, Histogram, LATENCY_BUCKETS, createMetricsRegistry, type Registry } from '../lib/index.ts';

/** The health checker's Prometheus metrics, registered on the server's registry. */
export class HealthMetrics {
  /** Probes by type (HTTP, HTTPS, TCP, CMD…), result (healthy/unhealthy) and bounded cause. */
  readonly probes: Counter<'type' | 'result' | 'cause'>;
  readonly probeDuration: Histogram<'type'>;
  /** Status changes decided by a status handler. */
  readonly transitions: Counter<'from' | 'to'>;
  /** Writes of a status change that failed (retried with the next result). */
  readonly reportErrors: Counter;
  /** Probe runs that started more than half an interval late (slots exhausted or loop lag). */
  readonly missedIntervals: Counter;
  /** How late probe runs start against when they were due (slot waits, event-loop lag). */
  readonly startDelay: Histogram;
  readonly checkers: Gauge;
  readonly inFlight: Gauge;

  constructor(registry: Registry = createMetricsRegistry()) {
    const registers = [registry];
    this.probes = new Counter({
      name: 'pharos_health_probes_total',
      help: 'Health probes run, by type, result and cause.',
      labelNames: ['type', 'result', 'cause'],
      registers,
    });
    this.probeDuration = new Histogram({
      name: 'pharos_health_probe_duration_seconds',
      help: 'Time a health probe took, from connect to result.',
      labelNames: ['type'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.transitions = new Counter({
      name: 'pharos_health_status_transitions_total',
      help: 'Health status changes, by old and new status.',
      labelNames: ['from', 'to'],
      registers,
    });
    this.reportErrors = new Counter({
      name: 'pharos_health_report_errors_total',
      help: 'Health status writes that failed and will be retried.',
      registers,
    });
    this.missedIntervals = new Counter({
      name: 'pharos_health_missed_intervals_total',
      help: 'Probe runs that started more than half an interval after they were due.',
      registers,
    });
    this.startDelay = new Histogram({
      name: 'pharos_health_probe_start_delay_seconds',
      help: 'How long after it was due a probe run started (waiting for a probe slot, event-loop lag).',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.checkers = new Gauge({ name: 'pharos_health_checkers', help: 'Endpoints being checked.', registers });
    this.inFlight = new Gauge({ name: 'pharos_health_probes_in_flight', help: 'Probes running now.', registers });
  }
}
