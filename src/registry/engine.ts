import { PharosError, jitter, newOperationId } from '../lib/index.ts';
import { KeyExistsError, MAX_CAS_ATTEMPTS, deleteUnchanged, follow, isConflict, type TxnOp, type Watch, type WatchEvent } from '../store/index.ts';
import { RegistryPart, type RegistryParts } from './background.ts';
import { keyedSlots, slotWrites } from './quota.ts';
import { duplicateRequest, operationNotFound } from './errors.ts';
import { keys, type NamespaceRecord, type OperationRecord, type OperationStatus, type OperationType } from './model.ts';
import { claimOf, finishedRecord, planAtSubmit, planLater, type InstancePayload, type OpPayload, type Plan, type PlanContext } from './plans.ts';

export type { OpPayload } from './plans.ts';

/** Back-off before retrying an operation whose apply failed on a store fault (not a conflict). */
const APPLY_RETRY_MS = 1000;
/** AWS does not document how long operations stay visible; a day covers every client's polling. */
export const DEFAULT_OP_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Bounds memory and the store under registration storms (3,000/s would otherwise keep 260M a day). */
export const DEFAULT_MAX_FINISHED_OPS = 100_000;
/** How often finished operations are swept (default of `opSweepIntervalMs`). */
export const OP_SWEEP_INTERVAL_MS = 60_000;
/** Deletes per sweep txn: small enough not to stall the group commit, and within the store's MAX_TXN_OPS (etcd's limit). */
const OP_SWEEP_BATCH = 100;

interface OpEntry {
  rec: OperationRecord;
  /** The op record's modRevision (0 while its create is in flight). */
  rev: number;
  /** While the operation is open: its `targetKey` (made once; a registration indexes and unindexes it per request). */
  target?: string;
}

const isOpen = (s: OperationStatus): boolean => s === 'SUBMITTED' || s === 'PENDING';

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

interface OperationEngineOptions extends RegistryParts {
  /** Time an operation spends SUBMITTED then PENDING; 0 = applied right after the call returns. */
  opDelayMs: number;
  opRetentionMs: number;
  maxFinishedOps: number;
  opSweepIntervalMs: number;
  /** Called after an instance's deregistration commits (the health writer drops its timer). */
  onDeregistered(serviceId: string, instanceId: string): void;
}

/**
 * Cloud Map's asynchronous operations: the index of every operation (kept current by a watch on
 * /op/, so other nodes' operations are seen too), submission with `CreatorRequestId` idempotency,
 * the worker that applies an operation's writes and its SUCCESS in one txn, and the sweep of
 * finished ones. See docs/compatibility.md#asynchronous-operations.
 */
export class OperationEngine extends RegistryPart {
  private readonly options: OperationEngineOptions;
  private watch?: Watch;

  private readonly ops = new Map<string, OpEntry>();
  /** `${type}|${requestId}` → operation id: O(1) idempotency lookups. */
  private readonly opByRequest = new Map<string, string>();
  /** targetKey → id of the open operation holding it. */
  private readonly openByTarget = new Map<string, string>();
  /** Service id → open REGISTER_INSTANCE operations (quotas, DeleteService). */
  private readonly openRegistrationCount = new Map<string, number>();
  /** Open CREATE_NAMESPACE operations → the namespace they will create (names are taken at submit). */
  private readonly openNamespaceCreates = new Map<string, NamespaceRecord>();
  private readonly opWaiters = new Map<string, ((op: OperationRecord) => void)[]>();
  /**
   * Final records this server is committing (id → the record and the exact string written): the
   * watch event of our own write is indexed from here instead of parsing the string back.
   */
  private readonly committing = new Map<string, { rec: OperationRecord; value: string }>();
  /** Operations this server has scheduled and not finished running (so adoption skips them). */
  private readonly local = new Set<string>();

  private readonly planning: PlanContext;

  constructor(options: OperationEngineOptions) {
    super(options);
    this.options = options;
    this.planning = { kv: this.kv, snapshot: this.snapshot, clock: this.clock, onDeregistered: options.onDeregistered };
  }

  /** How many operations the index holds. */
  get size(): number {
    return this.ops.size;
  }

