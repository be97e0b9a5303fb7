import { formatArn, parseArn, silentLogger, systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import { retryOnConflict, type KV } from '../store/index.ts';
import { Background } from './background.ts';
import { Discovery } from './discovery.ts';
import { DEFAULT_MAX_FINISHED_OPS, DEFAULT_OP_RETENTION_MS, OP_SWEEP_INTERVAL_MS, OperationEngine } from './engine.ts';
import { RegistryNotRunningError, invalidInput, namespaceNotFound, registryConflict, serviceNotFound } from './errors.ts';
import { HealthWriter } from './healthwriter.ts';
import { createRegistryMetrics } from './metrics.ts';
import type { NamespaceRecord, OperationRecord, ServiceRecord } from './model.ts';
import type { OutputContext } from './output.ts';
import { InstanceSlotIndex } from './quota.ts';
import type { Snapshot } from './snapshot.ts';

/** Adjustable limits (docs/compatibility.md#quotas); the defaults are AWS's. */
export interface RegistryQuotas {
  namespacesPerRegion: number;
  instancesPerNamespace: number;
  instancesPerService: number;
  tagsPerResource: number;
  serviceAttributes: number;
}

export const DEFAULT_QUOTAS: Readonly<RegistryQuotas> = {
  namespacesPerRegion: 50,
  instancesPerNamespace: 2000,
  instancesPerService: 1000,
  tagsPerResource: 50,
  serviceAttributes: 30,
};

export interface RegistryConfig {
  region: string;
  accountId: string;
  quotas?: Partial<RegistryQuotas>;
  /** Time an async operation spends SUBMITTED then PENDING; 0 = applied right after the call returns. */
  opDelayMs?: number;
  /** Delay before a custom health change takes effect; 0 = at once (Pharos default), 30000 = AWS. */
  customHealthDelayMs?: number;
  /** How long finished operations stay visible to GetOperation/ListOperations. */
  opRetentionMs?: number;
  /** At most this many finished operations are kept (oldest dropped first). */
  maxFinishedOps?: number;
  /** How often finished operations are swept automatically; 0 turns the automatic sweep off (tests call `sweepOperations`). */
  opSweepIntervalMs?: number;
}

export interface RegistryOptions {
  kv: KV;
  /**
   * The store as leader-only work writes to it: fenced by the leadership (`fencedKV`), so a
   * deposed leader's late health write is refused. Default `kv`.
   */
  leaderKv?: KV;
  snapshot: Snapshot;
  /**
   * Other servers write to the same store (etcd): quotas are then held by slot keys in the store
   * txn (`quota.ts`) and re-registrations are guarded by the instance's revision. Default false:
   * this process is the only writer (SQLite) and its own counts are exact.
   */
  sharedStore?: boolean;
  /**
   * The store lease this server's quota blocks live on (`Coordinator.storeLease`), so they go when
   * it dies. Default none (a store without leases: the blocks go when released).
   */
  storeLease?: () => Promise<string | undefined>;
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRegistry;
  config: RegistryConfig;
}

/**
 * The Cloud Map domain's state and the parts the operation handlers (`ops/`) share: the store, the
 * watch-fed snapshot every read comes from, the asynchronous operation engine, the health writer
 * and the discovery caches, plus id/ARN resolution. The 30 operations themselves are the handler
 * table in `ops/index.ts`. See docs/compatibility.md for the behaviour they implement.
 */
export class Registry {
  readonly kv: KV;
  readonly snapshot: Snapshot;
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  readonly quotas: Readonly<RegistryQuotas>;
  /** What the output builders need besides a record. */
  readonly out: OutputContext;
  readonly operations: OperationEngine;
  readonly health: HealthWriter;
  readonly discovery: Discovery;
  /** See `RegistryOptions.sharedStore`. */
  readonly sharedStore: boolean;
  /** Instance quota slots taken (shared store only). */
  readonly slots: InstanceSlotIndex;
  /** Service names being created right now (between the uniqueness check and the commit). */
  readonly reservedServiceNames = new Map<string, ServiceRecord>();

  private readonly logger: Logger;
  private readonly bg: Background;
  private starting?: Promise<void>;
  private unsubscribe?: () => void;
  private unfollowSlots?: () => void;

  constructor(options: RegistryOptions) {
    this.kv = options.kv;
    this.snapshot = options.snapshot;
    this.sharedStore = options.sharedStore ?? false;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.slots = new InstanceSlotIndex(this.snapshot, this.kv, this.clock, options.storeLease ?? (async () => undefined), this.logger);
    const metrics = options.metrics ? createRegistryMetrics(options.metrics) : undefined;
    const c = options.config;
    this.region = c.region;
    this.accountId = c.accountId;
    this.quotas = { ...DEFAULT_QUOTAS, ...c.quotas };
    this.bg = new Background(this.clock, this.logger);
    const shared = { kv: this.kv, snapshot: this.snapshot, clock: this.clock, logger: this.logger, metrics, background: this.bg };
    this.health = new HealthWriter({ ...shared, leaderKv: options.leaderKv ?? this.kv, customHealthDelayMs: Math.max(0, c.customHealthDelayMs ?? 0) });
    this.operations = new OperationEngine({
      ...shared,
      opDelayMs: Math.max(0, c.opDelayMs ?? 0),
      opRetentionMs: c.opRetentionMs ?? DEFAULT_OP_RETENTION_MS,
      maxFinishedOps: c.maxFinishedOps ?? DEFAULT_MAX_FINISHED_OPS,
      opSweepIntervalMs: c.opSweepIntervalMs ?? OP_SWEEP_INTERVAL_MS,
      onDeregistered: (serviceId, instanceId) => this.health.cancel(serviceId, instanceId),
    });
    this.discovery = new Discovery(this.snapshot);
    const snap = this.snapshot;
    this.out = {
      accountId: this.accountId,
      serviceCount: (id) => {
        let n = 0;
        for (const _ of snap.servicesOf(id)) n++;
        return n;
      },
      instanceCount: (id) => snap.instances(id).size,
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Loads operations, starts the operation watch, resumes every operation acknowledged but not
   * finished before a restart, and re-arms pending custom-health changes.
   */
  start(): Promise<void> {
    if (this.bg.running) return Promise.resolve();
    this.starting ??= this.doStart().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async doStart(): Promise<void> {
    await this.operations.load();
    this.unsubscribe = this.snapshot.onChange((change) => this.discovery.invalidate(change));
    if (this.sharedStore) this.unfollowSlots = this.slots.follow();
    this.bg.running = true;
    const resumed = this.operations.resume();
    const rearmed = this.health.rearm();
    this.logger.info({ operations: this.operations.size, resumed, pendingHealth: rearmed }, 'registry started');
  }

  /** Leader work on several servers: runs the open operations of servers that died (engine.adoptOrphans). */
  adoptOrphanedOperations(graceMs: number): number {
    return this.bg.running ? this.operations.adoptOrphans(graceMs) : 0;
  }

  /** Stops the worker and timers and waits for applies in flight. Safe to call more than once. */
  async stop(): Promise<void> {
    this.bg.halt();
    this.health.cancelAll();
    this.operations.cancelWatch();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unfollowSlots?.();
    this.unfollowSlots = undefined;
    await this.bg.settle();
  }

  /** Every operation handler runs behind this: calls before `start()` or after `stop()` are faults. */
  assertRunning(): void {
    if (!this.bg.running) throw new RegistryNotRunningError();
  }

  /**
   * Deletes finished operations older than the retention, and the oldest beyond the cap. Runs every
   * minute; public so tests can run it. Returns how many were deleted.
   */
  sweepOperations(): Promise<number> {
    return this.operations.sweep();
  }

  /** Resolves with the operation once it reaches SUCCESS or FAIL (for the orchestrator and tests). */
  waitForOperation(id: string): Promise<OperationRecord> {
    return this.operations.waitFor(id);
  }

  /** The health checker's and the orchestrator's way in: see `HealthWriter.set`. */
  setHealth(serviceId: string, instanceId: string, status: 'HEALTHY' | 'UNHEALTHY', reason: string): Promise<boolean> {
    return this.health.set(serviceId, instanceId, status, reason);
  }

  /**
   * Long-poll support (DESIGN: "a watch on a service's instances"): resolves with the service's
   * InstancesRevision once it is greater than `afterRevision`, or with the current one when
   * `signal` aborts or the service is deleted. Health changes do not wake it (they do not move
   * the revision).
   */
  waitForInstancesRevision(serviceId: string, afterRevision: number, signal?: AbortSignal): Promise<number> {
    const current = () => this.snapshot.instancesRevision(serviceId);
    if (current() > afterRevision || signal?.aborted || !this.snapshot.service(serviceId)) return Promise.resolve(current());
    return new Promise((resolve) => {
      const finish = () => {
        unsubscribe();
        signal?.removeEventListener('abort', finish);
        resolve(current());
      };
      const unsubscribe = this.snapshot.onChange((change) => {
        if (change.serviceId !== serviceId) return;
        if ((change.kind === 'instance' && current() > afterRevision) || (change.kind === 'service' && !this.snapshot.service(serviceId))) finish();
      });
      signal?.addEventListener('abort', finish, { once: true });
    });
  }

  // ---------------------------------------------------------------- shared by the handlers

  /** Accepts a bare id or a Cloud Map ARN of our region and account (`Arn`-typed members, docs/compatibility.md#identifiers). */
  resolveId(member: string, value: string, kind: 'namespace' | 'service'): string {
    if (!value.startsWith('arn:')) return value;
    const parts = parseArn(value);
    if (!parts || parts.service !== 'servicediscovery' || !parts.resource.startsWith(`${kind}/`)) {
      throw invalidInput(`${member}: must be a ${kind} ID or ${kind} ARN`);
    }
    const id = parts.resource.slice(kind.length + 1);
    if (parts.region !== this.region || parts.account !== this.accountId) {
      throw kind === 'namespace' ? namespaceNotFound(value) : serviceNotFound(value);
    }
    return id;
  }

  arn(kind: 'namespace' | 'service', id: string): string {
    return formatArn({ service: 'servicediscovery', region: this.region, account: this.accountId, resource: `${kind}/${id}` });
  }

  requireService(member: string, raw: string): ServiceRecord {
    const id = this.resolveId(member, raw, 'service');
    const svc = this.snapshot.service(id);
    if (!svc) throw serviceNotFound(raw);
    return svc;
  }

  requireNamespace(member: string, raw: string): NamespaceRecord {
    const id = this.resolveId(member, raw, 'namespace');
    const ns = this.snapshot.namespace(id);
    if (!ns) throw namespaceNotFound(raw);
    return ns;
  }

  /** Read-modify-write of one JSON record with compare-and-swap; resolves once the snapshot shows it. */
  mutate<T>(key: string, notFound: () => Error, fn: (rec: T) => T): Promise<T> {
    return retryOnConflict(async () => {
      const cur = await this.kv.get(key);
      if (!cur) throw notFound();
      const next = fn(JSON.parse(cur.value) as T);
      const rev = await this.kv.update(key, JSON.stringify(next), cur.modRevision);
      await this.snapshot.waitForRevision(rev);
      return next;
    }, () => registryConflict(key));
  }
}
