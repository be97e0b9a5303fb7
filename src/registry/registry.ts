import { createHash } from 'node:crypto';
import {
  Counter,
  Gauge,
  Histogram,
  LATENCY_BUCKETS,
  PharosError,
  formatArn,
  isPharosError,
  jitter,
  newHostedZoneId,
  newNamespaceId,
  newOperationId,
  newServiceId,
  parseArn,
  randomString,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Registry as MetricsRegistry,
  type Timer,
} from '../lib/index.ts';
import { STORE_KEY_EXISTS, STORE_KEY_NOT_FOUND, STORE_REVISION_MISMATCH, type KV, type TxnOp, type Watch, type WatchEvent } from '../store/index.ts';
import {
  RegistryNotRunningError,
  customHealthNotFound,
  duplicateRequest,
  instanceNotFound,
  invalidInput,
  namespaceAlreadyExists,
  namespaceNotFound,
  operationNotFound,
  resourceInUse,
  resourceLimitExceeded,
  resourceNotFound,
  serviceAlreadyExists,
  serviceAttributesLimitExceeded,
  serviceNotFound,
  tooManyTags,
} from './errors.ts';
import {
  hasHealthConfig,
  keys,
  type DnsRecordConfig,
  type HealthCheckConfigRecord,
  type HealthRecord,
  type HealthStatus,
  type InstanceRecord,
  type NamespaceRecord,
  type OperationRecord,
  type OperationStatus,
  type OperationType,
  type ServiceRecord,
  type ServiceType,
  type Tag,
} from './model.ts';
import {
  instanceOut,
  instanceSummaryOut,
  namespaceOut,
  namespaceSummaryOut,
  operationOut,
  serviceOut,
  serviceSummaryOut,
  tagsOut,
  type OutputContext,
} from './output.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, byKey, page } from './paging.ts';
import { checkInstanceAttributes, readDnsConfig, readDnsRecords, readHealthCheckConfig, readInstanceAttributes, readTags } from './rules.ts';
import type { Snapshot } from './snapshot.ts';
import { Input, P1, P2, P3, P4, P5, P6, P7, P8, checkEnum, checkStr } from './validate.ts';

/** The 30 operations of the current Cloud Map model (CLOUDMAP-SPEC 1.1), as `X-Amz-Target` names them. */
export const REGISTRY_OPERATIONS = [
  'CreateHttpNamespace',
  'CreatePrivateDnsNamespace',
  'CreatePublicDnsNamespace',
  'UpdateHttpNamespace',
  'UpdatePrivateDnsNamespace',
  'UpdatePublicDnsNamespace',
  'GetNamespace',
  'ListNamespaces',
  'DeleteNamespace',
  'CreateService',
  'GetService',
  'ListServices',
  'UpdateService',
  'DeleteService',
  'GetServiceAttributes',
  'UpdateServiceAttributes',
  'DeleteServiceAttributes',
  'RegisterInstance',
  'DeregisterInstance',
  'GetInstance',
  'ListInstances',
  'GetInstancesHealthStatus',
  'UpdateInstanceCustomHealthStatus',
  'DiscoverInstances',
  'DiscoverInstancesRevision',
  'GetOperation',
  'ListOperations',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
] as const;
export type RegistryOperation = (typeof REGISTRY_OPERATIONS)[number];

/**
 * An output may carry its own JSON text under this symbol (JSON.stringify ignores symbol keys): the
 * API can send it as the body instead of serializing the object. DiscoverInstances uses it, so a
 * 100-instance answer is a string join of cached per-instance fragments.
 */
export const RAW_JSON: unique symbol = Symbol.for('pharos.rawJson');

/** `CreateHttpNamespace` → `createHttpNamespace`: the Registry method that implements an operation. */
export const methodNameOf = (op: string): string => op.charAt(0).toLowerCase() + op.slice(1);

/** Adjustable limits (CLOUDMAP-SPEC 3.11); the defaults are AWS's. */
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
  snapshot: Snapshot;
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRegistry;
  config: RegistryConfig;
}

/** A Cloud Map operation handler: untrusted parsed JSON in, the AWS output shape out. */
export type RegistryMethod = (input: unknown) => Promise<Record<string, unknown>>;

type Out = Record<string, unknown>;

/** How often one write is retried after losing a compare-and-swap race before giving up. */
const MAX_CAS_ATTEMPTS = 20;
/** Back-off before retrying an operation whose apply failed on a store fault (not a conflict). */
const APPLY_RETRY_MS = 1000;
/** AWS does not document how long operations stay visible; a day covers every client's polling. */
export const DEFAULT_OP_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Bounds memory and the store under registration storms (3,000/s would otherwise keep 260M a day). */
export const DEFAULT_MAX_FINISHED_OPS = 100_000;
/** How often finished operations are swept (default of `opSweepIntervalMs`). */
const OP_SWEEP_INTERVAL_MS = 60_000;
/** Deletes per sweep txn: small enough not to stall the group commit. */
const OP_SWEEP_BATCH = 500;
/** `DiscoverInstances` `MaxResults` when absent (CLOUDMAP-SPEC 2.4). */
const DEFAULT_DISCOVER_MAX = 100;
const MAX_DISCOVER_RESULTS = 1000;

const NAMESPACE_FILTER_NAMES = ['TYPE', 'NAME', 'HTTP_NAME', 'RESOURCE_OWNER'] as const;
const SERVICE_FILTER_NAMES = ['NAMESPACE_ID', 'RESOURCE_OWNER'] as const;
const OPERATION_FILTER_NAMES = ['NAMESPACE_ID', 'SERVICE_ID', 'STATUS', 'TYPE', 'UPDATE_DATE'] as const;
const FILTER_CONDITIONS = ['EQ', 'IN', 'BETWEEN', 'BEGINS_WITH'] as const;
const NAMESPACE_TYPES = ['HTTP', 'DNS_PRIVATE', 'DNS_PUBLIC'] as const;
const OPERATION_STATUSES = ['SUBMITTED', 'PENDING', 'SUCCESS', 'FAIL'] as const;
const OPERATION_TYPES = ['CREATE_NAMESPACE', 'DELETE_NAMESPACE', 'UPDATE_NAMESPACE', 'UPDATE_SERVICE', 'REGISTER_INSTANCE', 'DEREGISTER_INSTANCE'] as const;
const RESOURCE_OWNERS = ['SELF', 'OTHER_ACCOUNTS'] as const;
const DISCOVER_HEALTH = ['HEALTHY', 'UNHEALTHY', 'ALL', 'HEALTHY_OR_ELSE_ALL'] as const;
const CUSTOM_HEALTH = ['HEALTHY', 'UNHEALTHY'] as const;

/** What an asynchronous operation will apply (stored in `OperationRecord.payload`). */
type OpPayload =
  | { kind: 'createNamespace'; namespace: NamespaceRecord }
  | { kind: 'updateNamespace'; namespaceId: string; description?: string; soaTtl?: number }
  | { kind: 'deleteNamespace'; namespaceId: string }
  | { kind: 'updateService'; serviceId: string; description?: string; dnsRecords?: DnsRecordConfig[]; healthCheckConfig: HealthCheckConfigRecord | null }
  | { kind: 'registerInstance'; instance: InstanceRecord }
  | { kind: 'deregisterInstance'; serviceId: string; instanceId: string };

interface OpEntry {
  rec: OperationRecord;
  /** The op record's modRevision (0 while its create is in flight). */
  rev: number;
}

/** The result of planning an operation: store writes that go in the same txn as the op's SUCCESS, or a failure. */
type Plan = { writes: TxnOp[]; after?: () => void } | { fail: { code: string; message: string } };

type NamespaceKind = 'HTTP' | 'DNS_PRIVATE' | 'DNS_PUBLIC';

const isOpen = (s: OperationStatus): boolean => s === 'SUBMITTED' || s === 'PENDING';
const norm = (dnsName: string): string => dnsName.toLowerCase().replace(/\.$/, '');
const fingerprint = (parts: unknown): string => createHash('sha1').update(JSON.stringify(parts)).digest('base64url');
const isConflict = (err: unknown): boolean =>
  isPharosError(err, STORE_REVISION_MISMATCH) || isPharosError(err, STORE_KEY_EXISTS) || isPharosError(err, STORE_KEY_NOT_FOUND);

/** The key an open operation reserves: at most one open operation per namespace, service (update) or instance. */
function targetKey(op: OperationRecord): string | undefined {
  switch (op.type) {
    case 'CREATE_NAMESPACE':
    case 'DELETE_NAMESPACE':
    case 'UPDATE_NAMESPACE':
      return `ns:${op.targets.NAMESPACE}`;
    case 'UPDATE_SERVICE':
      return `svc:${op.targets.SERVICE}`;
    case 'REGISTER_INSTANCE':
    case 'DEREGISTER_INSTANCE':
      return `inst:${op.targets.SERVICE}/${op.targets.INSTANCE}`;
  }
}

