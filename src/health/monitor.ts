import net from 'node:net';
import { silentLogger, systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import type { HealthCheckConfigRecord, InstanceRecord, RegistryView, SnapshotChange } from '../registry/index.ts';
import { Checker } from './checker.ts';
import { HealthConfigError } from './errors.ts';
import { HttpProbe } from './http.ts';
import { HealthMetrics } from './metrics.ts';
import { DEFAULT_PROBE_TIMEOUT_MS, InvalidTargetProbe, type Probe } from './probe.ts';
import { Semaphore } from './semaphore.ts';
import { StatusHandler, type CheckStatus, type HealthNotifier } from './status.ts';
import { TcpProbe } from './tcp.ts';

/** `--health-interval` default: seconds, not Route 53's 30 s, so failing endpoints leave DNS fast (issue 4). */
export const DEFAULT_HEALTH_INTERVAL_MS = 5000;
/**
 * Probes allowed in flight at once across all endpoints: far below the file-descriptor limit, yet
 * enough that endpoints hanging until their 2 s timeout (10 % of 10,000 at a 5 s interval hold
 * ~400 slots) do not starve the rest, and that 2,000 probes/s still fit when a loaded host makes
 * each probe take 100+ ms (measured in bench/health-scale.ts).
 */
export const DEFAULT_MAX_CONCURRENT_PROBES = 1024;

export interface HealthMonitorOptions {
  view: RegistryView;
  notifier: HealthNotifier;
  intervalMs?: number;
  /** Per-probe timeout; defaults to DEFAULT_PROBE_TIMEOUT_MS, and never more than the interval. */
  probeTimeoutMs?: number;
  maxConcurrentProbes?: number;
  clock?: Clock;
  logger?: Logger;
  /** The server's metrics registry (or metrics already built on it). */
  metrics?: MetricsRegistry | HealthMetrics;
}

interface Entry {
  /** What the checker was built from; a different one means rebuild. */
  fingerprint: string;
  checker: Checker;
  handler: StatusHandler;
}

/**
 * Keeps one checker per instance of every service with a `HealthCheckConfig`, following the
 * registry view: started on registration, stopped on deregistration or when the service loses its
 * config or is deleted, rebuilt when the config or the instance's address changes. Everything it
 * knows is rebuilt from the view on start, so probing resumes after a restart, from the stored status.
 */
export class HealthMonitor {
  private readonly entries = new Map<string, Map<string, Entry>>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly slots: Semaphore;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  readonly metrics: HealthMetrics;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: HealthMonitorOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    if (!(this.intervalMs > 0)) throw new HealthConfigError(`health interval must be positive, got ${this.intervalMs} ms`, { intervalMs: this.intervalMs });
    this.timeoutMs = Math.min(options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, this.intervalMs);
    this.slots = new Semaphore(options.maxConcurrentProbes ?? DEFAULT_MAX_CONCURRENT_PROBES);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.metrics = options.metrics instanceof HealthMetrics ? options.metrics : new HealthMetrics(options.metrics);
  }

  /** Endpoints being checked. */
  get size(): number {
    let n = 0;
    for (const m of this.entries.values()) n += m.size;
    return n;
  }

  /** The status the monitor has decided for an instance (undefined when it is not checked). */
  status(serviceId: string, instanceId: string): CheckStatus | undefined {
    return this.entries.get(serviceId)?.get(instanceId)?.handler.status;
  }

  /** Probes run for an instance by its current checker (tests and benchmarks). */
  probesRun(serviceId: string, instanceId: string): number | undefined {
    return this.entries.get(serviceId)?.get(instanceId)?.checker.probesRun;
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.options.view.onChange((change) => this.onChange(change));
    for (const service of this.options.view.services()) this.reconcileService(service.id);
    this.logger.info({ endpoints: this.size, intervalMs: this.intervalMs, timeoutMs: this.timeoutMs }, 'health monitor started');
  }

  /** Stops every checker and waits for probes and status writes in flight. Repeatable. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const [serviceId, m] of this.entries) for (const instanceId of [...m.keys()]) this.remove(serviceId, instanceId);
    while (this.stopping.size > 0) await Promise.all([...this.stopping]);
  }

  private onChange(change: SnapshotChange): void {
    if (!change.serviceId) return;
    switch (change.kind) {
      case 'service':
        this.reconcileService(change.serviceId);
        break;
      case 'instance':
        if (change.instanceId) this.reconcileInstance(change.serviceId, change.instanceId);
        break;
      case 'health':
        if (change.instanceId) {
          const rec = this.options.view.healthRecord(change.serviceId, change.instanceId);
          this.entries.get(change.serviceId)?.get(change.instanceId)?.handler.syncStored(rec?.status);
        }
        break;
      default:
        break;
    }
  }

  private reconcileService(serviceId: string): void {
    const service = this.options.view.service(serviceId);
    const existing = this.entries.get(serviceId);
    if (!service?.healthCheckConfig) {
      if (existing) for (const instanceId of [...existing.keys()]) this.remove(serviceId, instanceId);
      return;
    }
    const instances = this.options.view.instances(serviceId);
    if (existing) for (const instanceId of [...existing.keys()]) if (!instances.has(instanceId)) this.remove(serviceId, instanceId);
    for (const instanceId of instances.keys()) this.reconcileInstance(serviceId, instanceId);
  }

  private reconcileInstance(serviceId: string, instanceId: string): void {
    const config = this.options.view.service(serviceId)?.healthCheckConfig;
    const instance = this.options.view.instance(serviceId, instanceId);
    if (!config || !instance) {
      this.remove(serviceId, instanceId);
      return;
    }
    const fingerprint = fingerprintOf(config, instance);
    const current = this.entries.get(serviceId)?.get(instanceId);
    if (current?.fingerprint === fingerprint) return;
    if (current) this.remove(serviceId, instanceId);
    this.add(serviceId, instanceId, config, instance, fingerprint);
  }

  private add(serviceId: string, instanceId: string, config: HealthCheckConfigRecord, instance: InstanceRecord, fingerprint: string): void {
    const stored = this.options.view.healthRecord(serviceId, instanceId)?.status;
    const handler = new StatusHandler({
      serviceId,
      instanceId,
      notifier: this.options.notifier,
      failureThreshold: config.failureThreshold,
      initial: stored === 'HEALTHY' || stored === 'UNHEALTHY' ? stored : 'UNKNOWN',
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
    });
    const checker = new Checker({
      probe: this.probeFor(config, instance),
      intervalMs: this.intervalMs,
      onResult: (result) => handler.observe(result),
      slots: this.slots,
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
    });
    let m = this.entries.get(serviceId);
    if (!m) this.entries.set(serviceId, (m = new Map()));
    m.set(instanceId, { fingerprint, checker, handler });
    this.metrics.checkers.inc();
    checker.start();
  }

  private remove(serviceId: string, instanceId: string): void {
    const m = this.entries.get(serviceId);
    const entry = m?.get(instanceId);
    if (!m || !entry) return;
    m.delete(instanceId);
    if (m.size === 0) this.entries.delete(serviceId);
    this.metrics.checkers.dec();
    entry.handler.dispose();
    const done: Promise<void> = entry.checker
      .stop()
      .then(() => entry.handler.idle())
      .finally(() => this.stopping.delete(done));
    this.stopping.add(done);
  }

  private probeFor(config: HealthCheckConfigRecord, instance: InstanceRecord): Probe {
    const target = endpointOf(instance);
    if (typeof target === 'string') return new InvalidTargetProbe(config.type, target);
    const common = { host: target.host, port: target.port, timeoutMs: this.timeoutMs, clock: this.clock };
    switch (config.type) {
      case 'HTTP':
        return new HttpProbe({ ...common, path: config.resourcePath });
      case 'HTTPS':
        return new HttpProbe({ ...common, path: config.resourcePath, tls: true });
      case 'TCP':
        return new TcpProbe(common);
      default:
        return new InvalidTargetProbe(String(config.type), `unsupported health check type ${JSON.stringify(config.type)}`);
    }
  }
}

function fingerprintOf(config: HealthCheckConfigRecord, instance: InstanceRecord): string {
  const a = instance.attributes;
  return JSON.stringify([config.type, config.resourcePath ?? '/', config.failureThreshold, a['AWS_INSTANCE_IPV4'], a['AWS_INSTANCE_IPV6'], a['AWS_INSTANCE_PORT']]);
}

/**
 * `AWS_INSTANCE_IPV4:AWS_INSTANCE_PORT` — IPv4 first, as Route 53 checks only the IPv4 address when
 * both exist; `AWS_INSTANCE_IPV6` for IPv6-only instances — or why the instance cannot be probed.
 */
export function endpointOf(instance: InstanceRecord): { host: string; port: number } | string {
  const v4 = instance.attributes['AWS_INSTANCE_IPV4'];
  const v6 = instance.attributes['AWS_INSTANCE_IPV6'];
  const portText = instance.attributes['AWS_INSTANCE_PORT'];
  let host: string;
  if (v4 !== undefined) {
    if (!net.isIPv4(v4)) return 'AWS_INSTANCE_IPV4 is not an IPv4 address';
    host = v4;
  } else if (v6 !== undefined) {
    if (!net.isIPv6(v6)) return 'AWS_INSTANCE_IPV6 is not an IPv6 address';
    host = v6;
  } else {
    return 'no AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6';
  }
  if (portText === undefined) return 'no AWS_INSTANCE_PORT';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return 'AWS_INSTANCE_PORT is not a port (1-65535)';
  return { host, port };
}
