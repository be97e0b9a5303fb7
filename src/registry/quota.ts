import type { Clock, Logger, Timer } from '../lib/index.ts';
import { KeyNotFoundError, isConflict, type KV, type TxnOp } from '../store/index.ts';
import { keys, parseQuotaKey, type InstanceRecord, type InstanceSlots, type SlotScope } from './model.ts';
import type { Snapshot, SnapshotChange } from './snapshot.ts';

/**
 * Quotas across servers (docs/compatibility.md#quotas).
 *
 * A server alone on its store (SQLite) counts instances and namespaces from its snapshot plus what
 * it has in flight, in one thread: that count is exact. Servers sharing a store (etcd) each count
 * only what they have seen, so two of them could each take the last place. There, everything a
 * quota counts holds a numbered **slot** below the quota, unique within it: a namespace a slot key
 * `/quota/ns/<n>` (created must-not-exist with it), an instance one slot in its service's quota and
 * one in its namespace's, written in its record (`InstanceRecord.slots`).
 *
 * An instance's slots are drawn from **blocks**: the slots of a quota are cut into blocks
 * (`blockSize`), and a server draws only from blocks it holds. It takes a block by creating the
 * block key (`keys.slotBlock`) must-not-exist on its store lease, and its registrations only check
 * that key's revision in their txn (no write): one server draws in a block at a time, and the
 * block goes back when the server dies (its lease expires), when the block has been idle for
 * `BLOCK_IDLE_MS` or is full, or when another server took it over after that (the check then fails
 * and the registration draws again). Block keys live under the instance prefix, so taking one
 * resolves only once this server's snapshot holds every instance committed before it: an earlier
 * holder's instances in the block are all seen before the first draw from it.
 *
 * Why not one key per slot, created with the instance (the first design): 2 more keys written and
 * compared in every registration's txn cost a third of etcd's registration rate. Why not a counter
 * per quota: every registration of a service would write one key, so they would commit one after
 * another. A registration whose operation is applied after its submit (an operation delay) still
 * writes slot keys (`InstanceSlots.keyed`), under the same prefix, so a later holder of the block
 * sees its slots while it waits; they are deleted with the instance. Re-registering an instance
 * keeps its slots.
 */

/** Random draws before scanning for a free slot (a nearly full quota). */
const RANDOM_DRAWS = 8;

/** The writes that take an instance's slot keys (must not exist yet), or release them; none when its record alone holds the slots. */
export function slotWrites(serviceId: string, instanceId: string, slots: InstanceSlots | undefined, take: boolean): TxnOp[] {
  if (!slots?.keyed) return [];
  const value = JSON.stringify(instanceId); // the key names the service or namespace
  const held = [keys.serviceInstanceSlot(serviceId, slots.service), keys.namespaceInstanceSlot(slots.namespaceId, slots.namespace)];
  return held.map((key): TxnOp => (take ? { type: 'put', key, value, prevRevision: 0 } : { type: 'delete', key }));
}

/** An instance whose slots are also held by slot keys (a registration applied after its submit takes them then). */
export function keyedSlots(inst: InstanceRecord): InstanceRecord {
  return inst.slots ? { ...inst, slots: { ...inst.slots, keyed: true } } : inst;
}

const sameSlots = (x: InstanceSlots | undefined, y: InstanceSlots | undefined): boolean =>
  x?.service === y?.service && x?.namespace === y?.namespace && x?.namespaceId === y?.namespaceId;

/**
 * A registration applied after its submit on a shared store (an operation delay, or a dead
 * server's operation the leader adopts): the instance may have changed since, so the writes follow
 * the store's record, guarded by its revision (the worker plans again if it moves). An instance
 * registered meanwhile keeps its slots and those this registration took at submit (`tookSlots`) go
 * back. A re-registration of an instance deregistered meanwhile fails: the slots it kept went
 * with the instance, and taking new ones needs a block this server may not hold.
 */
