import { Histogram, LATENCY_BUCKETS, type Clock, type Logger, type Registry as MetricsRegistry, systemClock } from '../lib/index.ts';
import { follow, type KV, type Watch, type WatchEvent } from '../store/index.ts';
import {
  hasHealthConfig,
  keys,
  parseQuotaKey,
  splitInstanceKey,
  type HealthRecord,
  type HealthStatus,
  type InstanceRecord,
  type NamespaceRecord,
  type ServiceRecord,
  type ZoneRecordSetRecord,
} from './model.ts';

/** What changed, so readers (the DNS answer cache) can drop exactly what it affects. */
export interface SnapshotChange {
  kind: 'namespace' | 'service' | 'instance' | 'health' | 'recordset';
  /** Set for namespace changes and, when known, for service/instance/health changes. */
  namespaceId?: string;
  serviceId?: string;
  /** Absent on an `instance` change that only moves the service's InstancesRevision (a deregistration's marker). */
  instanceId?: string;
  /** The store revision that caused the change. */
  revision: number;
  /** When the write committed (epoch ms), if the store says. */
  committedAt?: number;
  /** The records before the change (so a reader can drop names that no longer exist). */
  previous?: NamespaceRecord | ServiceRecord | InstanceRecord;
}

/** The read side of the registry that DNS and DiscoverInstances use (the consumer-owned interface). */
export interface RegistryView {
  namespace(id: string): NamespaceRecord | undefined;
  namespaces(): Iterable<NamespaceRecord>;
  namespaceByHttpName(httpName: string): NamespaceRecord | undefined;
  service(id: string): ServiceRecord | undefined;
  services(): Iterable<ServiceRecord>;
  servicesOf(namespaceId: string): Iterable<ServiceRecord>;
  instances(serviceId: string): ReadonlyMap<string, InstanceRecord>;
  instance(serviceId: string, instanceId: string): InstanceRecord | undefined;
  /** The status Cloud Map reports: UNKNOWN for services without health config. */
  health(serviceId: string, instanceId: string): HealthStatus;
  healthRecord(serviceId: string, instanceId: string): HealthRecord | undefined;
  instancesRevision(serviceId: string): number;
  /** Record sets users added to a DNS namespace's hosted zone (Route 53), by store key. */
  recordSets(namespaceId: string): ReadonlyMap<string, ZoneRecordSetRecord>;
  onChange(listener: (change: SnapshotChange) => void): () => void;
}

const WATCHED_PREFIXES = [keys.namespacePrefix, keys.servicePrefix, keys.instancePrefix, keys.healthPrefix, keys.instancesRevisionPrefix, keys.recordSetPrefix];
const NO_INSTANCES: ReadonlyMap<string, InstanceRecord> = new Map();
const NO_RECORD_SETS: ReadonlyMap<string, ZoneRecordSetRecord> = new Map();
const NO_QUOTA = { blocks: new Map<number, number>(), slots: new Set<number>() };

/**
 * An in-memory view of namespaces, services, instances and health, kept current from store watches.
 * Each prefix is listed and then watched from the list's revision (kine's "list, then watch from
 * there"), so nothing between the two is missed; a watch whose history was compacted lists again
 * and applies the difference (`follow`), so DNS and discovery converge. Records that arrive out of order across prefixes
 * (an instance before its service) are kept and joined on read.
 */
export class Snapshot implements RegistryView {
  private readonly ns = new Map<string, NamespaceRecord>();
  private readonly svc = new Map<string, ServiceRecord>();
  private readonly svcByNs = new Map<string, Set<string>>();
  private readonly inst = new Map<string, Map<string, InstanceRecord>>();
  private readonly healthRecs = new Map<string, Map<string, HealthRecord>>();
  private readonly irev = new Map<string, number>();
  /** Namespace id → (store key → user record set). */
  private readonly rrsets = new Map<string, Map<string, ZoneRecordSetRecord>>();
  private readonly nsByHttpName = new Map<string, string>();
  /**
   * Change listeners, copied on (un)subscribe rather than on every change (as EventEmitter's emit
   * does): a change per registration reaches every listener. An emit walks the array it started
   * with, so a listener added meanwhile waits for the next change, as with EventEmitter.
   */
  private listeners: readonly ((change: SnapshotChange) => void)[] = [];
  private readonly watches: Watch[] = [];
  private readonly waiters: { revision: number; resolve: () => void }[] = [];
  private appliedRevision = 0;
  private readonly applyDelay?: Histogram;

  private constructor(
    private readonly clock: Clock,
    private readonly logger?: Logger,
    metrics?: MetricsRegistry,
  ) {
    if (metrics) {
      this.applyDelay = new Histogram({
        name: 'pharos_snapshot_apply_delay_seconds',
        help: 'Time from a store commit to the change being visible in the in-memory snapshot.',
        buckets: LATENCY_BUCKETS,
        registers: [metrics],
      });
    }
  }

