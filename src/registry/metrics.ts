import { Counter, CountedCounter, CountedGauge, CountedHistogram, LATENCY_BUCKETS, type Registry as MetricsRegistry } from '../lib/index.ts';

/**
 * The registry's metrics: the operation engine's and the health writer's. The engine's are counted
 * in plain numbers and handed to prom-client when scraped (lib/counted.ts): every registration
 * moves all four.
 */
export interface RegistryMetrics {
  submitted: CountedCounter<'type'>;
  completed: CountedCounter<'type' | 'status'>;
  duration: CountedHistogram;
  open: CountedGauge;
  healthTransitions: Counter<'status'>;
}

export function createRegistryMetrics(registry: MetricsRegistry): RegistryMetrics {
  return {
    submitted: new CountedCounter({
      name: 'pharos_registry_operations_submitted_total',
      help: 'Asynchronous Cloud Map operations accepted (OperationId returned), by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    completed: new CountedCounter({
      name: 'pharos_registry_operations_completed_total',
      help: 'Asynchronous Cloud Map operations finished, by type and final status.',
      labelNames: ['type', 'status'],
      registers: [registry],
    }),
    duration: new CountedHistogram(
      {
        name: 'pharos_registry_operation_duration_seconds',
        help: 'Time from an operation being submitted to its SUCCESS/FAIL being durable.',
        labelName: 'type',
        registers: [registry],
      },
      LATENCY_BUCKETS,
    ),
    open: new CountedGauge({
      name: 'pharos_registry_operations_open',
      help: 'Operations in SUBMITTED or PENDING state.',
      registers: [registry],
    }),
    healthTransitions: new Counter({
      name: 'pharos_registry_health_transitions_total',
      help: 'Instance health status changes written to the store, by new status.',
      labelNames: ['status'],
      registers: [registry],
    }),
  };
}