export async function delayedRegistration(kv: KV, rec: InstanceRecord, tookSlots: boolean): Promise<{ writes: TxnOp[] } | { fail: { code: string; message: string } }> {
  const key = keys.instance(rec.serviceId, rec.id);
  const cur = await kv.get(key);
  if (!cur && !tookSlots) return { fail: { code: 'INTERNAL_FAILURE', message: 'the instance was deregistered while this registration waited; register it again' } };
  if (!cur) return { writes: [{ type: 'put', key, value: JSON.stringify(rec), prevRevision: 0 }] };
  const kept: InstanceRecord = { ...rec };
  const held = (JSON.parse(cur.value) as InstanceRecord).slots ?? (tookSlots ? rec.slots : undefined);
  if (held) kept.slots = held;
  else delete kept.slots;
  const released = tookSlots && !sameSlots(held, rec.slots) ? slotWrites(rec.serviceId, rec.id, rec.slots, false) : [];
  return { writes: [...released, { type: 'put', key, value: JSON.stringify(kept), prevRevision: cur.modRevision }] };
}

/** A deregistration applied after its submit on a shared store: the record's own slots go with it, guarded by its revision. */
export async function delayedDeregistration(kv: KV, serviceId: string, instanceId: string): Promise<TxnOp[]> {
  const key = keys.instance(serviceId, instanceId);
  const cur = await kv.get(key);
  if (!cur) return [];
  return [...slotWrites(serviceId, instanceId, (JSON.parse(cur.value) as InstanceRecord).slots, false), { type: 'delete', key, prevRevision: cur.modRevision }];
}

/** A free slot in `[from, from + count)` (random, then a scan from a random start), or undefined when all are taken. */
export function pickSlot(count: number, taken: (slot: number) => boolean, from = 0): number | undefined {
  for (let i = 0; i < Math.min(RANDOM_DRAWS, count); i++) {
    const slot = from + Math.floor(Math.random() * count);
    if (!taken(slot)) return slot;
  }
  const start = Math.floor(Math.random() * count);
  for (let i = 0; i < count; i++) {
    const slot = from + ((start + i) % count);
    if (!taken(slot)) return slot;
  }
  return undefined;
}

/** A quota is cut into at least this many blocks, so blocks other servers hold keep little of it from this one. */
const BLOCKS_PER_QUOTA = 64;
/** At most this many slots per block: one block acquisition (one txn) per this many registrations at most. */
const MAX_BLOCK_SLOTS = 1024;
/** Blocks this small are checked for being full after each registration, and given back at once when they are. */
const SMALL_BLOCK_SLOTS = 8;
/** A block no registration has drawn from for this long goes back, for servers that find the rest of the quota full. */
const BLOCK_IDLE_MS = 1000;
/**
 * A registration that finds no free slot outside blocks other servers hold waits this long for
 * one of them to come back (idle, full, or its holder's lease expired) before ResourceLimitExceeded.
 */
const BLOCK_WAIT_MS = 2500;

/** Slots per block of a quota of `limit` (the last block may be shorter). */
export function blockSize(limit: number): number {
  return Math.max(1, Math.min(MAX_BLOCK_SLOTS, Math.floor(limit / BLOCKS_PER_QUOTA)));
}

/** A block this server holds. */
interface HeldBlock {
  /** Its key's revision: what registrations check. */
  revision: number;
  /** Registrations in flight that drew from it. */
  drawing: number;
  lastUsed: number;
  idle?: Timer;
}

/** A slot drawn for a registration: check `guard` in its txn, and `release` once it committed or failed. */
interface Drawn {
  slot: number;
  guard: TxnOp;
  release: () => void;
}

/**
 * An instance's two slots, drawn in blocks this server holds: `guards` go into the registration's
 * txn; `release` once it has committed or failed.
 */
type SlotDraw = { slots: InstanceSlots; guards: TxnOp[]; release: () => void } | { full: 'service' | 'namespace' };

/**
 * The instance quotas' blocks this server holds and the slots it knows to be taken, per service and
 * per namespace (`svc/<id>`, `ns/<id>`): those of the instances in its snapshot (built on first use,
 * then kept current from the snapshot's changes), the slot keys in its snapshot, and those its own
 * registrations in flight have drawn.
 */