  /** Loads everything, starts the watches, and resolves once the view is current. */
  static async open(kv: KV, options: { clock?: Clock; logger?: Logger; metrics?: MetricsRegistry } = {}): Promise<Snapshot> {
    const snap = new Snapshot(options.clock ?? systemClock, options.logger, options.metrics);
    for (const prefix of WATCHED_PREFIXES) {
      const listed = await kv.list(prefix);
      for (const item of listed.items) {
        snap.applyPut(item.key, item.value, item.modRevision, false);
      }
      snap.appliedRevision = Math.max(snap.appliedRevision, listed.revision);
      snap.watches.push(
        follow(kv, prefix, listed, (events) => snap.applyEvents(events), {
          logger: snap.logger,
          onError: (err) => snap.logger?.error({ err, prefix }, 'snapshot watch failed'),
          onResync: (revision) => snap.resynced(revision),
          // The instance keys' revisions are kept here anyway (instanceRevision): one map, not two.
          ...(prefix === keys.instancePrefix ? { known: () => snap.instanceKeys } : {}),
        }),
      );
    }
    return snap;
  }

  close(): void {
    for (const w of this.watches.splice(0)) w.cancel();
    this.listeners = [];
  }

  /** The newest store revision applied. */
  get revision(): number {
    return this.appliedRevision;
  }