  /** Loads every operation and starts the watch that keeps the index current. */
  async load(): Promise<void> {
    const listed = await this.kv.list(keys.operationPrefix);
    for (const item of listed.items) {
      const rec = this.parse(item.key, item.value);
      if (rec) this.index(rec, item.modRevision);
    }
    this.watch = follow(this.kv, keys.operationPrefix, listed, (events) => this.applyEvents(events), {
      logger: this.logger,
      onError: (err) => this.logger.error({ err }, 'registry: operation watch failed'),
      known: () => [...this.ops.values()].filter((e) => e.rev !== 0).map((e) => [keys.operation(e.rec.id), e.rev] as const),
    });
  }

  /**
   * Resumes every operation acknowledged but not finished (before a restart) and arms the sweep;
   * call once the background is running. Returns how many were resumed.
   */
  resume(): number {
    let resumed = 0;
    for (const entry of this.ops.values()) {
      if (isOpen(entry.rec.status)) {
        this.schedule(entry.rec.id);
        resumed++;
      }
    }
    const interval = this.options.opSweepIntervalMs;
    if (interval > 0) {
      const sweep = (): void => this.bg.track(this.sweep().finally(() => this.bg.later(interval, sweep)));
      this.bg.later(jitter(interval), sweep);
    }
    return resumed;
  }

  cancelWatch(): void {
    this.watch?.cancel();
    this.watch = undefined;
  }

  /**
   * Deletes finished operations older than the retention, and the oldest beyond the cap. Returns
   * how many were deleted.
   */
  async sweep(): Promise<number> {
    const now = this.clock.now();
    const finished: OpEntry[] = [];
    for (const e of this.ops.values()) if (!isOpen(e.rec.status) && e.rev > 0) finished.push(e);
    finished.sort((a, b) => a.rec.updateDate - b.rec.updateDate);
    const excess = finished.length - this.options.maxFinishedOps;
    const victims = finished.filter((e, i) => i < excess || now - e.rec.updateDate > this.options.opRetentionMs);
    // One op changed meanwhile: its batch is skipped, the next sweep retries the rest.
    const deleted = await deleteUnchanged(this.kv, victims.map((e) => ({ key: keys.operation(e.rec.id), modRevision: e.rev })), OP_SWEEP_BATCH);
    if (deleted > 0) this.logger.debug({ deleted }, 'registry: finished operations swept');
    return deleted;
  }

  // ---------------------------------------------------------------- reads

  /** The operation as this node knows it (undefined while unknown here). */
  get(id: string): OperationRecord | undefined {
    return this.ops.get(id)?.rec;
  }

  /** The operation, asking the store when this node has not seen it yet (written by another node a moment ago). */
  async lookup(id: string): Promise<OperationRecord | undefined> {
    const rec = this.ops.get(id)?.rec;
    if (rec || id.length === 0 || id.includes('/')) return rec;
    const kv = await this.kv.get(keys.operation(id));
    return kv ? this.parse(kv.key, kv.value) : undefined;
  }

  /** Every operation whose create has committed. */
  *committed(): Iterable<OperationRecord> {
    for (const e of this.ops.values()) if (e.rev !== 0) yield e.rec;
  }

  /** The open operation holding `target` (`ns:<id>`, `svc:<id>`, `inst:<serviceId>/<instanceId>`). */
  openOp(target: string): OperationRecord | undefined {
    const id = this.openByTarget.get(target);
    return id === undefined ? undefined : this.ops.get(id)?.rec;
  }

  /** Open REGISTER_INSTANCE operations of a service. */
  openRegistrations(serviceId: string): number {
    return this.openRegistrationCount.get(serviceId) ?? 0;
  }

  /** Namespaces that open CREATE_NAMESPACE operations will create. */
  pendingNamespaces(): Iterable<NamespaceRecord> {
    return this.openNamespaceCreates.values();
  }

  /** Resolves with the operation once it reaches SUCCESS or FAIL (for the orchestrator and tests). */
  waitFor(id: string): Promise<OperationRecord> {
    const entry = this.ops.get(id);
    if (!entry) return Promise.reject(operationNotFound(id));
    if (!isOpen(entry.rec.status)) return Promise.resolve(entry.rec);
    return new Promise((resolve) => {
      let list = this.opWaiters.get(id);
      if (!list) this.opWaiters.set(id, (list = []));
      list.push(resolve);
    });
  }

  // ---------------------------------------------------------------- submit