export class InstanceSlotIndex {
  /** Scope → slots of the instances in the snapshot. */
  private readonly taken = new Map<string, Set<number>>();
  /** Scope → slots drawn by registrations in flight here. */
  private readonly drawn = new Map<string, Set<number>>();
  /** Scope → the blocks this server holds. */
  private readonly held = new Map<string, Map<number, HeldBlock>>();
  /** Scope → the block being taken (one at a time per scope; the others wait for it). */
  private readonly acquiring = new Map<string, Promise<void>>();
  /** Scope → blocks another server took a moment ago, not in the snapshot yet. */
  private readonly contested = new Map<string, Set<number>>();

  constructor(
    private readonly snapshot: Snapshot,
    private readonly kv: KV,
    private readonly clock: Clock,
    private readonly storeLease: () => Promise<string | undefined>,
    private readonly logger: Logger,
  ) {}

  /** Keeps the index current; returns the unsubscribe. */
  follow(): () => void {
    this.taken.clear(); // changes missed while not following
    const offChange = this.snapshot.onChange((change) => this.changed(change));
    const offQuota = this.snapshot.onQuota((scope) => this.contested.delete(scope));
    return () => {
      offChange();
      offQuota();
      for (const blocks of this.held.values()) for (const b of blocks.values()) b.idle?.cancel();
      this.held.clear();
    };
  }

  /**
   * Draws a slot of `serviceId`'s and of `namespaceId`'s instance quota, skipping `refused` slot
   * keys (held by another server's registration); `full` names the scope with no free slot.
   */
  async draw(serviceId: string, namespaceId: string, limits: { service: number; namespace: number }, refused: ReadonlySet<string>): Promise<SlotDraw> {
    const none = refused.size === 0; // nearly always: no key string built per slot looked at
    const service = await this.drawIn({ kind: 'svc', id: serviceId }, limits.service, (n) => !none && refused.has(keys.serviceInstanceSlot(serviceId, n)));
    if (!service) return { full: 'service' };
    const namespace = await this.drawIn({ kind: 'ns', id: namespaceId }, limits.namespace, (n) => !none && refused.has(keys.namespaceInstanceSlot(namespaceId, n)));
    if (!namespace) {
      service.release();
      return { full: 'namespace' };
    }
    return {
      slots: { service: service.slot, namespace: namespace.slot, namespaceId },
      guards: [service.guard, namespace.guard],
      release: () => {
        service.release();
        namespace.release();
      },
    };
  }

  /**
   * A registration's guard on `key` failed. A block key: the block is no longer this server's
   * (released, or its lease expired and another server took it), so it is forgotten and true is
   * returned; the registration draws again.
   */
  lost(key: string): boolean {
    const q = parseQuotaKey(key);
    if (q?.what !== 'block') return false;
    const block = this.held.get(q.scope)?.get(q.n);
    block?.idle?.cancel();
    this.held.get(q.scope)?.delete(q.n);
    return true;
  }

  private async drawIn(scope: SlotScope, limit: number, refused: (slot: number) => boolean): Promise<Drawn | undefined> {
    const name = `${scope.kind}/${scope.id}`;
    const size = blockSize(limit);
    const until = this.clock.now() + BLOCK_WAIT_MS;
    let caughtUp = false;
    for (;;) {
      const drawn = this.drawHeld(scope, name, size, limit, refused);
      if (drawn) return drawn;
      if (await this.acquire(scope, name, size, limit, refused)) continue;
      // Every free slot is in blocks other servers hold: wait for one to come back.
      const wait = until - this.clock.now();
      if (wait > 0 && this.othersHoldRoom(name, size, limit, refused)) {
        await this.quotaChange(name, wait);
        continue;
      }
      if (caughtUp) return undefined;
      // Full as this snapshot sees it, which may not have the deregistration another server has
      // already acknowledged yet: look once more when it holds everything committed before now.
      caughtUp = true;
      await this.catchUp();
    }
  }

