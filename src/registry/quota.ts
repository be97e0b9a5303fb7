import type { KV, TxnOp } from '../store/index.ts';
import { keys, type InstanceRecord, type InstanceSlots } from './model.ts';
import type { Snapshot, SnapshotChange } from './snapshot.ts';

/**
 * Quotas across servers (docs/compatibility.md#quotas).
 *
 * A server alone on its store (SQLite) counts instances and namespaces from its snapshot plus what
 * it has in flight, in one thread: that count is exact. Servers sharing a store (etcd) each count
 * only what they have seen, so two of them could each take the last place. There, everything a
 * quota counts also takes a numbered **slot** under it: `/quota/svc-inst/<service>/<n>` and
 * `/quota/ns-inst/<namespace>/<n>` for an instance, `/quota/ns/<n>` for a namespace, `n` below the
 * quota. A slot key is created must-not-exist in the txn that creates what it counts and deleted in
 * the one that deletes it, so however the servers race, at most `quota` of them exist.
 *
 * Why slots and not one counter key per service: a counter is written by every registration of the
 * service, so they would commit one after another (a txn, and etcd's group commit, holds one write
 * per key) and every race would cost a conflict and a retry. A slot is drawn at random among those
 * this server sees free, so two registrations collide only when they draw the same one (or when the
 * quota is nearly used up); the loser draws again. Cost: two more keys in the registration's txn,
 * no extra round trip. Re-registering an instance keeps its slots.
 */

/** Random draws before scanning for a free slot (a nearly full quota). */
const RANDOM_DRAWS = 8;

/** The writes that take an instance's slots (must not exist yet), or release them. */
export function slotWrites(serviceId: string, instanceId: string, slots: InstanceSlots | undefined, take: boolean): TxnOp[] {
  if (!slots) return [];
  const value = JSON.stringify(instanceId); // the key names the service or namespace
  const held = [keys.serviceInstanceSlot(serviceId, slots.service), keys.namespaceInstanceSlot(slots.namespaceId, slots.namespace)];
  return held.map((key): TxnOp => (take ? { type: 'put', key, value, prevRevision: 0 } : { type: 'delete', key }));
}

const sameSlots = (x: InstanceSlots | undefined, y: InstanceSlots | undefined): boolean =>
  x?.service === y?.service && x?.namespace === y?.namespace && x?.namespaceId === y?.namespaceId;

/**
 * A registration applied after its submit on a shared store (an operation delay, or a dead
 * server's operation the leader adopts): the instance may have changed since, so the writes follow
 * the store's record, guarded by its revision (the worker plans again if it moves). An instance
 * registered meanwhile keeps its slots and those this registration took at submit (`tookSlots`) go
 * back; a re-registration of one deregistered meanwhile takes its slots again (must-not-exist: if
 * another instance has one, the operation fails rather than exceed the quota).
 */
export async function delayedRegistration(kv: KV, rec: InstanceRecord, tookSlots: boolean): Promise<TxnOp[]> {
  const key = keys.instance(rec.serviceId, rec.id);
  const cur = await kv.get(key);
  if (!cur) return [...(tookSlots ? [] : slotWrites(rec.serviceId, rec.id, rec.slots, true)), { type: 'put', key, value: JSON.stringify(rec), prevRevision: 0 }];
  const kept: InstanceRecord = { ...rec };
  const held = (JSON.parse(cur.value) as InstanceRecord).slots ?? (tookSlots ? rec.slots : undefined);
  if (held) kept.slots = held;
  else delete kept.slots;
  const released = tookSlots && !sameSlots(held, rec.slots) ? slotWrites(rec.serviceId, rec.id, rec.slots, false) : [];
  return [...released, { type: 'put', key, value: JSON.stringify(kept), prevRevision: cur.modRevision }];
}

/** A deregistration applied after its submit on a shared store: the record's own slots go with it, guarded by its revision. */
export async function delayedDeregistration(kv: KV, serviceId: string, instanceId: string): Promise<TxnOp[]> {
  const key = keys.instance(serviceId, instanceId);
  const cur = await kv.get(key);
  if (!cur) return [];
  return [...slotWrites(serviceId, instanceId, (JSON.parse(cur.value) as InstanceRecord).slots, false), { type: 'delete', key, prevRevision: cur.modRevision }];
}

/** A free slot below `limit` (random, then a scan from a random start), or undefined when all are taken. */
export function pickSlot(limit: number, taken: (slot: number) => boolean): number | undefined {
  for (let i = 0; i < RANDOM_DRAWS; i++) {
    const slot = Math.floor(Math.random() * limit);
    if (!taken(slot)) return slot;
  }
  const start = Math.floor(Math.random() * limit);
  for (let i = 0; i < limit; i++) {
    const slot = (start + i) % limit;
    if (!taken(slot)) return slot;
  }
  return undefined;
}