  /** The same-request check (docs/compatibility.md#idempotency): an earlier identical request gives its result again. */
  replay(type: OperationType, requestId: string | undefined, print: string): Record<string, unknown> | undefined {
    if (requestId === undefined) return undefined;
    const id = this.opByRequest.get(`${type}|${requestId}`);
    const entry = id === undefined ? undefined : this.ops.get(id);
    if (!entry || entry.rec.fingerprint !== print) return undefined;
    if (isOpen(entry.rec.status)) throw duplicateRequest(entry.rec.id, 'The same request is still in progress');
    return { OperationId: entry.rec.id };
  }

  /** The operation this node knows for a request token, whatever its parameters. */
  requestOp(type: OperationType, requestId: string): OperationRecord | undefined {
    const id = this.opByRequest.get(`${type}|${requestId}`);
    return id === undefined ? undefined : this.ops.get(id)?.rec;
  }

  /**
   * Writes the operation record (SUBMITTED, with its payload) durably, then hands it to the worker.
   * The record is indexed synchronously first, so concurrent requests see its reservation at once.
   * Not `async`: an instance (de)registration applied at submit returns its commit's promise
   * itself, one promise and two microtask jobs less per request than an async function returning it.
   */
  submit(
    type: OperationType,
    targets: OperationRecord['targets'],
    payload: OpPayload,
    requestId?: string,
    print?: string,
    claims: string[] = [],
    id = newOperationId(),
    guards: TxnOp[] = [],
  ): Promise<Record<string, unknown>> {
    // An id this node holds already (derived from a token): refused as the store would refuse it.
    if (this.ops.has(id)) return Promise.reject(new KeyExistsError(keys.operation(id)));
    const now = this.clock.now();
    const atSubmit = this.appliesAtSubmit(payload);
    // Applied later, a new instance's slots are also taken by slot keys at submit (quota.ts).
    const keyed = !atSubmit && payload.kind === 'registerInstance' && payload.prevRevision === 0;
    const stored: OpPayload = keyed ? { ...payload, instance: keyedSlots(payload.instance) } : payload;
    const rec: OperationRecord = { id, type, status: 'SUBMITTED', createDate: now, updateDate: now, targets, payload: stored };
    if (requestId !== undefined) rec.requestId = requestId;
    if (print !== undefined) rec.fingerprint = print;
    this.index(rec, 0);
    return atSubmit ? this.submitApplied(rec, payload as InstancePayload, guards) : this.submitLater(rec, keyed, claims, guards);
  }

  private async submitLater(rec: OperationRecord, keyed: boolean, claims: string[], guards: TxnOp[]): Promise<Record<string, unknown>> {
    const stored = rec.payload as OpPayload;
    let rev: number;
    const slots = keyed && stored.kind === 'registerInstance' ? slotWrites(rec.targets.SERVICE ?? '', stored.instance.id, stored.instance.slots, true) : [];
    try {
      // Claims (names a namespace takes) commit with the record: of two servers racing, one wins.
      // The record last: the txn's revision is then the record's own on every backend.
      rev = await this.kv.txn([
        ...guards,
        ...claims.map((key) => ({ type: 'put' as const, key, value: JSON.stringify(claimOf(rec)), prevRevision: 0 })),
        ...slots,
        { type: 'put', key: keys.operation(rec.id), value: JSON.stringify(rec), prevRevision: 0 },
      ]);
    } catch (err) {
      this.dropReservation(rec.id);
      throw err;
    }
    const e = this.ops.get(rec.id);
    if (e && e.rev < rev && e.rec.status === 'SUBMITTED') e.rev = rev;
    this.metrics?.submitted.inc({ type: rec.type });
    this.schedule(rec.id);
    return { OperationId: rec.id };
  }

  /**
   * With no operation delay, an instance (de)registration is applied in the same txn that makes
   * its operation record durable, already SUCCESS: one commit and one watch event per request
   * instead of two each (SUBMITTED, then the writes + SUCCESS). Its plan reads nothing from the
   * store and its writes are unconditional, so the txn cannot conflict; the reply still waits for
   * the commit, so an acknowledged operation is as durable as before and none is left open.
   */
  private appliesAtSubmit(payload: OpPayload): boolean {
    return this.options.opDelayMs <= 0 && this.bg.running && (payload.kind === 'registerInstance' || payload.kind === 'deregisterInstance');
  }

