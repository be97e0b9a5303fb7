import { hasHealthConfig, type HealthStatus, type InstanceRecord, type NamespaceRecord, type ServiceRecord } from './model.ts';
import type { Snapshot, SnapshotChange } from './snapshot.ts';

type Out = Record<string, unknown>;

/**
 * An output may carry its own JSON text under this symbol (JSON.stringify ignores symbol keys): the
 * API can send it as the body instead of serializing the object. DiscoverInstances uses it, so a
 * 100-instance answer is a string join of cached per-instance fragments.
 */
export const RAW_JSON: unique symbol = Symbol.for('pharos.rawJson');
/**
 * Beside `RAW_JSON`, the same text as UTF-8 bytes, encoded once per cached answer: a 100-instance
 * answer is ~20 KB that the API would otherwise measure and encode on every response.
 */
export const RAW_JSON_BYTES: unique symbol = Symbol.for('pharos.rawJsonBytes');

/** How many random orderings of one DiscoverInstances answer are kept: enough that consecutive callers rarely see the same order. */
const DISCOVER_ORDERINGS = 16;

/** DiscoverInstances' `HealthStatus`. */
type HealthFilter = 'HEALTHY' | 'UNHEALTHY' | 'ALL' | 'HEALTHY_OR_ELSE_ALL';

/**
 * The DiscoverInstances hot path and its caches, fed by the snapshot: service lookup by name per
 * namespace, each instance's JSON fragment, and per service a few ready answers for calls without
 * query/optional parameters. Every cache is dropped on a change to what it covers, so answers are
 * never stale; the hot path is then one pick.
 */
export class Discovery {
  /** Service id → (health filter | MaxResults → ready orderings). */
  private readonly answers = new Map<string, Map<string, DiscoverOrderings>>();
  /** Namespace id → (service name → service id); dropped on any namespace/service change. */
  private readonly serviceNames = new Map<string, Map<string, string>>();
  private readonly instanceJsonCache = new WeakMap<InstanceRecord, { status: HealthStatus; namespaceName: string; serviceName: string; json: string }>();

  constructor(private readonly snapshot: Snapshot) {}

  /** Drops what a snapshot change makes stale (subscribe to `Snapshot.onChange`). */
  invalidate(change: SnapshotChange): void {
    // Users' Route 53 record sets are not in any DiscoverInstances answer.
    if (change.kind === 'recordset') return;
    if (change.kind === 'service' || change.kind === 'namespace') this.serviceNames.clear();
    if (change.kind === 'namespace' || change.serviceId === undefined) this.answers.clear();
    else this.answers.delete(change.serviceId);
  }

  serviceByName(namespaceId: string, name: string): ServiceRecord | undefined {
    let byName = this.serviceNames.get(namespaceId);
    if (!byName) {
      byName = new Map();
      for (const s of this.snapshot.servicesOf(namespaceId)) byName.set(s.name, s.id);
      this.serviceNames.set(namespaceId, byName);
    }
    const id = byName.get(name);
    return id === undefined ? undefined : this.snapshot.service(id);
  }