  /** Resolves once every write up to `revision` is in the view (read-your-writes for the API). */
  waitForRevision(revision: number): Promise<void> {
    if (revision <= this.appliedRevision) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ revision, resolve }));
  }

  onChange(listener: (change: SnapshotChange) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners = [...this.listeners.slice(0, i), ...this.listeners.slice(i + 1)];
    };
  }

  namespace(id: string): NamespaceRecord | undefined {
    return this.ns.get(id);
  }
  namespaces(): Iterable<NamespaceRecord> {
    return this.ns.values();
  }
  namespaceByHttpName(httpName: string): NamespaceRecord | undefined {
    const id = this.nsByHttpName.get(httpName);
    return id === undefined ? undefined : this.ns.get(id);
  }
  service(id: string): ServiceRecord | undefined {
    return this.svc.get(id);
  }
  services(): Iterable<ServiceRecord> {
    return this.svc.values();
  }
  *servicesOf(namespaceId: string): Iterable<ServiceRecord> {
    for (const id of this.svcByNs.get(namespaceId) ?? []) {
      const s = this.svc.get(id);
      if (s) yield s;
    }
  }
  instances(serviceId: string): ReadonlyMap<string, InstanceRecord> {
    return this.inst.get(serviceId) ?? NO_INSTANCES;
  }
  instance(serviceId: string, instanceId: string): InstanceRecord | undefined {
    return this.inst.get(serviceId)?.get(instanceId);
  }
  /** The store revision of the record this view holds for `rec`'s instance (the guard of a write that replaces it). */
  instanceRevision(rec: InstanceRecord): number | undefined {
    return this.instanceKeys.get(keys.instance(rec.serviceId, rec.id));
  }
  healthRecord(serviceId: string, instanceId: string): HealthRecord | undefined {
    return this.healthRecs.get(serviceId)?.get(instanceId);
  }
  /** A service's stored health records by instance id (undefined when none): for hot loops over many instances. */
  healthRecords(serviceId: string): ReadonlyMap<string, HealthRecord> | undefined {
    return this.healthRecs.get(serviceId);
  }
  health(serviceId: string, instanceId: string): HealthStatus {
    const service = this.svc.get(serviceId);
    if (!service || !hasHealthConfig(service)) return 'UNKNOWN';
    const rec = this.healthRecs.get(serviceId)?.get(instanceId);
    if (rec) return rec.status;
    if (service.healthCheckCustomConfig) {
      // Custom health starts from AWS_INIT_HEALTH_STATUS, default HEALTHY (docs/compatibility.md#instances).
      const init = this.instance(serviceId, instanceId)?.attributes['AWS_INIT_HEALTH_STATUS'];
      return init === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY';
    }
    return 'UNKNOWN'; // probed service before its first result
  }
  recordSets(namespaceId: string): ReadonlyMap<string, ZoneRecordSetRecord> {
    return this.rrsets.get(namespaceId) ?? NO_RECORD_SETS;
  }
  /**
   * An instance quota's blocks (block → the revision its key was created at, whoever holds it) and
   * slot keys, by scope (`svc/<serviceId>`, `ns/<namespaceId>`): see `quota.ts`.
   */
  quota(scope: string): { blocks: ReadonlyMap<number, number>; slots: ReadonlySet<number> } {
    return this.quotas.get(scope) ?? NO_QUOTA;
  }
  /** Called with the scope whenever one of its blocks or slot keys comes or goes; returns the unsubscribe. */
  onQuota(listener: (scope: string) => void): () => void {
    this.quotaListeners.add(listener);
    return () => this.quotaListeners.delete(listener);
  }
  instancesRevision(serviceId: string): number {
    // The marker covers deregistrations; registrations are the instances' own modRevisions.
    return Math.max(this.irev.get(serviceId) ?? 0, this.instRevs.get(serviceId) ?? 0);
  }

  private readonly quotas = new Map<string, { blocks: Map<number, number>; slots: Set<number> }>();
  private readonly quotaListeners = new Set<(scope: string) => void>();

  /** A quota block or slot key (`keys.instanceQuotaPrefix`) came (`revision`) or went (undefined). */
  private applyQuota(key: string, revision: number | undefined): void {
    const q = parseQuotaKey(key);
    if (!q) return;
    let entry = this.quotas.get(q.scope);
    if (!entry) this.quotas.set(q.scope, (entry = { blocks: new Map(), slots: new Set() }));
    if (q.what === 'block') {
      if (revision === undefined) entry.blocks.delete(q.n);
      else entry.blocks.set(q.n, revision);
    } else if (revision === undefined) entry.slots.delete(q.n);
    else entry.slots.add(q.n);
    if (entry.blocks.size === 0 && entry.slots.size === 0) this.quotas.delete(q.scope);
    for (const listener of this.quotaListeners) listener(q.scope);
  }

  /** Highest modRevision among a service's live instance records. */
  private readonly instRevs = new Map<string, number>();
  /** The modRevision of every key under the instance prefix (instances and their quota keys), as delivered. */
  private readonly instanceKeys = new Map<string, number>();

  private applyEvents(events: WatchEvent[]): void {
    const now = this.clock.now();
    for (const ev of events) {
      if (ev.type === 'put') this.applyPut(ev.key, ev.value ?? '', ev.revision, true, ev.committedAt, ev.object);
      else this.applyDelete(ev.key, ev.revision, ev.committedAt);
      if (ev.committedAt !== undefined) this.applyDelay?.observe(Math.max(0, now - ev.committedAt) / 1000);
      if (ev.revision > this.appliedRevision) this.appliedRevision = ev.revision;
    }
    this.releaseWaiters();
  }

  /** A watch re-listed after compaction: its prefix is complete through `revision`. */
  private resynced(revision: number): void {
    if (revision > this.appliedRevision) this.appliedRevision = revision;
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) return;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.revision <= this.appliedRevision) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private emit(change: SnapshotChange, notify: boolean): void {
    if (notify) for (const listener of this.listeners) listener(change);
  }

  /** `object`: the record this process wrote (`WatchEvent.object`), so `value` needs no parse. */
  private applyPut(key: string, value: string, revision: number, notify: boolean, committedAt?: number, object?: unknown): void {
    if (key.startsWith(keys.instancePrefix)) this.instanceKeys.set(key, revision);
    if (key.startsWith(keys.instanceQuotaPrefix)) return this.applyQuota(key, revision);
    let parsed = object;
    if (parsed === undefined) {
      try {
        parsed = JSON.parse(value);
      } catch (err) {
        this.logger?.error({ err, key }, 'snapshot: unparsable record skipped');
        return;
      }
    }
    if (key.startsWith(keys.namespacePrefix)) {
      const rec = parsed as NamespaceRecord;
      const previous = this.ns.get(rec.id);
      if (previous && previous.httpName !== rec.httpName) this.nsByHttpName.delete(previous.httpName);
      this.ns.set(rec.id, rec);
      this.nsByHttpName.set(rec.httpName, rec.id);
      this.emit({ kind: 'namespace', namespaceId: rec.id, revision, committedAt, previous }, notify);
    } else if (key.startsWith(keys.servicePrefix)) {
      const rec = parsed as ServiceRecord;
      const previous = this.svc.get(rec.id);
      this.svc.set(rec.id, rec);
      let set = this.svcByNs.get(rec.namespaceId);
      if (!set) this.svcByNs.set(rec.namespaceId, (set = new Set()));
      set.add(rec.id);
      this.emit({ kind: 'service', namespaceId: rec.namespaceId, serviceId: rec.id, revision, committedAt, previous }, notify);
    } else if (key.startsWith(keys.instancePrefix)) {
      const rec = parsed as InstanceRecord;
      let m = this.inst.get(rec.serviceId);
      if (!m) this.inst.set(rec.serviceId, (m = new Map()));
      const previous = m.get(rec.id);
      m.set(rec.id, rec);
      this.instRevs.set(rec.serviceId, Math.max(this.instRevs.get(rec.serviceId) ?? 0, revision));
      const namespaceId = this.svc.get(rec.serviceId)?.namespaceId;
      this.emit({ kind: 'instance', namespaceId, serviceId: rec.serviceId, instanceId: rec.id, revision, committedAt, previous }, notify);
    } else if (key.startsWith(keys.healthPrefix)) {
      const ids = splitInstanceKey(key);
      if (!ids) return;
      let m = this.healthRecs.get(ids.serviceId);
      if (!m) this.healthRecs.set(ids.serviceId, (m = new Map()));
      m.set(ids.instanceId, parsed as HealthRecord);
      const namespaceId = this.svc.get(ids.serviceId)?.namespaceId;
      this.emit({ kind: 'health', namespaceId, serviceId: ids.serviceId, instanceId: ids.instanceId, revision, committedAt }, notify);
    } else if (key.startsWith(keys.instancesRevisionPrefix)) {
      const serviceId = key.slice(keys.instancesRevisionPrefix.length);
      this.irev.set(serviceId, Math.max(this.irev.get(serviceId) ?? 0, revision));
      // The marker moves InstancesRevision after the deregistration's own events: readers that
      // cache by revision (DiscoverInstances, the watch) must hear of it too.
      this.emit({ kind: 'instance', namespaceId: this.svc.get(serviceId)?.namespaceId, serviceId, revision, committedAt }, notify);
    } else if (key.startsWith(keys.recordSetPrefix)) {
      const rec = parsed as ZoneRecordSetRecord;
      let m = this.rrsets.get(rec.namespaceId);
      if (!m) this.rrsets.set(rec.namespaceId, (m = new Map()));
      m.set(key, rec);
      this.emit({ kind: 'recordset', namespaceId: rec.namespaceId, revision, committedAt }, notify);
    }
  }

  private applyDelete(key: string, revision: number, committedAt?: number): void {
    if (key.startsWith(keys.instancePrefix)) this.instanceKeys.delete(key);
    if (key.startsWith(keys.namespacePrefix)) {
      const id = key.slice(keys.namespacePrefix.length);
      const previous = this.ns.get(id);
      this.ns.delete(id);
      if (previous && this.nsByHttpName.get(previous.httpName) === id) this.nsByHttpName.delete(previous.httpName);
      this.emit({ kind: 'namespace', namespaceId: id, revision, committedAt, previous }, true);
    } else if (key.startsWith(keys.servicePrefix)) {
      const id = key.slice(keys.servicePrefix.length);
      const previous = this.svc.get(id);
      this.svc.delete(id);
      if (previous) this.svcByNs.get(previous.namespaceId)?.delete(id);
      this.irev.delete(id);
      this.instRevs.delete(id);
      this.emit({ kind: 'service', namespaceId: previous?.namespaceId, serviceId: id, revision, committedAt, previous }, true);
    } else if (key.startsWith(keys.instanceQuotaPrefix)) {
      this.applyQuota(key, undefined);
    } else if (key.startsWith(keys.instancePrefix)) {
      const ids = splitInstanceKey(key);
      if (!ids) return;
      const m = this.inst.get(ids.serviceId);
      const previous = m?.get(ids.instanceId);
      m?.delete(ids.instanceId);
      if (m && m.size === 0) this.inst.delete(ids.serviceId);
      // A deregistration moves the revision on even though the record is gone.
      if (this.svc.has(ids.serviceId)) this.irev.set(ids.serviceId, Math.max(this.irev.get(ids.serviceId) ?? 0, revision));
      const namespaceId = this.svc.get(ids.serviceId)?.namespaceId;
      this.emit({ kind: 'instance', namespaceId, serviceId: ids.serviceId, instanceId: ids.instanceId, revision, committedAt, previous }, true);
    } else if (key.startsWith(keys.healthPrefix)) {
      const ids = splitInstanceKey(key);
      if (!ids) return;
      const m = this.healthRecs.get(ids.serviceId);
      m?.delete(ids.instanceId);
      if (m && m.size === 0) this.healthRecs.delete(ids.serviceId);
      const namespaceId = this.svc.get(ids.serviceId)?.namespaceId;
      this.emit({ kind: 'health', namespaceId, serviceId: ids.serviceId, instanceId: ids.instanceId, revision, committedAt }, true);
    } else if (key.startsWith(keys.instancesRevisionPrefix)) {
      this.irev.delete(key.slice(keys.instancesRevisionPrefix.length));
    } else if (key.startsWith(keys.recordSetPrefix)) {
      const namespaceId = key.slice(keys.recordSetPrefix.length).split('/', 1)[0]!;
      const m = this.rrsets.get(namespaceId);
      m?.delete(key);
      if (m && m.size === 0) this.rrsets.delete(namespaceId);
      this.emit({ kind: 'recordset', namespaceId, revision, committedAt }, true);
    }
  }
}