interface Metrics {
  submitted: Counter<'type'>;
  completed: Counter<'type' | 'status'>;
  duration: Histogram<'type'>;
  open: Gauge;
  healthTransitions: Counter<'status'>;
}

function createMetrics(registry: MetricsRegistry): Metrics {
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

/**
 * The Cloud Map domain: the 30 operations of the `Route53AutoNaming_v20170314` API over the store,
 * the asynchronous operation worker, and the health write path used by the health checker and the
 * orchestrator. Reads come from the watch-fed `Snapshot`; every write goes to the `KV`.
 * @see /work/shared/CLOUDMAP-SPEC.md sections 1–3 (the contract this class meets).
 */
export class Registry {
  private readonly kv: KV;
  private readonly snapshot: Snapshot;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics?: Metrics;
  readonly region: string;
  readonly accountId: string;
  readonly quotas: Readonly<RegistryQuotas>;
  private readonly opDelayMs: number;
  private readonly customHealthDelayMs: number;
  private readonly opRetentionMs: number;
  private readonly maxFinishedOps: number;
  private readonly opSweepIntervalMs: number;
  private readonly out: OutputContext;

  private running = false;
  private starting?: Promise<void>;
  private opWatch?: Watch;
  private unsubscribe?: () => void;
  private readonly timers = new Set<Timer>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly healthTimers = new Map<string, Timer>();

  // Operation state, kept current by a watch on /op/ (so other nodes' operations are seen too).
  private readonly ops = new Map<string, OpEntry>();
  /** `${type}|${requestId}` → operation id: O(1) idempotency lookups. */
  private readonly opByRequest = new Map<string, string>();
  /** targetKey → id of the open operation holding it. */
  private readonly openByTarget = new Map<string, string>();
  /** Service id → open REGISTER_INSTANCE operations (quotas, DeleteService). */
  private readonly openRegistrations = new Map<string, number>();
  /** Open CREATE_NAMESPACE operations → the namespace they will create (names are taken at submit). */
  private readonly openNamespaceCreates = new Map<string, NamespaceRecord>();
  private readonly opWaiters = new Map<string, ((op: OperationRecord) => void)[]>();
  /** Service names being created right now (between the uniqueness check and the commit). */
  private readonly reservedServiceNames = new Map<string, ServiceRecord>();
  private readonly instanceJsonCache = new WeakMap<InstanceRecord, { status: HealthStatus; namespaceName: string; serviceName: string; json: string }>();
  /**
   * DiscoverInstances answers without query/optional parameters, per service: a few random orderings
   * of the filtered instances, each joined once into a flat JSON body. Dropped on any change to the
   * service (instances, health, config), so answers are never stale; the hot path is then one pick.
   */
  private readonly discoverCache = new Map<string, Map<string, DiscoverOrderings>>();
  /** Namespace id → (service name → service id), for DiscoverInstances; dropped on any namespace/service change. */
  private readonly serviceNameCache = new Map<string, Map<string, string>>();

  constructor(options: RegistryOptions) {
    this.kv = options.kv;
    this.snapshot = options.snapshot;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.metrics = options.metrics ? createMetrics(options.metrics) : undefined;
    const c = options.config;
    this.region = c.region;
    this.accountId = c.accountId;
    this.quotas = { ...DEFAULT_QUOTAS, ...c.quotas };
    this.opDelayMs = Math.max(0, c.opDelayMs ?? 0);
    this.customHealthDelayMs = Math.max(0, c.customHealthDelayMs ?? 0);
    this.opRetentionMs = c.opRetentionMs ?? DEFAULT_OP_RETENTION_MS;
    this.maxFinishedOps = c.maxFinishedOps ?? DEFAULT_MAX_FINISHED_OPS;
    this.opSweepIntervalMs = c.opSweepIntervalMs ?? OP_SWEEP_INTERVAL_MS;
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
    if (this.running) return Promise.resolve();
    this.starting ??= this.doStart().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const listed = await this.kv.list(keys.operationPrefix);
    for (const item of listed.items) {
      const rec = this.parseOp(item.key, item.value);
      if (rec) this.indexOp(rec, item.modRevision);
    }
    this.opWatch = this.kv.watch(
      keys.operationPrefix,
      listed.revision,
      (events) => this.applyOpEvents(events),
      (err) => this.logger.error({ err }, 'registry: operation watch failed'),
    );
    this.unsubscribe = this.snapshot.onChange((change) => {
      if (change.kind === 'service' || change.kind === 'namespace') this.serviceNameCache.clear();
      if (change.kind === 'namespace' || change.serviceId === undefined) this.discoverCache.clear();
      else this.discoverCache.delete(change.serviceId);
    });
    this.running = true;
    let resumed = 0;
    for (const entry of this.ops.values()) {
      if (isOpen(entry.rec.status)) {
        this.schedule(entry.rec.id);
        resumed++;
      }
    }
    let rearmed = 0;
    for (const svc of this.snapshot.services()) {
      for (const instanceId of this.snapshot.instances(svc.id).keys()) {
        const h = this.snapshot.healthRecord(svc.id, instanceId);
        if (h?.pending) {
          this.armHealthTimer(svc.id, instanceId, h.pending.effectiveAt);
          rearmed++;
        }
      }
    }
    if (this.opSweepIntervalMs > 0) {
      const sweep = (): void =>
        this.track(this.sweepOperations().finally(() => this.later(this.opSweepIntervalMs, sweep)));
      this.later(jitter(this.opSweepIntervalMs), sweep);
    }
    this.logger.info({ operations: this.ops.size, resumed, pendingHealth: rearmed }, 'registry started');
  }

  /**
   * Deletes finished operations older than the retention, and the oldest beyond the cap. Runs every
   * minute; public so tests can run it. Returns how many were deleted.
   */
  async sweepOperations(): Promise<number> {
    const now = this.clock.now();
    const finished: OpEntry[] = [];
    for (const e of this.ops.values()) if (!isOpen(e.rec.status) && e.rev > 0) finished.push(e);
    finished.sort((a, b) => a.rec.updateDate - b.rec.updateDate);
    const excess = finished.length - this.maxFinishedOps;
    const victims = finished.filter((e, i) => i < excess || now - e.rec.updateDate > this.opRetentionMs);
    let deleted = 0;
    for (let i = 0; i < victims.length; i += OP_SWEEP_BATCH) {
      const batch = victims.slice(i, i + OP_SWEEP_BATCH);
      try {
        await this.kv.txn(batch.map((e) => ({ type: 'delete', key: keys.operation(e.rec.id), prevRevision: e.rev })));
        deleted += batch.length;
      } catch (err) {
        if (!isConflict(err)) throw err; // one op changed meanwhile: the next sweep retries the rest
      }
    }
    if (deleted > 0) this.logger.debug({ deleted }, 'registry: finished operations swept');
    return deleted;
  }

  /** Stops the worker and timers and waits for applies in flight. Safe to call more than once. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    for (const t of this.healthTimers.values()) t.cancel();
    this.healthTimers.clear();
    this.opWatch?.cancel();
    this.opWatch = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private assertRunning(): void {
    if (!this.running) throw new RegistryNotRunningError();
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((err) => this.logger.error({ err }, 'registry: background task failed'));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  private later(ms: number, fn: () => void): void {
    if (!this.running) return;
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      if (this.running) fn();
    }, ms);
    this.timers.add(timer);
  }

  // ---------------------------------------------------------------- operation index

  private parseOp(key: string, value: string): OperationRecord | undefined {
    try {
      return JSON.parse(value) as OperationRecord;
    } catch (err) {
      this.logger.error({ err, key }, 'registry: unparsable operation record skipped');
      return undefined;
    }
  }

  private applyOpEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      const id = ev.key.slice(keys.operationPrefix.length);
      if (ev.type === 'put') {
        const rec = this.parseOp(ev.key, ev.value ?? '');
        if (rec) this.indexOp(rec, ev.revision);
      } else {
        const prev = this.ops.get(id);
        if (prev) this.unindexOp(prev.rec);
        this.ops.delete(id);
      }
    }
  }

  private indexOp(rec: OperationRecord, rev: number): void {
    const prev = this.ops.get(rec.id);
    if (prev) {
      if (prev.rev > rev && rev !== 0) return; // an older event than what we hold
      this.unindexOp(prev.rec);
    }
    this.ops.set(rec.id, { rec, rev });
    if (rec.requestId !== undefined) this.opByRequest.set(`${rec.type}|${rec.requestId}`, rec.id);
    if (isOpen(rec.status)) {
      this.metrics?.open.inc();
      const t = targetKey(rec);
      if (t) this.openByTarget.set(t, rec.id);
      if (rec.type === 'REGISTER_INSTANCE' && rec.targets.SERVICE) {
        this.openRegistrations.set(rec.targets.SERVICE, (this.openRegistrations.get(rec.targets.SERVICE) ?? 0) + 1);
      }
      const payload = rec.payload as OpPayload | undefined;
      if (payload?.kind === 'createNamespace') this.openNamespaceCreates.set(rec.id, payload.namespace);
    } else {
      const waiters = this.opWaiters.get(rec.id);
      if (waiters) {
        this.opWaiters.delete(rec.id);
        for (const w of waiters) w(rec);
      }
    }
  }

  private unindexOp(rec: OperationRecord): void {
    if (rec.requestId !== undefined) {
      const k = `${rec.type}|${rec.requestId}`;
      if (this.opByRequest.get(k) === rec.id) this.opByRequest.delete(k);
    }
    if (isOpen(rec.status)) {
      this.metrics?.open.dec();
      const t = targetKey(rec);
      if (t && this.openByTarget.get(t) === rec.id) this.openByTarget.delete(t);
      if (rec.type === 'REGISTER_INSTANCE' && rec.targets.SERVICE) {
        const n = (this.openRegistrations.get(rec.targets.SERVICE) ?? 1) - 1;
        if (n <= 0) this.openRegistrations.delete(rec.targets.SERVICE);
        else this.openRegistrations.set(rec.targets.SERVICE, n);
      }
      this.openNamespaceCreates.delete(rec.id);
    }
  }

  /** Resolves with the operation once it reaches SUCCESS or FAIL (for the orchestrator and tests). */
  waitForOperation(id: string): Promise<OperationRecord> {
    const entry = this.ops.get(id);
    if (!entry) return Promise.reject(operationNotFound(id));
    if (!isOpen(entry.rec.status)) return Promise.resolve(entry.rec);
    return new Promise((resolve) => {
      let list = this.opWaiters.get(id);
      if (!list) this.opWaiters.set(id, (list = []));
      list.push(resolve);
    });
  }

  /** The same-request check of CLOUDMAP-SPEC 3.4: an earlier identical request gives its result again. */
  private replay(type: OperationType, requestId: string | undefined, print: string): Out | undefined {
    if (requestId === undefined) return undefined;
    const id = this.opByRequest.get(`${type}|${requestId}`);
    const entry = id === undefined ? undefined : this.ops.get(id);
    if (!entry || entry.rec.fingerprint !== print) return undefined;
    if (isOpen(entry.rec.status)) throw duplicateRequest(entry.rec.id, 'The same request is still in progress');
    return { OperationId: entry.rec.id };
  }

  /**
   * Writes the operation record (SUBMITTED, with its payload) durably, then hands it to the worker.
   * The record is indexed synchronously first, so concurrent requests see its reservation at once.
   */
  private async submit(
    type: OperationType,
    targets: OperationRecord['targets'],
    payload: OpPayload,
    requestId?: string,
    print?: string,
  ): Promise<Out> {
    const now = this.clock.now();
    const rec: OperationRecord = { id: newOperationId(), type, status: 'SUBMITTED', createDate: now, updateDate: now, targets, payload };
    if (requestId !== undefined) rec.requestId = requestId;
    if (print !== undefined) rec.fingerprint = print;
    this.indexOp(rec, 0);
    let rev: number;
    try {
      rev = await this.kv.create(keys.operation(rec.id), JSON.stringify(rec));
    } catch (err) {
      const e = this.ops.get(rec.id);
      if (e && e.rev === 0) {
        this.unindexOp(e.rec);
        this.ops.delete(rec.id);
      }
      throw err;
    }
    const e = this.ops.get(rec.id);
    if (e && e.rev < rev && e.rec.status === 'SUBMITTED') e.rev = rev;
    this.metrics?.submitted.inc({ type });
    this.schedule(rec.id);
    return { OperationId: rec.id };
  }

  // ---------------------------------------------------------------- operation worker

  private schedule(id: string): void {
    if (!this.running) return;
    if (this.opDelayMs <= 0) {
      this.track(this.runOp(id));
      return;
    }
    // Half the delay SUBMITTED, half PENDING, so clients polling GetOperation see both states.
    // Times count from the submit, so an operation resumed after a restart is not delayed again.
    const createDate = this.ops.get(id)?.rec.createDate ?? this.clock.now();
    const pendingAt = createDate + Math.floor(this.opDelayMs / 2);
    const doneAt = createDate + this.opDelayMs;
    this.later(Math.max(0, pendingAt - this.clock.now()), () =>
      this.track(this.markPending(id).then(() => this.later(Math.max(0, doneAt - this.clock.now()), () => this.track(this.runOp(id))))),
    );
  }

  private async markPending(id: string): Promise<void> {
    const entry = this.ops.get(id);
    if (!entry || entry.rec.status !== 'SUBMITTED') return;
    const rec: OperationRecord = { ...entry.rec, status: 'PENDING', updateDate: this.clock.now() };
    try {
      await this.kv.update(keys.operation(id), JSON.stringify(rec), entry.rev);
    } catch (err) {
      if (!isConflict(err)) throw err; // a conflict means another worker moved it on
    }
  }

  /** Applies an operation: its writes and its SUCCESS (or its FAIL) commit in one txn. */
  private async runOp(id: string): Promise<void> {
    const opKey = keys.operation(id);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = this.ops.get(id);
      if (!entry || !isOpen(entry.rec.status) || !this.running) return;
      let plan: Plan;
      try {
        plan = await this.plan(entry.rec);
      } catch (err) {
        plan = { fail: { code: 'INTERNAL_FAILURE', message: err instanceof Error ? err.message : String(err) } };
      }
      const done = this.finished(entry.rec, 'fail' in plan ? plan.fail : undefined);
      const writes = 'fail' in plan ? [] : plan.writes;
      try {
        await this.kv.txn([...writes, { type: 'put', key: opKey, value: JSON.stringify(done), prevRevision: entry.rev }]);
      } catch (err) {
        if (isConflict(err)) {
          if ((err as PharosError).fields['key'] === opKey) {
            // Our view of the op is stale (a watch event not yet delivered) or another worker
            // finished it: look at the store and go on only if it is still open.
            const cur = await this.kv.get(opKey);
            const rec = cur && this.parseOp(opKey, cur.value);
            if (!cur || !rec || !isOpen(rec.status)) return;
            this.indexOp(rec, cur.modRevision);
          }
          continue; // plan again
        }
        if (!this.running) return; // shutting down: resumed on the next start
        this.logger.error({ err, operationId: id }, 'registry: applying an operation failed; will retry');
        this.later(APPLY_RETRY_MS, () => this.track(this.runOp(id)));
        return;
      }
      if (!('fail' in plan)) plan.after?.();
      this.metrics?.completed.inc({ type: done.type, status: done.status });
      this.metrics?.duration.observe({ type: done.type }, Math.max(0, done.updateDate - done.createDate) / 1000);
      if (done.status === 'FAIL') this.logger.warn({ operationId: id, type: done.type, error: done.errorMessage }, 'operation failed');
      return;
    }
    // Lost the race too often: record the failure rather than spin.
    const entry = this.ops.get(id);
    if (!entry || !isOpen(entry.rec.status)) return;
    const done = this.finished(entry.rec, { code: 'INTERNAL_FAILURE', message: 'too many concurrent changes; retry the request' });
    await this.kv.txn([{ type: 'put', key: opKey, value: JSON.stringify(done), prevRevision: entry.rev }]).catch((err) => {
      if (!isConflict(err)) throw err;
    });
  }

  private finished(rec: OperationRecord, fail?: { code: string; message: string }): OperationRecord {
    const done: OperationRecord = { ...rec, status: fail ? 'FAIL' : 'SUCCESS', updateDate: this.clock.now() };
    delete done.payload; // applied: no need to keep it
    if (fail) {
      done.errorCode = fail.code;
      done.errorMessage = fail.message;
    }
    return done;
  }

  private async plan(op: OperationRecord): Promise<Plan> {
    const p = op.payload as OpPayload | undefined;
    if (!p) return { fail: { code: 'INTERNAL_FAILURE', message: 'operation has no payload' } };
    switch (p.kind) {
      case 'createNamespace':
        return { writes: [{ type: 'put', key: keys.namespace(p.namespace.id), value: JSON.stringify(p.namespace), prevRevision: 0 }] };
      case 'deleteNamespace': {
        for (const _ of this.snapshot.servicesOf(p.namespaceId)) {
          return { fail: { code: 'INTERNAL_FAILURE', message: 'the namespace still contains services' } };
        }
        const cur = await this.kv.get(keys.namespace(p.namespaceId));
        if (!cur) return { writes: [] };
        return { writes: [{ type: 'delete', key: cur.key, prevRevision: cur.modRevision }] };
      }
      case 'updateNamespace': {
        const cur = await this.kv.get(keys.namespace(p.namespaceId));
        if (!cur) return { fail: { code: 'INTERNAL_FAILURE', message: 'the namespace no longer exists' } };
        const ns = JSON.parse(cur.value) as NamespaceRecord;
        if (p.description !== undefined) ns.description = p.description;
        if (p.soaTtl !== undefined) ns.soaTtl = p.soaTtl;
        return { writes: [{ type: 'put', key: cur.key, value: JSON.stringify(ns), prevRevision: cur.modRevision }] };
      }
      case 'updateService': {
        const cur = await this.kv.get(keys.service(p.serviceId));
        if (!cur) return { fail: { code: 'INTERNAL_FAILURE', message: 'the service no longer exists' } };
        const svc = JSON.parse(cur.value) as ServiceRecord;
        if (p.description !== undefined) svc.description = p.description;
        if (p.dnsRecords && svc.dnsConfig) svc.dnsConfig = { ...svc.dnsConfig, dnsRecords: p.dnsRecords };
        const healthDeletes: TxnOp[] = [];
        if (p.healthCheckConfig) {
          svc.healthCheckConfig = p.healthCheckConfig;
        } else if (svc.healthCheckConfig) {
          delete svc.healthCheckConfig;
          // The probe results go with the check, so adding one later starts from UNKNOWN again.
          for (const instanceId of this.snapshot.healthRecords(svc.id)?.keys() ?? []) {
            healthDeletes.push({ type: 'delete', key: keys.health(svc.id, instanceId) });
          }
        }
        return { writes: [{ type: 'put', key: cur.key, value: JSON.stringify(svc), prevRevision: cur.modRevision }, ...healthDeletes] };
      }
      case 'registerInstance': {
        const inst = p.instance;
        if (!this.snapshot.service(inst.serviceId)) return { fail: { code: 'INTERNAL_FAILURE', message: 'the service no longer exists' } };
        const rec: InstanceRecord = { ...inst, registeredAt: this.clock.now() };
        return { writes: [{ type: 'put', key: keys.instance(inst.serviceId, inst.id), value: JSON.stringify(rec) }] };
      }
      case 'deregisterInstance': {
        const marker = JSON.stringify({ serviceId: p.serviceId });
        return {
          writes: [
            { type: 'delete', key: keys.instance(p.serviceId, p.instanceId) },
            { type: 'delete', key: keys.health(p.serviceId, p.instanceId) },
            // Keeps InstancesRevision from going down across restarts when the last change was a delete.
            { type: 'put', key: keys.instancesRevision(p.serviceId), value: marker },
          ],
          after: () => this.cancelHealthTimer(p.serviceId, p.instanceId),
        };
      }
    }
  }

  // ---------------------------------------------------------------- shared helpers

  /** Accepts a bare id or a Cloud Map ARN of our region and account (CLOUDMAP-SPEC 1: `Arn`-typed fields). */
  private resolveId(member: string, value: string, kind: 'namespace' | 'service'): string {
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

  private namespaceArn(id: string): string {
    return formatArn({ service: 'servicediscovery', region: this.region, account: this.accountId, resource: `namespace/${id}` });
  }

  private serviceArn(id: string): string {
    return formatArn({ service: 'servicediscovery', region: this.region, account: this.accountId, resource: `service/${id}` });
  }

  private requireService(member: string, raw: string): ServiceRecord {
    const id = this.resolveId(member, raw, 'service');
    const svc = this.snapshot.service(id);
    if (!svc) throw serviceNotFound(raw);
    return svc;
  }

  private requireNamespace(member: string, raw: string): NamespaceRecord {
    const id = this.resolveId(member, raw, 'namespace');
    const ns = this.snapshot.namespace(id);
    if (!ns) throw namespaceNotFound(raw);
    return ns;
  }

  private openOp(target: string): OperationRecord | undefined {
    const id = this.openByTarget.get(target);
    return id === undefined ? undefined : this.ops.get(id)?.rec;
  }

  /** Read-modify-write of one JSON record with compare-and-swap, retried when it loses a race. */
  private async mutate<T>(key: string, notFound: () => Error, fn: (rec: T) => T): Promise<T> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const cur = await this.kv.get(key);
      if (!cur) throw notFound();
      const next = fn(JSON.parse(cur.value) as T);
      try {
        const rev = await this.kv.update(key, JSON.stringify(next), cur.modRevision);
        await this.snapshot.waitForRevision(rev);
        return next;
      } catch (err) {
        if (isConflict(err)) continue;
        throw err;
      }
    }
    throw new PharosError('RegistryConflict', `too many concurrent changes to ${key}`);
  }

  private static pageSize(r: Input): number {
    return r.int('MaxResults', { min: 1, max: MAX_PAGE_SIZE }) ?? DEFAULT_PAGE_SIZE;
  }

  private static nextToken(r: Input): string | undefined {
    return r.str('NextToken', { max: 4096 });
  }

  private checkOwner(r: Input): boolean {
    const owner = r.str('OwnerAccount', { min: 12, max: 12 });
    return owner === undefined || owner === this.accountId;
  }

  // ---------------------------------------------------------------- namespaces

  createHttpNamespace(input: unknown): Promise<Out> {
    return this.createNamespace('HTTP', input);
  }

  createPrivateDnsNamespace(input: unknown): Promise<Out> {
    return this.createNamespace('DNS_PRIVATE', input);
  }

  createPublicDnsNamespace(input: unknown): Promise<Out> {
    return this.createNamespace('DNS_PUBLIC', input);
  }

  private async createNamespace(type: NamespaceKind, input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const name =
      type === 'HTTP'
        ? r.str('Name', { required: true, max: 1024, pattern: P1, patternName: 'printable ASCII, not starting with arn:' })
        : type === 'DNS_PRIVATE'
          ? r.str('Name', { required: true, max: 253, pattern: P2, patternName: 'printable ASCII, not starting with arn:' })
          : r.str('Name', { required: true, max: 253, pattern: P3, patternName: 'a DNS domain name (labels of letters, digits and hyphens)' });
    const creatorRequestId = r.str('CreatorRequestId', { max: 64 });
    const description = r.str('Description', { max: 1024 });
    const vpc = type === 'DNS_PRIVATE' ? r.str('Vpc', { required: true, max: 64 }) : undefined;
    const tags = readTags(r, 'Tags', false) ?? [];
    let soaTtl: number | undefined;
    if (type !== 'HTTP') {
      const props = r.obj('Properties');
      if (props) soaTtl = props.obj('DnsProperties', true).obj('SOA', true).long('TTL', true);
    }
    const print = fingerprint([type, name, vpc, description, soaTtl, tags]);
    const replayed = this.replay('CREATE_NAMESPACE', creatorRequestId, print);
    if (replayed) return replayed;

    const existing = [...this.snapshot.namespaces(), ...this.openNamespaceCreates.values()];
    for (const other of existing) {
      const clash =
        type === 'HTTP'
          ? other.httpName === name || (other.type === 'HTTP' && other.name === name)
          : other.type === type && norm(other.name) === norm(name) && (type === 'DNS_PUBLIC' || other.vpc === vpc);
      if (clash) throw namespaceAlreadyExists(other.id, other.creatorRequestId);
    }
    if (existing.length >= this.quotas.namespacesPerRegion) {
      throw resourceLimitExceeded(`A region can have at most ${this.quotas.namespacesPerRegion} namespaces`);
    }
    const id = newNamespaceId();
    const arn = this.namespaceArn(id);
    if (tags.length > this.quotas.tagsPerResource) throw tooManyTags(arn, this.quotas.tagsPerResource);
    // A reused name gets a suffixed HttpName, as AWS does for the same private name in a second VPC (3.2).
    const httpName = existing.some((o) => o.httpName === name) ? `${name}-${randomString(8)}` : name;
    const ns: NamespaceRecord = { id, arn, name, type, httpName, createDate: this.clock.now(), tags };
    if (description !== undefined) ns.description = description;
    if (type !== 'HTTP') ns.hostedZoneId = newHostedZoneId();
    if (soaTtl !== undefined) ns.soaTtl = soaTtl;
    if (vpc !== undefined) ns.vpc = vpc;
    if (creatorRequestId !== undefined) ns.creatorRequestId = creatorRequestId;
    return this.submit('CREATE_NAMESPACE', { NAMESPACE: id }, { kind: 'createNamespace', namespace: ns }, creatorRequestId, print);
  }

  updateHttpNamespace(input: unknown): Promise<Out> {
    return this.updateNamespace('HTTP', input);
  }

  updatePrivateDnsNamespace(input: unknown): Promise<Out> {
    return this.updateNamespace('DNS_PRIVATE', input);
  }

  updatePublicDnsNamespace(input: unknown): Promise<Out> {
    return this.updateNamespace('DNS_PUBLIC', input);
  }

  private async updateNamespace(type: NamespaceKind, input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawId = r.str('Id', { required: true, max: 255 });
    const updaterRequestId = r.str('UpdaterRequestId', { max: 64 });
    const change = r.obj('Namespace', true);
    let description: string | undefined;
    let soaTtl: number | undefined;
    if (type === 'HTTP') {
      description = change.str('Description', { required: true, max: 1024 });
    } else {
      description = change.str('Description', { max: 1024 });
      const props = change.obj('Properties');
      if (props) soaTtl = props.obj('DnsProperties', true).obj('SOA', true).long('TTL', true);
    }
    const ns = this.requireNamespace('Id', rawId);
    if (ns.type !== type) throw invalidInput(`Id: namespace ${ns.id} is of type ${ns.type}, not ${type}`);
    const print = fingerprint([ns.id, description, soaTtl]);
    const replayed = this.replay('UPDATE_NAMESPACE', updaterRequestId, print);
    if (replayed) return replayed;
    const open = this.openOp(`ns:${ns.id}`);
    if (open) throw resourceInUse(`Another operation on namespace ${ns.id} is in progress: ${open.id}`);
    const payload: OpPayload = { kind: 'updateNamespace', namespaceId: ns.id };
    if (description !== undefined) payload.description = description;
    if (soaTtl !== undefined) payload.soaTtl = soaTtl;
    return this.submit('UPDATE_NAMESPACE', { NAMESPACE: ns.id }, payload, updaterRequestId, print);
  }

  async getNamespace(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const ns = this.requireNamespace('Id', r.str('Id', { required: true, max: 255 }));
    return { Namespace: namespaceOut(ns, this.out) };
  }

  async listNamespaces(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const token = Registry.nextToken(r);
    const max = Registry.pageSize(r);
    const filters = readFilters(r, NAMESPACE_FILTER_NAMES, (name, condition, values, path) => {
      switch (name) {
        case 'TYPE':
          if (condition !== 'EQ' && condition !== 'IN') throw invalidInput(`${path}.Condition: TYPE supports EQ and IN`);
          values.forEach((v, i) => checkEnum(`${path}.Values[${i}]`, v, NAMESPACE_TYPES));
          return (ns: NamespaceRecord) => values.includes(ns.type);
        case 'NAME':
        case 'HTTP_NAME': {
          if (condition !== 'EQ' && condition !== 'BEGINS_WITH') throw invalidInput(`${path}.Condition: ${name} supports EQ and BEGINS_WITH`);
          oneValue(values, path);
          const v = values[0]!;
          const field = (ns: NamespaceRecord) => (name === 'NAME' ? ns.name : ns.httpName);
          return condition === 'EQ' ? (ns: NamespaceRecord) => field(ns) === v : (ns: NamespaceRecord) => field(ns).startsWith(v);
        }
        case 'RESOURCE_OWNER':
          return ownerFilter(condition, values, path);
      }
    });
    const all = [...this.snapshot.namespaces()].filter((ns) => filters.every((f) => f(ns))).sort(byKey((ns: NamespaceRecord) => ns.id));
    const p = page('ns', all, (ns) => ns.id, token, max);
    const out: Out = { Namespaces: p.items.map((ns) => namespaceSummaryOut(ns, this.out)) };
    if (p.nextToken) out['NextToken'] = p.nextToken;
    return out;
  }

  async deleteNamespace(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const ns = this.requireNamespace('Id', r.str('Id', { required: true, max: 255 }));
    const open = this.openOp(`ns:${ns.id}`);
    if (open?.type === 'DELETE_NAMESPACE') throw duplicateRequest(open.id, `Namespace ${ns.id} is already being deleted`);
    if (open) throw resourceInUse(`Another operation on namespace ${ns.id} is in progress: ${open.id}`);
    const count = this.out.serviceCount(ns.id);
    if (count > 0) throw resourceInUse(`Namespace ${ns.id} still contains ${count} service(s)`);
    return this.submit('DELETE_NAMESPACE', { NAMESPACE: ns.id }, { kind: 'deleteNamespace', namespaceId: ns.id });
  }

  // ---------------------------------------------------------------- services

  async createService(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const name = r.str('Name', { required: true, pattern: P4, patternName: 'DNS labels of letters, digits, - and _ (at most 127 characters)' });
    const rawNamespaceId = r.str('NamespaceId', { max: 255 });
    const creatorRequestId = r.str('CreatorRequestId', { max: 64 });
    const description = r.str('Description', { max: 1024 });
    const dnsIn = r.obj('DnsConfig');
    const dns = dnsIn ? readDnsConfig(dnsIn) : undefined;
    const hcIn = r.obj('HealthCheckConfig');
    const hc = hcIn ? readHealthCheckConfig(hcIn) : undefined;
    const customIn = r.obj('HealthCheckCustomConfig');
    customIn?.int('FailureThreshold', { min: 1, max: 10 });
    const tags = readTags(r, 'Tags', false) ?? [];
    const requestedType = r.enumOf('Type', ['HTTP'] as const);

    if (hc && customIn) throw invalidInput('HealthCheckCustomConfig: cannot be combined with HealthCheckConfig');
    let namespaceId = rawNamespaceId === undefined ? undefined : this.resolveId('NamespaceId', rawNamespaceId, 'namespace');
    if (dns?.namespaceId !== undefined) {
      const fromDns = this.resolveId('DnsConfig.NamespaceId', dns.namespaceId, 'namespace');
      if (namespaceId !== undefined && namespaceId !== fromDns) throw invalidInput('DnsConfig.NamespaceId: differs from NamespaceId');
      namespaceId = fromDns;
    }
    if (namespaceId === undefined) throw invalidInput('NamespaceId: is required (or the deprecated DnsConfig.NamespaceId)');
    const ns = this.snapshot.namespace(namespaceId);
    if (!ns) throw namespaceNotFound(rawNamespaceId ?? namespaceId);
    if (this.openOp(`ns:${ns.id}`)?.type === 'DELETE_NAMESPACE') throw resourceInUse(`Namespace ${ns.id} is being deleted`);

    let type: ServiceType;
    if (ns.type === 'HTTP') {
      if (dns) throw invalidInput('DnsConfig: is not allowed for a service in an HTTP namespace');
      type = 'HTTP';
    } else if (requestedType === 'HTTP') {
      if (dns) throw invalidInput('DnsConfig: is not allowed for a service of Type HTTP');
      type = 'HTTP';
    } else if (dns) {
      type = 'DNS_HTTP';
    } else {
      throw invalidInput('DnsConfig: is required for a service in a DNS namespace (or set Type to HTTP)');
    }
    if (hc && dns?.config.dnsRecords.some((d) => d.type === 'CNAME')) {
      throw invalidInput('HealthCheckConfig: is not allowed for a service with a CNAME record');
    }

    // Names are unique per namespace: case-insensitively in DNS namespaces, exactly in HTTP ones (3.5).
    const same = ns.type === 'HTTP' ? (a: string) => a === name : (a: string) => a.toLowerCase() === name.toLowerCase();
    for (const other of this.snapshot.servicesOf(ns.id)) {
      if (!same(other.name)) continue;
      if (creatorRequestId !== undefined && other.creatorRequestId === creatorRequestId && other.name === name) {
        return { Service: serviceOut(other, this.out) }; // the same request again: its original result
      }
      throw serviceAlreadyExists(other.id, other.arn, other.creatorRequestId);
    }
    const reservation = `${ns.id}|${ns.type === 'HTTP' ? name : name.toLowerCase()}`;
    const inFlight = this.reservedServiceNames.get(reservation);
    if (inFlight) throw serviceAlreadyExists(inFlight.id, inFlight.arn, inFlight.creatorRequestId);

    const id = newServiceId();
    const arn = this.serviceArn(id);
    if (tags.length > this.quotas.tagsPerResource) throw tooManyTags(arn, this.quotas.tagsPerResource);
    const svc: ServiceRecord = { id, arn, name, namespaceId: ns.id, type, createDate: this.clock.now(), tags, attributes: {} };
    if (description !== undefined) svc.description = description;
    if (dns) svc.dnsConfig = dns.config;
    if (hc) svc.healthCheckConfig = hc;
    if (customIn) svc.healthCheckCustomConfig = { failureThreshold: 1 }; // deprecated, "always 1" (3.5)
    if (creatorRequestId !== undefined) svc.creatorRequestId = creatorRequestId;

    this.reservedServiceNames.set(reservation, svc);
    try {
      const rev = await this.kv.create(keys.service(id), JSON.stringify(svc));
      await this.snapshot.waitForRevision(rev);
    } finally {
      this.reservedServiceNames.delete(reservation);
    }
    return { Service: serviceOut(svc, this.out) };
  }

  async getService(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const svc = this.requireService('Id', r.str('Id', { required: true, max: 255 }));
    return { Service: serviceOut(svc, this.out) };
  }

  async listServices(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const token = Registry.nextToken(r);
    const max = Registry.pageSize(r);
    const filters = readFilters(r, SERVICE_FILTER_NAMES, (name, condition, values, path) => {
      if (name === 'RESOURCE_OWNER') return ownerFilter(condition, values, path);
      if (condition !== 'EQ') throw invalidInput(`${path}.Condition: NAMESPACE_ID supports only EQ`);
      oneValue(values, path);
      const nsId = values[0]!.startsWith('arn:') ? (parseArn(values[0]!)?.resource.replace(/^namespace\//, '') ?? values[0]!) : values[0]!;
      return (svc: ServiceRecord) => svc.namespaceId === nsId;
    });
    const all = [...this.snapshot.services()].filter((s) => filters.every((f) => f(s))).sort(byKey((s: ServiceRecord) => s.id));
    const p = page('svc', all, (s) => s.id, token, max);
    const out: Out = { Services: p.items.map((s) => serviceSummaryOut(s, this.out)) };
    if (p.nextToken) out['NextToken'] = p.nextToken;
    return out;
  }

  async updateService(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawId = r.str('Id', { required: true, max: 255 });
    const change = r.obj('Service', true);
    const description = change.str('Description', { max: 1024 });
    const dnsIn = change.obj('DnsConfig');
    const dnsRecords = dnsIn ? readDnsRecords(dnsIn) : undefined;
    const hcIn = change.obj('HealthCheckConfig');
    const hc = hcIn ? readHealthCheckConfig(hcIn) : undefined;
    const svc = this.requireService('Id', rawId);
    const ns = this.snapshot.namespace(svc.namespaceId);
    if (!ns || ns.type === 'HTTP') throw invalidInput(`Id: service ${svc.id} is in an HTTP namespace and cannot be updated`);
    if (dnsRecords) {
      if (!svc.dnsConfig) throw invalidInput('Service.DnsConfig: the service has no DNS records');
      const before = svc.dnsConfig.dnsRecords.map((d) => d.type).sort().join(',');
      const after = dnsRecords.map((d) => d.type).sort().join(',');
      if (before !== after) throw invalidInput(`Service.DnsConfig.DnsRecords: record types cannot change (service has ${before}, got ${after})`);
    }
    if (hc && svc.healthCheckCustomConfig) throw invalidInput('Service.HealthCheckConfig: the service uses custom health checks');
    if (hc && svc.dnsConfig?.dnsRecords.some((d) => d.type === 'CNAME')) {
      throw invalidInput('Service.HealthCheckConfig: is not allowed for a service with a CNAME record');
    }
    const open = this.openOp(`svc:${svc.id}`);
    if (open) throw duplicateRequest(open.id, `Service ${svc.id} is already being updated`);
    // A missing HealthCheckConfig removes it (AWS); a missing DnsConfig changes no DNS (CLOUDMAP-SPEC 3.5 [R]).
    const payload: OpPayload = { kind: 'updateService', serviceId: svc.id, healthCheckConfig: hc ?? null };
    if (description !== undefined) payload.description = description;
    if (dnsRecords) payload.dnsRecords = dnsRecords;
    return this.submit('UPDATE_SERVICE', { SERVICE: svc.id }, payload);
  }

  async deleteService(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const svc = this.requireService('Id', r.str('Id', { required: true, max: 255 }));
    const count = this.snapshot.instances(svc.id).size;
    if (count > 0) throw resourceInUse(`Service ${svc.id} still has ${count} registered instance(s)`);
    if ((this.openRegistrations.get(svc.id) ?? 0) > 0) throw resourceInUse(`Service ${svc.id} has registrations in progress`);
    const open = this.openOp(`svc:${svc.id}`);
    if (open) throw resourceInUse(`Service ${svc.id} is being updated: ${open.id}`);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const cur = await this.kv.get(keys.service(svc.id));
      if (!cur) throw serviceNotFound(svc.id);
      try {
        const rev = await this.kv.txn([
          { type: 'delete', key: cur.key, prevRevision: cur.modRevision },
          { type: 'delete', key: keys.instancesRevision(svc.id) },
        ]);
        await this.snapshot.waitForRevision(rev);
        return {};
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    throw new PharosError('RegistryConflict', `too many concurrent changes to service ${svc.id}`);
  }

  async getServiceAttributes(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const svc = this.requireService('ServiceId', r.str('ServiceId', { required: true, max: 255 }));
    return { ServiceAttributes: { ServiceArn: svc.arn, ResourceOwner: this.accountId, Attributes: { ...svc.attributes } } };
  }

  async updateServiceAttributes(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawId = r.str('ServiceId', { required: true, max: 255 });
    // No max here: more than 30 is ServiceAttributesLimitExceededException, not InvalidInput (5 #22).
    const attrs = r.map('Attributes', { required: true, min: 1, key: { max: 255 }, value: { max: 1024 } })!;
    const svc = this.requireService('ServiceId', rawId);
    const limit = this.quotas.serviceAttributes;
    if (Object.keys(attrs).length > limit) throw serviceAttributesLimitExceeded(limit);
    await this.mutate<ServiceRecord>(keys.service(svc.id), () => serviceNotFound(rawId), (rec) => {
      const merged = { ...rec.attributes, ...attrs };
      if (Object.keys(merged).length > limit) throw serviceAttributesLimitExceeded(limit);
      return { ...rec, attributes: merged };
    });
    return {};
  }

  async deleteServiceAttributes(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawId = r.str('ServiceId', { required: true, max: 255 });
    const names = r.list('Attributes', { required: true, min: 1, max: 30 }, (v, path) => checkStr(path, v, { max: 255 }))!;
    const svc = this.requireService('ServiceId', rawId);
    await this.mutate<ServiceRecord>(keys.service(svc.id), () => serviceNotFound(rawId), (rec) => {
      const attributes = { ...rec.attributes };
      for (const k of names) delete attributes[k]; // unknown keys are ignored (3.5 [R])
      return { ...rec, attributes };
    });
    return {};
  }

  // ---------------------------------------------------------------- instances

  async registerInstance(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
    const instanceId = r.str('InstanceId', { required: true, max: 64, pattern: P8, patternName: '[0-9a-zA-Z_/:.@-]+' });
    const creatorRequestId = r.str('CreatorRequestId', { max: 64 });
    const attributes = readInstanceAttributes(r);
    const svc = this.requireService('ServiceId', rawServiceId);
    const ns = this.snapshot.namespace(svc.namespaceId);
    checkInstanceAttributes(attributes, svc, ns);
    const print = creatorRequestId === undefined ? undefined : fingerprint([svc.id, instanceId, attributes]);
    if (print !== undefined) {
      const replayed = this.replay('REGISTER_INSTANCE', creatorRequestId, print);
      if (replayed) return replayed;
    }
    const open = this.openOp(`inst:${svc.id}/${instanceId}`);
    if (open) throw duplicateRequest(open.id, `An operation on instance ${instanceId} is in progress`);
    if (this.openOp(`ns:${svc.namespaceId}`)?.type === 'DELETE_NAMESPACE') throw resourceInUse(`Namespace ${svc.namespaceId} is being deleted`);
    if (!this.snapshot.instance(svc.id, instanceId)) {
      // Quotas count registered instances plus registrations in flight (3.6).
      const inService = this.snapshot.instances(svc.id).size + (this.openRegistrations.get(svc.id) ?? 0);
      if (inService >= this.quotas.instancesPerService) {
        throw resourceLimitExceeded(`A service can have at most ${this.quotas.instancesPerService} instances`);
      }
      let inNamespace = 0;
      for (const s of this.snapshot.servicesOf(svc.namespaceId)) {
        inNamespace += this.snapshot.instances(s.id).size + (this.openRegistrations.get(s.id) ?? 0);
      }
      if (inNamespace >= this.quotas.instancesPerNamespace) {
        throw resourceLimitExceeded(`A namespace can have at most ${this.quotas.instancesPerNamespace} instances`);
      }
    }
    const instance: InstanceRecord = { id: instanceId, serviceId: svc.id, attributes, registeredAt: this.clock.now() };
    if (creatorRequestId !== undefined) instance.creatorRequestId = creatorRequestId;
    return this.submit('REGISTER_INSTANCE', { INSTANCE: instanceId, SERVICE: svc.id }, { kind: 'registerInstance', instance }, creatorRequestId, print);
  }

  async deregisterInstance(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
    const instanceId = r.str('InstanceId', { required: true, max: 64 });
    const svc = this.requireService('ServiceId', rawServiceId);
    const open = this.openOp(`inst:${svc.id}/${instanceId}`);
    if (open) throw duplicateRequest(open.id, `An operation on instance ${instanceId} is in progress`);
    if (!this.snapshot.instance(svc.id, instanceId)) throw instanceNotFound(svc.id, instanceId);
    return this.submit('DEREGISTER_INSTANCE', { INSTANCE: instanceId, SERVICE: svc.id }, { kind: 'deregisterInstance', serviceId: svc.id, instanceId });
  }

  async getInstance(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
    const instanceId = r.str('InstanceId', { required: true, max: 64 });
    const svc = this.requireService('ServiceId', rawServiceId);
    const inst = this.snapshot.instance(svc.id, instanceId);
    if (!inst) throw instanceNotFound(svc.id, instanceId);
    return { ResourceOwner: this.accountId, Instance: instanceOut(inst, this.accountId) };
  }

  async listInstances(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
    const token = Registry.nextToken(r);
    const max = Registry.pageSize(r);
    const svc = this.requireService('ServiceId', rawServiceId);
    const all = [...this.snapshot.instances(svc.id).values()].sort(byKey((i: InstanceRecord) => i.id));
    const p = page(`inst:${svc.id}`, all, (i) => i.id, token, max);
    const out: Out = { ResourceOwner: this.accountId, Instances: p.items.map((i) => instanceSummaryOut(i, this.accountId)) };
    if (p.nextToken) out['NextToken'] = p.nextToken;
    return out;
  }

  async getInstancesHealthStatus(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
    const listed = r.list('Instances', { min: 1 }, (v, path) => checkStr(path, v, { max: 64 }));
    const max = Registry.pageSize(r);
    const token = Registry.nextToken(r);
    const svc = this.requireService('ServiceId', rawServiceId);
    let ids: string[];
    if (listed) {
      for (const id of listed) if (!this.snapshot.instance(svc.id, id)) throw instanceNotFound(svc.id, id);
      ids = [...new Set(listed)].sort();
    } else {
      ids = [...this.snapshot.instances(svc.id).keys()].sort();
    }
    const p = page(`health:${svc.id}`, ids, (id) => id, token, max);
    const status: Record<string, HealthStatus> = {};
    for (const id of p.items) status[id] = this.snapshot.health(svc.id, id);
    const out: Out = { Status: status };
    if (p.nextToken) out['NextToken'] = p.nextToken;
    return out;
  }

  async updateInstanceCustomHealthStatus(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
    const instanceId = r.str('InstanceId', { required: true, max: 64 });
    const status = r.enumOf('Status', CUSTOM_HEALTH, true);
    const svc = this.requireService('ServiceId', rawServiceId);
    if (!svc.healthCheckCustomConfig) throw customHealthNotFound(svc.id);
    if (!this.snapshot.instance(svc.id, instanceId)) throw instanceNotFound(svc.id, instanceId);
    if (this.customHealthDelayMs <= 0) {
      await this.mutateHealth(svc.id, instanceId, (rec, current) =>
        current === status && !rec?.pending ? undefined : { status, reason: 'custom', updatedAt: this.clock.now() },
      );
      return {};
    }
    // With a delay (AWS: ~30 s): the change waits; the same value again does not hurry it, the
    // opposite value inside the window cancels it (CLOUDMAP-SPEC 3.7).
    let armAt: number | undefined;
    await this.mutateHealth(svc.id, instanceId, (rec, current) => {
      armAt = undefined;
      const base: HealthRecord = { status: current, updatedAt: rec?.updatedAt ?? this.clock.now() };
      if (rec?.reason !== undefined) base.reason = rec.reason;
      if (status === current) return rec?.pending ? base : undefined;
      if (rec?.pending?.status === status) return undefined;
      const effectiveAt = this.clock.now() + this.customHealthDelayMs;
      armAt = effectiveAt;
      return { ...base, pending: { status, effectiveAt } };
    });
    if (armAt !== undefined) this.armHealthTimer(svc.id, instanceId, armAt);
    else if (!this.snapshot.healthRecord(svc.id, instanceId)?.pending) this.cancelHealthTimer(svc.id, instanceId);
    return {};
  }

  // ---------------------------------------------------------------- discovery (hot path)

  private serviceByName(namespaceId: string, name: string): ServiceRecord | undefined {
    let byName = this.serviceNameCache.get(namespaceId);
    if (!byName) {
      byName = new Map();
      for (const s of this.snapshot.servicesOf(namespaceId)) byName.set(s.name, s.id);
      this.serviceNameCache.set(namespaceId, byName);
    }
    const id = byName.get(name);
    return id === undefined ? undefined : this.snapshot.service(id);
  }

  private discoverTarget(r: Input): { ns: NamespaceRecord; svc: ServiceRecord } {
    const namespaceName = r.str('NamespaceName', { required: true, max: 1024, pattern: P5, patternName: 'printable ASCII' });
    const serviceName = r.str('ServiceName', { required: true, pattern: P4, patternName: 'DNS labels of letters, digits, - and _' });
    if (!this.checkOwner(r)) throw namespaceNotFound(namespaceName);
    const ns = this.snapshot.namespaceByHttpName(namespaceName);
    if (!ns) throw namespaceNotFound(namespaceName);
    const svc = this.serviceByName(ns.id, serviceName);
    if (!svc) throw serviceNotFound(serviceName);
    return { ns, svc };
  }

  async discoverInstances(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const max = r.int('MaxResults', { min: 1, max: MAX_DISCOVER_RESULTS }) ?? DEFAULT_DISCOVER_MAX;
    const paramRule = {
      key: { max: 255, pattern: P6, patternName: 'printable ASCII without spaces' },
      value: { max: 1024, pattern: P7, patternName: 'printable ASCII (spaces and tabs only inside)' },
    };
    const query = r.map('QueryParameters', paramRule);
    const optional = r.map('OptionalParameters', paramRule);
    const healthFilter = r.enumOf('HealthStatus', DISCOVER_HEALTH);
    const { ns, svc } = this.discoverTarget(r);

    const queryPairs = query ? Object.entries(query) : [];
    const cacheable = queryPairs.length === 0 && (optional === undefined || Object.keys(optional).length === 0);
    const cacheKey = `${healthFilter ?? ''}|${max}`;
    if (cacheable) {
      const hit = this.discoverCache.get(svc.id)?.get(cacheKey);
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
      // Omitted behaves as HEALTHY: fail closed (Pharos decision, CLOUDMAP-SPEC 3.8).
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
    let perService = this.discoverCache.get(svc.id);
    if (!perService) this.discoverCache.set(svc.id, (perService = new Map()));
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

  async discoverInstancesRevision(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const { svc } = this.discoverTarget(r);
    return { InstancesRevision: this.snapshot.instancesRevision(svc.id) };
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

  // ---------------------------------------------------------------- operations

  async getOperation(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const id = r.str('OperationId', { required: true, max: 255 });
    if (!this.checkOwner(r)) throw operationNotFound(id);
    let rec = this.ops.get(id)?.rec;
    if (!rec && id.length > 0 && !id.includes('/')) {
      // Not in our index (e.g. written by another node a moment ago): ask the store.
      const kv = await this.kv.get(keys.operation(id));
      if (kv) rec = this.parseOp(kv.key, kv.value);
    }
    if (!rec) throw operationNotFound(id);
    return { Operation: operationOut(rec, this.accountId) };
  }

  async listOperations(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const token = Registry.nextToken(r);
    const max = Registry.pageSize(r);
    const filters = readFilters(r, OPERATION_FILTER_NAMES, (name, condition, values, path) => {
      switch (name) {
        case 'NAMESPACE_ID':
        case 'SERVICE_ID': {
          if (condition !== 'EQ') throw invalidInput(`${path}.Condition: ${name} supports only EQ`);
          oneValue(values, path);
          const target = name === 'NAMESPACE_ID' ? 'NAMESPACE' : 'SERVICE';
          const v = values[0]!.startsWith('arn:') ? (parseArn(values[0]!)?.resource.replace(/^(namespace|service)\//, '') ?? values[0]!) : values[0]!;
          return (op: OperationRecord) => op.targets[target] === v;
        }
        case 'STATUS':
        case 'TYPE': {
          if (condition !== 'EQ' && condition !== 'IN') throw invalidInput(`${path}.Condition: ${name} supports EQ and IN`);
          if (condition === 'EQ') oneValue(values, path);
          const allowed: readonly string[] = name === 'STATUS' ? OPERATION_STATUSES : OPERATION_TYPES;
          values.forEach((v, i) => checkEnum(`${path}.Values[${i}]`, v, allowed));
          return name === 'STATUS' ? (op: OperationRecord) => values.includes(op.status) : (op: OperationRecord) => values.includes(op.type);
        }
        case 'UPDATE_DATE': {
          if (condition !== 'BETWEEN') throw invalidInput(`${path}.Condition: UPDATE_DATE requires BETWEEN`);
          if (values.length !== 2) throw invalidInput(`${path}.Values: BETWEEN needs exactly two values (start, end)`);
          const [start, end] = values.map((v, i) => {
            const n = Number(v);
            if (!Number.isFinite(n)) throw invalidInput(`${path}.Values[${i}]: must be a timestamp in epoch seconds`);
            return n * 1000;
          }) as [number, number];
          if (start > end) throw invalidInput(`${path}.Values: the start must not be after the end`);
          return (op: OperationRecord) => op.updateDate >= start && op.updateDate <= end;
        }
      }
    });
    const keyOf = (op: OperationRecord) => `${String(op.createDate).padStart(16, '0')}|${op.id}`;
    const all: OperationRecord[] = [];
    for (const e of this.ops.values()) if (e.rev !== 0 && filters.every((f) => f(e.rec))) all.push(e.rec);
    all.sort(byKey(keyOf));
    const p = page('op', all, keyOf, token, max);
    const out: Out = { Operations: p.items.map((op) => ({ Id: op.id, Status: op.status })) };
    if (p.nextToken) out['NextToken'] = p.nextToken;
    return out;
  }

  // ---------------------------------------------------------------- tags

  /** The record key behind a taggable ARN (namespaces and services only, 3.10). */
  private taggable(r: Input): { arn: string; key: string } {
    const arn = r.str('ResourceARN', { required: true, min: 1, max: 1011 });
    const parts = parseArn(arn);
    if (!parts) throw invalidInput('ResourceARN: must be an ARN');
    if (parts.service !== 'servicediscovery' || parts.region !== this.region || parts.account !== this.accountId) throw resourceNotFound(arn);
    const m = /^(namespace|service)\/(.+)$/.exec(parts.resource);
    if (!m) throw resourceNotFound(arn);
    const key = m[1] === 'namespace' ? keys.namespace(m[2]!) : keys.service(m[2]!);
    const exists = m[1] === 'namespace' ? this.snapshot.namespace(m[2]!) : this.snapshot.service(m[2]!);
    if (!exists) throw resourceNotFound(arn);
    return { arn, key };
  }

  async tagResource(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const target = this.taggable(r);
    const tags = readTags(r, 'Tags', true)!;
    const limit = this.quotas.tagsPerResource;
    await this.mutate<{ tags: Tag[] }>(target.key, () => resourceNotFound(target.arn), (rec) => {
      const merged = new Map((rec.tags ?? []).map((t) => [t.Key, t.Value]));
      for (const t of tags) merged.set(t.Key, t.Value);
      if (merged.size > limit) throw tooManyTags(target.arn, limit);
      return { ...rec, tags: [...merged].map(([Key, Value]) => ({ Key, Value })) };
    });
    return {};
  }

  async untagResource(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const target = this.taggable(r);
    const tagKeys = r.list('TagKeys', { required: true, max: 200 }, (v, path) => checkStr(path, v, { min: 1, max: 128 }))!;
    const remove = new Set(tagKeys);
    await this.mutate<{ tags: Tag[] }>(target.key, () => resourceNotFound(target.arn), (rec) => ({
      ...rec,
      tags: (rec.tags ?? []).filter((t) => !remove.has(t.Key)),
    }));
    return {};
  }

  async listTagsForResource(input: unknown): Promise<Out> {
    this.assertRunning();
    const r = Input.of(input);
    const target = this.taggable(r);
    const rec = target.key.startsWith(keys.namespacePrefix)
      ? this.snapshot.namespace(target.key.slice(keys.namespacePrefix.length))
      : this.snapshot.service(target.key.slice(keys.servicePrefix.length));
    return { Tags: tagsOut(rec?.tags ?? []) };
  }

  // ---------------------------------------------------------------- health write path

  /**
   * Records a health result from the health checker or the orchestrator. Writes only when the
   * status changes (compare-and-swap on the /health record, retried on conflict) and logs each
   * transition. Returns whether the status changed. Unknown services/instances are ignored.
   */
  async setHealth(serviceId: string, instanceId: string, status: 'HEALTHY' | 'UNHEALTHY', reason: string): Promise<boolean> {
    // Fast path without a store read: most results repeat the current status.
    const rec = this.snapshot.healthRecord(serviceId, instanceId);
    if (!this.snapshot.instance(serviceId, instanceId)) return false;
    if (!rec?.pending && this.currentHealth(serviceId, instanceId, rec) === status) return false;
    return this.mutateHealth(serviceId, instanceId, (cur, current) =>
      current === status && !cur?.pending ? undefined : { status, reason, updatedAt: this.clock.now() },
    );
  }

  /** The stored status, or the starting one when no record exists yet (3.6: AWS_INIT_HEALTH_STATUS). */
  private currentHealth(serviceId: string, instanceId: string, rec: HealthRecord | undefined): HealthStatus {
    if (rec) return rec.status;
    const svc = this.snapshot.service(serviceId);
    if (svc?.healthCheckCustomConfig) {
      return this.snapshot.instance(serviceId, instanceId)?.attributes['AWS_INIT_HEALTH_STATUS'] === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY';
    }
    return 'UNKNOWN';
  }

  /**
   * Compare-and-swap on one /health record: `fn` gets the stored record and the status in effect,
   * and returns the new record or undefined for "no change". Returns whether the status changed.
   */
  private async mutateHealth(
    serviceId: string,
    instanceId: string,
    fn: (rec: HealthRecord | undefined, current: HealthStatus) => HealthRecord | undefined,
  ): Promise<boolean> {
    const key = keys.health(serviceId, instanceId);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      if (!this.snapshot.instance(serviceId, instanceId)) return false;
      const cur = await this.kv.get(key);
      const rec = cur ? (JSON.parse(cur.value) as HealthRecord) : undefined;
      const current = this.currentHealth(serviceId, instanceId, rec);
      const next = fn(rec, current);
      if (!next) return false;
      try {
        const rev = cur ? await this.kv.update(key, JSON.stringify(next), cur.modRevision) : await this.kv.create(key, JSON.stringify(next));
        await this.snapshot.waitForRevision(rev);
      } catch (err) {
        if (isConflict(err)) continue;
        throw err;
      }
      if (!this.snapshot.instance(serviceId, instanceId)) {
        // Deregistered while we wrote: do not leave an orphan record behind.
        await this.kv.txn([{ type: 'delete', key }]).catch(() => undefined);
        return false;
      }
      const changed = next.status !== current;
      if (changed) {
        this.metrics?.healthTransitions.inc({ status: next.status });
        this.logger.info({ serviceId, instanceId, from: current, to: next.status, reason: next.reason }, 'instance health changed');
      }
      return changed;
    }
    throw new PharosError('RegistryConflict', `too many concurrent changes to ${key}`);
  }

  private armHealthTimer(serviceId: string, instanceId: string, effectiveAt: number): void {
    if (!this.running) return;
    this.cancelHealthTimer(serviceId, instanceId);
    const k = `${serviceId}\n${instanceId}`;
    const timer = this.clock.setTimeout(() => {
      if (this.healthTimers.get(k) === timer) this.healthTimers.delete(k);
      if (this.running) this.track(this.applyPendingHealth(serviceId, instanceId));
    }, Math.max(0, effectiveAt - this.clock.now()));
    this.healthTimers.set(k, timer);
  }

  private cancelHealthTimer(serviceId: string, instanceId: string): void {
    const k = `${serviceId}\n${instanceId}`;
    this.healthTimers.get(k)?.cancel();
    this.healthTimers.delete(k);
  }

  /** A delayed custom health change falls due. */
  private async applyPendingHealth(serviceId: string, instanceId: string): Promise<void> {
    let rearm: number | undefined;
    await this.mutateHealth(serviceId, instanceId, (rec) => {
      rearm = undefined;
      if (!rec?.pending) return undefined;
      if (rec.pending.effectiveAt > this.clock.now()) {
        rearm = rec.pending.effectiveAt;
        return undefined;
      }
      return { status: rec.pending.status, reason: 'custom', updatedAt: this.clock.now() };
    });
    if (rearm !== undefined) this.armHealthTimer(serviceId, instanceId, rearm);
  }
}

// ---------------------------------------------------------------- list filters

type FilterCondition = (typeof FILTER_CONDITIONS)[number];

/** Reads `Filters` (ANDed): each has Name*, Values* (1..255 chars each), Condition (default EQ). */
function readFilters<N extends string, T>(
  r: Input,
  names: readonly N[],
  build: (name: N, condition: FilterCondition, values: string[], path: string) => (item: T) => boolean,
): ((item: T) => boolean)[] {
  return (
    r.list('Filters', {}, (v, path) => {
      const f = Input.element(v, path);
      const name = f.enumOf('Name', names, true);
      const values = f.list('Values', { required: true, min: 1 }, (x, p) => checkStr(p, x, { min: 1, max: 255 }))!;
      const condition = f.enumOf('Condition', FILTER_CONDITIONS) ?? 'EQ';
      return build(name, condition, values, path);
    }) ?? []
  );
}

function oneValue(values: string[], path: string): void {
  if (values.length !== 1) throw invalidInput(`${path}.Values: this condition takes exactly one value`);
}

/** RESOURCE_OWNER: SELF is everything here; OTHER_ACCOUNTS is nothing (no cross-account sharing). */
function ownerFilter(condition: FilterCondition, values: string[], path: string): () => boolean {
  if (condition !== 'EQ') throw invalidInput(`${path}.Condition: RESOURCE_OWNER supports only EQ`);
  oneValue(values, path);
  const v = checkEnum(`${path}.Values[0]`, values[0], RESOURCE_OWNERS);
  return () => v === 'SELF';
}

function matchesAll(attributes: Record<string, string>, pairs: [string, string][]): boolean {
  for (const [k, v] of pairs) if (attributes[k] !== v) return false;
  return true;
}

/** How many random orderings of one DiscoverInstances answer are kept: enough that consecutive callers rarely see the same order. */
const DISCOVER_ORDERINGS = 16;

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
    // Flatten the rope once here, not in every response's byteLength and socket write.
    Buffer.byteLength(body);
    return Object.freeze({ Instances: instances, InstancesRevision: this.revision, [RAW_JSON]: body });
  }
}
