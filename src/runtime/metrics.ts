import { Counter, Gauge, Histogram, createMetricsRegistry, isPharosError, type Registry } from '../lib/index.ts';
import type { RunningTask } from './runtime.ts';

/** Start latency buckets in seconds: a process spawns in ms, a namespace in tens of ms, a loaded host in seconds. */
const START_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The runtimes' Prometheus metrics. One instance per server registry, shared by both runtimes. */
export class RuntimeMetrics {
  /** startTask calls by runtime (process/netns) and result (`ok` or the error code). */
  readonly starts: Counter<'runtime' | 'result'>;
  /** Time from startTask to every container spawned (network setup included). */
  readonly startDuration: Histogram<'runtime'>;
  /** Container exits by runtime and how: `exit_0`, `exit_nonzero`, `signal`; `requested` is true after stop(). */
  readonly containerExits: Counter<'runtime' | 'how' | 'requested'>;
  /** Tasks running now. */
  readonly liveTasks: Gauge<'runtime'>;
  /** Task CIDR addresses in use and usable (netns). */
  readonly addresses: Gauge<'state'>;
  /** Leftovers removed by cleanup(): orphan processes, namespaces, veths. */
  readonly cleanedUp: Counter<'kind'>;

  constructor(registry: Registry = createMetricsRegistry()) {
    const registers = [registry];
    this.starts = new Counter({ name: 'pharos_runtime_task_starts_total', help: 'Task starts, by runtime and result (ok or error code).', labelNames: ['runtime', 'result'], registers });
    this.startDuration = new Histogram({
      name: 'pharos_runtime_task_start_seconds',
      help: 'Time to start a task: network setup and spawning every container.',
      labelNames: ['runtime'],
      buckets: START_BUCKETS,
      registers,
    });
    this.containerExits = new Counter({
      name: 'pharos_runtime_container_exits_total',
      help: 'Container exits, by runtime, how (exit_0, exit_nonzero, signal) and whether a stop was requested.',
      labelNames: ['runtime', 'how', 'requested'],
      registers,
    });
    this.liveTasks = new Gauge({ name: 'pharos_runtime_tasks', help: 'Tasks running now, by runtime.', labelNames: ['runtime'], registers });
    this.addresses = new Gauge({ name: 'pharos_runtime_task_addresses', help: 'Task CIDR addresses, by state (in_use, capacity).', labelNames: ['state'], registers });
    this.cleanedUp = new Counter({ name: 'pharos_runtime_cleanup_removed_total', help: 'Leftovers of earlier runs removed by cleanup, by kind.', labelNames: ['kind'], registers });
  }
}

/**
 * Runs a startTask body with the start counter and timer, and follows the started task's
 * container exits and lifetime in the gauges. Without metrics it only runs `start`.
 */
export async function observeStart(metrics: RuntimeMetrics | undefined, runtime: string, start: () => Promise<RunningTask>): Promise<RunningTask> {
  if (metrics === undefined) return start();
  const end = metrics.startDuration.startTimer({ runtime });
  let task: RunningTask;
  try {
    task = await start();
  } catch (err) {
    metrics.starts.inc({ runtime, result: isPharosError(err) ? err.code : 'error' });
    throw err;
  }
  end();
  metrics.starts.inc({ runtime, result: 'ok' });
  metrics.liveTasks.inc({ runtime });
  void task.stopped.then(() => metrics.liveTasks.dec({ runtime }));
  task.onContainerExit((e) => {
    const how = e.signal !== null ? 'signal' : e.exitCode === 0 ? 'exit_0' : 'exit_nonzero';
    metrics.containerExits.inc({ runtime, how, requested: String(e.stopRequested) });
  });
  return task;
}