  /** Resolves once the snapshot holds every write committed before the call (at most BLOCK_WAIT_MS). */
  private async catchUp(): Promise<void> {
    const revision = await this.kv.revision();
    if (revision <= this.snapshot.revision) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(resolve, BLOCK_WAIT_MS);
      void this.snapshot.waitForRevision(revision).then(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /** A free slot in a block this server holds (releasing those that are full), or undefined. */
  private drawHeld(scope: SlotScope, name: string, size: number, limit: number, refused: (slot: number) => boolean): Drawn | undefined {
    const mine = this.held.get(name);
    if (!mine) return undefined;
    const known = this.snapshot.quota(name).blocks;
    for (const [b, block] of mine) {
      if (known.get(b) !== block.revision) {
        // Gone (lease expired) or taken over since: not ours any more.
        block.idle?.cancel();
        mine.delete(b);
        continue;
      }
      const slot = pickSlot(Math.min(size, limit - b * size), (n) => this.isTaken(name, n, refused), b * size);
      if (slot === undefined) {
        this.releaseIfUnused(scope, name, b);
        continue;
      }
      const inFlight = this.drawnIn(name);
      inFlight.add(slot);
      block.drawing++;
      return {
        slot,
        guard: { type: 'check', key: keys.slotBlock(scope, b), prevRevision: block.revision },
        release: () => {
          inFlight.delete(slot);
          block.drawing--;
          block.lastUsed = this.clock.now();
          if (mine.get(b) !== block) return;
          // A small block (a small quota) goes back as soon as it is full; a big one is scanned only
          // when a draw finds no slot in it, or when it has gone idle.
          if (block.drawing === 0 && size <= SMALL_BLOCK_SLOTS && this.isFull(name, b, size, limit)) this.releaseIfUnused(scope, name, b);
          else this.armIdle(scope, name, b, block);
        },
      };
    }
    return undefined;
  }

  /**
   * Takes a block of `name` that no server holds and that has a free slot; false when there is
   * none. One acquisition per scope at a time: a caller that finds one under way waits for it.
   */
  private async acquire(scope: SlotScope, name: string, size: number, limit: number, refused: (slot: number) => boolean): Promise<boolean> {
    const pending = this.acquiring.get(name);
    if (pending) {
      await pending.catch(() => undefined);
      return true;
    }
    const blocks = Math.ceil(limit / size);
    const known = this.snapshot.quota(name).blocks;
    const contested = this.contested.get(name);
    let free: number | undefined;
    const start = Math.floor(Math.random() * blocks);
    for (let i = 0; i < blocks && free === undefined; i++) {
      const b = (start + i) % blocks;
      if (!known.has(b) && !contested?.has(b) && !this.isFull(name, b, size, limit, refused)) free = b;
    }
    if (free === undefined) return false;
    const b = free;
    const taking = this.take(scope, name, b);
    this.acquiring.set(name, taking);
    try {
      await taking;
    } finally {
      this.acquiring.delete(name);
    }
    return true;
  }

  /** Creates block `b`'s key on this server's lease; it resolves once the snapshot has every instance committed before it. */
  private async take(scope: SlotScope, name: string, b: number): Promise<void> {
    const lease = await this.storeLease();
    const key = keys.slotBlock(scope, b);
    let revision: number;
    try {
      revision = await this.kv.txn([{ type: 'put', key, value: JSON.stringify({ lease: lease ?? null }), prevRevision: 0, ...(lease === undefined ? {} : { lease }) }]);
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Another server took it a moment ago; its key reaches the snapshot soon.
      let set = this.contested.get(name);
      if (!set) this.contested.set(name, (set = new Set()));
      set.add(b);
      return;
    }
    let mine = this.held.get(name);
    if (!mine) this.held.set(name, (mine = new Map()));
    const block: HeldBlock = { revision, drawing: 0, lastUsed: this.clock.now() };
    mine.set(b, block);
    this.armIdle(scope, name, b, block);
  }

  /** Gives block `b` back when no registration is drawing from it (its key deleted, guarded by its revision). */
  private releaseIfUnused(scope: SlotScope, name: string, b: number): void {
    const mine = this.held.get(name);
    const block = mine?.get(b);
    if (!mine || !block || block.drawing > 0) return;
    block.idle?.cancel();
    mine.delete(b);
    this.kv.delete(keys.slotBlock(scope, b), block.revision).catch((err: unknown) => {
      // Gone already (lease expired): nothing to give back. Otherwise the lease frees it later.
      if (!isConflict(err) && !(err instanceof KeyNotFoundError)) this.logger.warn({ err, scope: name, block: b }, 'registry: quota block not released');
    });
  }

  /** Releases the block once it has gone `BLOCK_IDLE_MS` without a draw. */
  private armIdle(scope: SlotScope, name: string, b: number, block: HeldBlock): void {
    if (block.idle) return;
    block.idle = this.clock.setTimeout(() => {
      block.idle = undefined;
      if (this.held.get(name)?.get(b) !== block) return;
      const left = block.lastUsed + BLOCK_IDLE_MS - this.clock.now();
      if (block.drawing > 0 || left > 0) this.armIdle(scope, name, b, block);
      else this.releaseIfUnused(scope, name, b);
    }, Math.max(1, block.lastUsed + BLOCK_IDLE_MS - this.clock.now()));
  }

  private isTaken(name: string, n: number, refused: (slot: number) => boolean = () => false): boolean {
    return this.takenIn(name).has(n) || this.snapshot.quota(name).slots.has(n) || this.drawnIn(name).has(n) || refused(n);
  }

  private isFull(name: string, b: number, size: number, limit: number, refused?: (slot: number) => boolean): boolean {
    const end = Math.min(limit, (b + 1) * size);
    for (let n = b * size; n < end; n++) if (!this.isTaken(name, n, refused)) return false;
    return true;
  }

  /** Whether a block another server holds has a slot free as far as this server can see. */
  private othersHoldRoom(name: string, size: number, limit: number, refused: (slot: number) => boolean): boolean {
    const mine = this.held.get(name);
    for (const b of this.snapshot.quota(name).blocks.keys()) {
      if (!mine?.has(b) && b * size < limit && !this.isFull(name, b, size, limit, refused)) return true;
    }
    return false;
  }

  /** Resolves when one of the scope's blocks or slot keys comes or goes, or after `ms`. */
  private quotaChange(name: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        timer.cancel();
        off();
        resolve();
      };
      const off = this.snapshot.onQuota((scope) => scope === name && done());
      const timer = this.clock.setTimeout(done, ms);
    });
  }

  private drawnIn(name: string): Set<number> {
    let set = this.drawn.get(name);
    if (!set) this.drawn.set(name, (set = new Set()));
    return set;
  }

  private takenIn(scope: string): Set<number> {
    let set = this.taken.get(scope);
    if (set) return set;
    set = new Set();
    const ofService = scope.startsWith('svc/');
    const id = scope.slice(scope.indexOf('/') + 1);
    const services = ofService ? [id] : [...this.snapshot.servicesOf(id)].map((s) => s.id);
    for (const serviceId of services) {
      for (const inst of this.snapshot.instances(serviceId).values()) {
        if (inst.slots) set.add(ofService ? inst.slots.service : inst.slots.namespace);
      }
    }
    this.taken.set(scope, set);
    return set;
  }

  private changed(c: SnapshotChange): void {
    if (c.kind === 'service') {
      // A service came or went (rare): its namespace's set is rebuilt on next use.
      if (c.namespaceId !== undefined) this.taken.delete(`ns/${c.namespaceId}`);
      if (c.serviceId !== undefined && !this.snapshot.service(c.serviceId)) this.taken.delete(`svc/${c.serviceId}`);
      return;
    }
    if (c.kind !== 'instance' || c.serviceId === undefined || c.instanceId === undefined) return;
    const before = (c.previous as InstanceRecord | undefined)?.slots;
    const after = this.snapshot.instance(c.serviceId, c.instanceId)?.slots;
    if (before?.service === after?.service && before?.namespace === after?.namespace) return;
    const inService = this.taken.get(`svc/${c.serviceId}`);
    // An instance seen before its service has no namespace yet: every namespace set is rebuilt.
    if (c.namespaceId === undefined) for (const scope of [...this.taken.keys()]) if (scope.startsWith('ns/')) this.taken.delete(scope);
    const inNamespace = c.namespaceId === undefined ? undefined : this.taken.get(`ns/${c.namespaceId}`);
    if (before) {
      inService?.delete(before.service);
      inNamespace?.delete(before.namespace);
    }
    if (after) {
      inService?.add(after.service);
      inNamespace?.add(after.namespace);
    }
  }
}
