/**
 * Health checking: probes observe, a status handler decides and reports, a monitor keeps one
 * checker per registered endpoint. See README.md.
 */
export { HealthConfigError, HEALTH_INVALID_CONFIG } from './errors.ts';
export { DEFAULT_PROBE_TIMEOUT_MS, InvalidTargetProbe, type Probe, type ProbeCause, type ProbeResult } from './probe.ts';
export { HttpProbe, MAX_RESPONSE_HEAD_BYTES, type HttpProbeOptions } from './http.ts';
export { TcpProbe, type TcpProbeOptions } from './tcp.ts';
export { commandArgv } from './command.ts';
export {
  ContainerCheck,
  STARTUP_CHECK_INTERVAL_MS,
  TaskCommandProbe,
  type CommandOutcome,
  type ContainerCheckConfig,
  type ContainerCheckOptions,
  type TaskExec,
} from './container.ts';
export { Semaphore } from './semaphore.ts';
export { Checker, INTERVAL_JITTER_FRACTION, type CheckerOptions } from './checker.ts';
export { StatusHandler, type CheckStatus, type FirstResultPolicy, type HealthNotifier, type StatusHandlerOptions } from './status.ts';
export { HealthMetrics } from './metrics.ts';
export {
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_MAX_CONCURRENT_PROBES,
  HealthMonitor,
  endpointOf,
  type HealthMonitorOptions,
} from './monitor.ts';