/**
 * The instance slots this server knows to be taken, per service and per namespace: those of the
 * instances in its snapshot (built on first use, then kept current from the snapshot's changes)
 * and those its own registrations in flight have drawn. Slots taken by other servers a moment ago
 * are not here; drawing one of them fails the txn and the registration draws again.
 */
export class InstanceSlotIndex {
  /** `s:<serviceId>` / `n:<namespaceId>` → slots of the instances in the snapshot. */
  private readonly taken = new Map<string, Set<number>>();
  /** Same scopes → slots drawn by registrations in flight here. */
  private readonly drawn = new Map<string, Set<number>>();

  constructor(private readonly snapshot: Snapshot) {}

  /** Keeps the index current; returns the unsubscribe. */
  follow(): () => void {
    this.taken.clear(); // changes missed while not following
    return this.snapshot.onChange((change) => this.changed(change));
  }

  /**
   * Draws a slot of `serviceId`'s and of `namespaceId`'s instance quota, skipping `refused` slot
   * keys (held by another server); `undefined` with the scope that is full. Release the draw once
   * the registration has committed or failed.
   */
  draw(
    serviceId: string,
    namespaceId: string,
    limits: { service: number; namespace: number },
    refused: ReadonlySet<string>,
  ): { slots: InstanceSlots; release: () => void } | { full: 'service' | 'namespace' } {
    const none = refused.size === 0;
    const service = this.drawIn(`s:${serviceId}`, limits.service, (n) => !none && refused.has(keys.serviceInstanceSlot(serviceId, n)));
    if (service === undefined) return { full: 'service' };
    const namespace = this.drawIn(`n:${namespaceId}`, limits.namespace, (n) => !none && refused.has(keys.namespaceInstanceSlot(namespaceId, n)));
    if (namespace === undefined) {
      this.drawn.get(`s:${serviceId}`)?.delete(service);
      return { full: 'namespace' };
    }
    return {
      slots: { service, namespace, namespaceId },
      release: () => {
        this.drawn.get(`s:${serviceId}`)?.delete(service);
        this.drawn.get(`n:${namespaceId}`)?.delete(namespace);
      },
    };
  }

  private drawIn(scope: string, limit: number, refused: (slot: number) => boolean): number | undefined {
    const taken = this.takenIn(scope);
    let drawn = this.drawn.get(scope);
    if (!drawn) this.drawn.set(scope, (drawn = new Set()));
    const mine = drawn;
    const slot = pickSlot(limit, (n) => taken.has(n) || mine.has(n) || refused(n));
    if (slot !== undefined) mine.add(slot);
    return slot;
  }

  private takenIn(scope: string): Set<number> {
    let set = this.taken.get(scope);
    if (set) return set;
    set = new Set();
    const id = scope.slice(2);
    const services = scope.startsWith('s:') ? [id] : [...this.snapshot.servicesOf(id)].map((s) => s.id);
    for (const serviceId of services) {
      for (const inst of this.snapshot.instances(serviceId).values()) {
        if (inst.slots) set.add(scope.startsWith('s:') ? inst.slots.service : inst.slots.namespace);
      }
    }
    this.taken.set(scope, set);
    return set;
  }

  private changed(c: SnapshotChange): void {
    if (c.kind === 'service') {
      // A service came or went (rare): its namespace's set is rebuilt on next use.
      if (c.namespaceId !== undefined) this.taken.delete(`n:${c.namespaceId}`);
      if (c.serviceId !== undefined && !this.snapshot.service(c.serviceId)) this.taken.delete(`s:${c.serviceId}`);
      return;
    }
    if (c.kind !== 'instance' || c.serviceId === undefined || c.instanceId === undefined) return;
    const before = (c.previous as InstanceRecord | undefined)?.slots;
    const after = this.snapshot.instance(c.serviceId, c.instanceId)?.slots;
    if (before?.service === after?.service && before?.namespace === after?.namespace) return;
    const inService = this.taken.get(`s:${c.serviceId}`);
    // An instance seen before its service has no namespace yet: every namespace set is rebuilt.
    if (c.namespaceId === undefined) for (const scope of [...this.taken.keys()]) if (scope.startsWith('n:')) this.taken.delete(scope);
    const inNamespace = c.namespaceId === undefined ? undefined : this.taken.get(`n:${c.namespaceId}`);
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