  /**
   * The DiscoverInstances answer for one service (with its pre-serialized body under `RAW_JSON`),
   * from validated parameters (positional: this is the hot path, no options object per call).
   */
  discover(
    ns: NamespaceRecord,
    svc: ServiceRecord,
    max: number,
    query: Record<string, string> | undefined,
    optional: Record<string, string> | undefined,
    healthFilter: HealthFilter | undefined,
  ): Out {
    const queryPairs = query ? Object.entries(query) : [];
    const cacheable = queryPairs.length === 0 && (optional === undefined || Object.keys(optional).length === 0);
    const cacheKey = `${healthFilter ?? ''}|${max}`;
    if (cacheable) {
      const hit = this.answers.get(svc.id)?.get(cacheKey);
      if (hit) return hit.pick();
    }
    const withHealth = hasHealthConfig(svc);
    const custom = svc.healthCheckCustomConfig !== undefined;
    const snap = this.snapshot;
    const healthRecords = snap.healthRecords(svc.id);
    let found: { inst: InstanceRecord; status: HealthStatus }[] = [];
    for (const inst of snap.instances(svc.id).values()) {
      if (queryPairs.length > 0 && !matchesAll(inst.attributes, queryPairs)) continue;
      // Inlined Snapshot.health(): this loop is the hot path.
      let status: HealthStatus = 'UNKNOWN';
      if (withHealth) {
        const rec = healthRecords?.get(inst.id);
        if (rec) status = rec.status;
        else if (custom) status = inst.attributes['AWS_INIT_HEALTH_STATUS'] === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY';
      }
      found.push({ inst, status });
    }
    if (withHealth) {
      // Omitted behaves as HEALTHY: fail closed (docs/compatibility.md#discoverinstances).
      const mode = healthFilter ?? 'HEALTHY';
      if (mode === 'HEALTHY') found = found.filter((f) => f.status === 'HEALTHY');
      else if (mode === 'UNHEALTHY') found = found.filter((f) => f.status === 'UNHEALTHY');
      else if (mode === 'HEALTHY_OR_ELSE_ALL') {
        const healthy = found.filter((f) => f.status === 'HEALTHY');
        if (healthy.length > 0) found = healthy;
      }
    }
    if (optional) {
      const pairs = Object.entries(optional);
      if (pairs.length > 0) {
        const preferred = found.filter((f) => matchesAll(f.inst.attributes, pairs));
        if (preferred.length > 0) found = preferred;
      }
    }
    const orderings = new DiscoverOrderings(found, max, snap.instancesRevision(svc.id), (inst, status) => this.instanceJson(inst, ns.httpName, svc.name, status), (inst, status) => ({
      InstanceId: inst.id,
      NamespaceName: ns.httpName,
      ServiceName: svc.name,
      HealthStatus: status,
      // Attributes are shared with the snapshot record (read-only): no copy on the hot path.
      Attributes: inst.attributes,
    }));
    // Answers filtered by caller-supplied parameters are one-offs: not worth keeping.
    if (!cacheable) return orderings.once();
    let perService = this.answers.get(svc.id);
    if (!perService) this.answers.set(svc.id, (perService = new Map()));
    perService.set(cacheKey, orderings);
    return orderings.pick();
  }

  /**
   * One HttpInstanceSummary as JSON text, cached per instance record (records are replaced, never
   * mutated, so identity is a safe key): a response is then a join, not a serialization.
   */
  private instanceJson(inst: InstanceRecord, namespaceName: string, serviceName: string, status: HealthStatus): string {
    const cached = this.instanceJsonCache.get(inst);
    if (cached && cached.status === status && cached.namespaceName === namespaceName && cached.serviceName === serviceName) return cached.json;
    const json = JSON.stringify({ InstanceId: inst.id, NamespaceName: namespaceName, ServiceName: serviceName, HealthStatus: status, Attributes: inst.attributes });
    this.instanceJsonCache.set(inst, { status, namespaceName, serviceName, json });
    return json;
  }
}

function matchesAll(attributes: Record<string, string>, pairs: [string, string][]): boolean {
  for (const [k, v] of pairs) if (attributes[k] !== v) return false;
  return true;
}

/**
 * The instances one DiscoverInstances query selects (after the health filter), and up to
 * `DISCOVER_ORDERINGS` random orderings of them, each cut to MaxResults and joined into a flat JSON
 * body on first use. A pick is then a random index, not a shuffle, a join and a rope flatten per call.
 */
class DiscoverOrderings {
  private readonly bodies: (Out | undefined)[] = new Array(DISCOVER_ORDERINGS);

  constructor(
    private readonly found: readonly { inst: InstanceRecord; status: HealthStatus }[],
    private readonly max: number,
    private readonly revision: number,
    private readonly json: (inst: InstanceRecord, status: HealthStatus) => string,
    private readonly summary: (inst: InstanceRecord, status: HealthStatus) => Out,
  ) {}

  /** One of the kept orderings, built on first use. */
  pick(): Out {
    const k = Math.floor(Math.random() * DISCOVER_ORDERINGS);
    return (this.bodies[k] ??= this.build());
  }

  /** A fresh random ordering that is not kept. */
  once(): Out {
    return this.build();
  }

  private build(): Out {
    const order = this.found.slice();
    // Partial Fisher–Yates: a uniformly random `max`-subset in random order.
    const n = Math.min(this.max, order.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (order.length - i));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    const fragments = new Array<string>(n);
    const instances = new Array<Out>(n);
    for (let i = 0; i < n; i++) {
      fragments[i] = this.json(order[i]!.inst, order[i]!.status);
      instances[i] = this.summary(order[i]!.inst, order[i]!.status);
    }
    const body = `{"Instances":[${fragments.join(',')}],"InstancesRevision":${this.revision}}`;
    return Object.freeze({ Instances: instances, InstancesRevision: this.revision, [RAW_JSON]: body, [RAW_JSON_BYTES]: Buffer.from(body, 'utf8') });
  }
}