  private submitApplied(rec: OperationRecord, payload: InstancePayload, guards: TxnOp[]): Promise<Record<string, unknown>> {
    let plan: Plan;
    let done: OperationRecord;
    let value: string;
    try {
      plan = planAtSubmit(this.planning, payload);
      done = finishedRecord(this.clock.now(), rec, 'fail' in plan ? plan.fail : undefined);
      value = JSON.stringify(done);
    } catch (err) {
      this.dropReservation(rec.id);
      return Promise.reject(err);
    }
    const writes = 'fail' in plan ? [] : plan.writes;
    this.committing.set(rec.id, { rec: done, value });
    return this.kv.txn([...guards, ...writes, { type: 'put', key: keys.operation(rec.id), value, prevRevision: 0, object: done }]).then(
      (rev) => {
        this.committing.delete(rec.id);
        this.index(done, rev);
        this.metrics?.submitted.inc({ type: rec.type });
        this.applied(plan, done);
        return { OperationId: rec.id };
      },
      (err: unknown) => {
        this.committing.delete(rec.id);
        this.dropReservation(rec.id);
        throw err;
      },
    );
  }

  /** A submit whose commit failed: the reservation indexed before it goes (unless the watch saw the record meanwhile). */
  private dropReservation(id: string): void {
    const e = this.ops.get(id);
    if (e && e.rev === 0) {
      this.unindex(e);
      this.ops.delete(id);
    }
  }

  /** After an operation's final record committed: its follow-up, metrics, and a log line if it failed. */
  private applied(plan: Plan, done: OperationRecord): void {
    if (!('fail' in plan)) plan.after?.();
    this.metrics?.completed.inc({ type: done.type, status: done.status });
    this.metrics?.duration.observe(done.type, Math.max(0, done.updateDate - done.createDate) / 1000);
    if (done.status === 'FAIL') this.logger.warn({ operationId: done.id, type: done.type, error: done.errorMessage }, 'operation failed');
  }

  // ---------------------------------------------------------------- index

  private parse(key: string, value: string): OperationRecord | undefined {
    try {
      return JSON.parse(value) as OperationRecord;
    } catch (err) {
      this.logger.error({ err, key }, 'registry: unparsable operation record skipped');
      return undefined;
    }
  }

