import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry as MetricsRegistry } from '../lib/index.ts';

/** The registry's metrics: the operation engine's and the health writer's. */
export interface RegistryMetrics {
  submitted: Counter<'type'>;
  completed: Counter<'type' | 'status'>;
  duration: Histogram<'type'>;
  open: Gauge;
  healthTransitions: Counter<'status'>;
}

export function createRegistryMetrics(registry: MetricsRegistry): RegistryMetrics {
  return {
    submitted: new Counter({
      name: 'pharos_registry_operations_submitted_total',
      help: 'Asynchronous Cloud Map operations accepted (OperationId returned), by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    completed: new Counter({
      name: 'pharos_registry_operations_completed_total',
      help: 'Asynchronous Cloud Map operations finished, by type and final status.',
      labelNames: ['type', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'pharos_registry_operation_duration_seconds',
      help: 'Time from an operation being submitted to its SUCCESS/FAIL being durable.',
      labelNames: ['type'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    open: new Gauge({
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
