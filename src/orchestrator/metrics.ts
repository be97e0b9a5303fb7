import { Counter, Histogram, LATENCY_BUCKETS, type Registry as MetricsRegistry } from '../lib/index.ts';

/** Buckets for task start and registration times: from a fast process start (10 ms) to a slow health check start period (2 min). */
const TASK_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The orchestrator's Prometheus metrics (one set per server; absent in unit tests). */
export class OrchestratorMetrics {
  readonly tasksStarted: Counter<'launch'>;
  readonly tasksStopped: Counter<'stop_code'>;
  readonly startSeconds: Histogram;
  readonly registerSeconds: Histogram;
  readonly deregisterSeconds: Histogram;
  readonly schedulerPasses: Counter;
  readonly schedulerPassSeconds: Histogram;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    this.tasksStarted = new Counter({ name: 'pharos_ecs_tasks_started_total', help: 'Tasks whose containers were all spawned, by how they were launched (service, runtask).', labelNames: ['launch'], registers });
    this.tasksStopped = new Counter({ name: 'pharos_ecs_tasks_stopped_total', help: 'Tasks that reached STOPPED, by ECS stop code.', labelNames: ['stop_code'], registers });
    this.startSeconds = new Histogram({ name: 'pharos_ecs_task_start_seconds', help: 'Time from a task being claimed to RUNNING (namespace, addresses, spawn).', buckets: TASK_BUCKETS, registers });
    this.registerSeconds = new Histogram({ name: 'pharos_ecs_task_register_seconds', help: 'Time from RUNNING to registered in Cloud Map (readiness or health checks, then registration).', buckets: TASK_BUCKETS, registers });
    this.deregisterSeconds = new Histogram({ name: 'pharos_ecs_task_deregister_seconds', help: 'Time from a stop being asked for to the task out of the registry snapshot (out of DNS).', buckets: LATENCY_BUCKETS, registers });
    this.schedulerPasses = new Counter({ name: 'pharos_ecs_scheduler_passes_total', help: 'Reconciliation passes of the service scheduler.', registers });
    this.schedulerPassSeconds = new Histogram({ name: 'pharos_ecs_scheduler_pass_seconds', help: 'Duration of one scheduler pass over every service.', buckets: LATENCY_BUCKETS, registers });
  }
}