  private applyEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      const id = ev.key.slice(keys.operationPrefix.length);
      if (ev.type === 'put') {
        // Our own write comes back with its object (SQLite) or as the same string: index the record we already have.
        const mine = ev.object === undefined ? this.committing.get(id) : undefined;
        const rec = (ev.object as OperationRecord | undefined) ?? (mine !== undefined && mine.value === ev.value ? mine.rec : this.parse(ev.key, ev.value ?? ''));
        if (rec) this.index(rec, ev.revision);
      } else {
        const prev = this.ops.get(id);
        if (prev) this.unindex(prev);
        this.ops.delete(id);
      }
    }
  }

  private index(rec: OperationRecord, rev: number): void {
    const prev = this.ops.get(rec.id);
    if (prev) {
      if (prev.rev > rev && rev !== 0) return; // an older event than what we hold
      if (prev.rec === rec && prev.rev === rev) return; // already indexed (our commit's watch event came first)
      this.unindex(prev);
    }
    const entry: OpEntry = { rec, rev };
    this.ops.set(rec.id, entry);
    if (rec.requestId !== undefined) this.opByRequest.set(`${rec.type}|${rec.requestId}`, rec.id);
    if (isOpen(rec.status)) {
      if (this.metrics) this.metrics.open.value++;
      const t = targetKey(rec);
      entry.target = t;
      if (t) this.openByTarget.set(t, rec.id);
      if (rec.type === 'REGISTER_INSTANCE' && rec.targets.SERVICE) {
        this.openRegistrationCount.set(rec.targets.SERVICE, (this.openRegistrationCount.get(rec.targets.SERVICE) ?? 0) + 1);
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

  private unindex(entry: OpEntry): void {
    const rec = entry.rec;
    if (rec.requestId !== undefined) {
      const k = `${rec.type}|${rec.requestId}`;
      if (this.opByRequest.get(k) === rec.id) this.opByRequest.delete(k);
    }
    if (isOpen(rec.status)) {
      if (this.metrics) this.metrics.open.value--;
      const t = entry.target;
      if (t && this.openByTarget.get(t) === rec.id) this.openByTarget.delete(t);
      if (rec.type === 'REGISTER_INSTANCE' && rec.targets.SERVICE) {
        const n = (this.openRegistrationCount.get(rec.targets.SERVICE) ?? 1) - 1;
        if (n <= 0) this.openRegistrationCount.delete(rec.targets.SERVICE);
        else this.openRegistrationCount.set(rec.targets.SERVICE, n);
      }
      this.openNamespaceCreates.delete(rec.id);
    }
  }

  // ---------------------------------------------------------------- worker

  /**
   * Runs open operations no live server is running: those a server acknowledged and then died
   * with. Called periodically on the cluster leader; an operation is adopted once it is `graceMs`
   * past due. The operation record's compare-and-swap makes a race with a slow owner harmless: the
   * operation is applied once. Returns how many were adopted.
   */
  adoptOrphans(graceMs: number): number {
    const now = this.clock.now();
    let adopted = 0;
    for (const e of this.ops.values()) {
      if (!isOpen(e.rec.status) || this.local.has(e.rec.id) || e.rev === 0) continue;
      if (now - (e.rec.createDate + this.options.opDelayMs) < graceMs) continue;
      this.schedule(e.rec.id);
      adopted++;
    }
    if (adopted > 0) this.logger.info({ adopted }, 'registry: adopted operations of a server that is gone');
    return adopted;
  }

  private schedule(id: string): void {
    if (!this.bg.running || this.local.has(id)) return;
    this.local.add(id);
    const delay = this.options.opDelayMs;
    if (delay <= 0) {
      this.bg.track(this.run(id));
      return;
    }
    // Half the delay SUBMITTED, half PENDING, so clients polling GetOperation see both states.
    // Times count from the submit, so an operation resumed after a restart is not delayed again.
    const createDate = this.ops.get(id)?.rec.createDate ?? this.clock.now();
    const pendingAt = createDate + Math.floor(delay / 2);
    const doneAt = createDate + delay;
    this.bg.later(Math.max(0, pendingAt - this.clock.now()), () =>
      this.bg.track(this.markPending(id).then(() => this.bg.later(Math.max(0, doneAt - this.clock.now()), () => this.bg.track(this.run(id))))),
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
  private async run(id: string): Promise<void> {
    try {
      await this.apply(id);
    } finally {
      this.local.delete(id);
    }
  }

  private async apply(id: string): Promise<void> {
    const opKey = keys.operation(id);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = this.ops.get(id);
      if (!entry || !isOpen(entry.rec.status) || !this.bg.running) return;
      let plan: Plan;
      try {
        plan = await planLater(this.planning, entry.rec);
      } catch (err) {
        plan = { fail: { code: 'INTERNAL_FAILURE', message: err instanceof Error ? err.message : String(err) } };
      }
      const done = finishedRecord(this.clock.now(), entry.rec, 'fail' in plan ? plan.fail : undefined);
      const writes = 'fail' in plan ? (plan.release ?? []) : plan.writes;
      try {
        await this.kv.txn([...writes, { type: 'put', key: opKey, value: JSON.stringify(done), prevRevision: entry.rev }]);
      } catch (err) {
        if (isConflict(err)) {
          if ((err as PharosError).fields['key'] === opKey) {
            // Our view of the op is stale (a watch event not yet delivered) or another worker
            // finished it: look at the store and go on only if it is still open.
            const cur = await this.kv.get(opKey);
            const rec = cur && this.parse(opKey, cur.value);
            if (!cur || !rec || !isOpen(rec.status)) return;
            this.index(rec, cur.modRevision);
          }
          continue; // plan again
        }
        if (!this.bg.running) return; // shutting down: resumed on the next start
        this.logger.error({ err, operationId: id }, 'registry: applying an operation failed; will retry');
        this.bg.later(APPLY_RETRY_MS, () => this.schedule(id));
        return;
      }
      this.applied(plan, done);
      return;
    }
    // Lost the race too often: record the failure rather than spin.
    const entry = this.ops.get(id);
    if (!entry || !isOpen(entry.rec.status)) return;
    const done = finishedRecord(this.clock.now(), entry.rec, { code: 'INTERNAL_FAILURE', message: 'too many concurrent changes; retry the request' });
    await this.kv.txn([{ type: 'put', key: opKey, value: JSON.stringify(done), prevRevision: entry.rev }]).catch((err) => {
      if (!isConflict(err)) throw err;
    });
  }
}
