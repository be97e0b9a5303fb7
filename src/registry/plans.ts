import type { Clock } from '../lib/index.ts';
import type { KV, TxnOp } from '../store/index.ts';
import { delayedDeregistration, delayedRegistration, slotWrites } from './quota.ts';
import {
  keys,
  namespaceClaims,
  type DnsRecordConfig,
  type HealthCheckConfigRecord,
  type InstanceRecord,
  type InstanceSlots,
  type NamespaceClaim,
  type NamespaceRecord,
  type OperationRecord,
  type ServiceRecord,
} from './model.ts';
import type { Snapshot } from './snapshot.ts';

/**
 * What each kind of asynchronous operation writes when it is applied (engine.ts runs them): its
 * payload, the plan of store writes that commit with its final record, and that record.
 */

/** What an asynchronous operation will apply (stored in `OperationRecord.payload`). */
export type OpPayload =
  | { kind: 'createNamespace'; namespace: NamespaceRecord }
  | { kind: 'updateNamespace'; namespaceId: string; description?: string; soaTtl?: number }
  | { kind: 'deleteNamespace'; namespaceId: string }
  | { kind: 'updateService'; serviceId: string; description?: string; dnsRecords?: DnsRecordConfig[]; healthCheckConfig: HealthCheckConfigRecord | null }
  // `prevRevision` (shared store): the instance record's guard when applied at submit (0 = new).
  | { kind: 'registerInstance'; instance: InstanceRecord; prevRevision?: number }
  | { kind: 'deregisterInstance'; serviceId: string; instanceId: string; prevRevision?: number; slots?: InstanceSlots };

/** An instance (de)registration: applied at submit when there is no operation delay. */
export type InstancePayload = Extract<OpPayload, { kind: 'registerInstance' | 'deregisterInstance' }>;

const SERVICE_GONE = { code: 'INTERNAL_FAILURE', message: 'the service no longer exists' };

/** The result of planning an operation: store writes that go in the same txn as the op's SUCCESS, or a failure. */
export type Plan = { writes: TxnOp[]; after?: () => void } | { fail: { code: string; message: string }; release?: TxnOp[] };

/** What planning reads and calls. */
export interface PlanContext {
  kv: KV;
  snapshot: Snapshot;
  clock: Clock;
  /** Called after an instance's deregistration commits. */
  onDeregistered(serviceId: string, instanceId: string): void;
}

/** An open operation's final record, SUCCESS or (with `fail`) FAIL, as of `now`. */
export function finishedRecord(now: number, rec: OperationRecord, fail?: { code: string; message: string }): OperationRecord {
// Field by field, without the payload (applied: no need to keep it). A copy with `delete`
  // would be a dictionary-mode object, which JSON.stringify and every later read walk slowly.
  const done: OperationRecord = { id: rec.id, type: rec.type, status: fail ? 'FAIL' : 'SUCCESS', createDate: rec.createDate, updateDate: now, targets: rec.targets };
  if (rec.requestId !== undefined) done.requestId = rec.requestId;
  if (rec.fingerprint !== undefined) done.fingerprint = rec.fingerprint;
  if (fail) {
    done.errorCode = fail.code;
    done.errorMessage = fail.message;
  }
  return done;
}

/**
 * What an operation applied after its submit writes (a registration's guards, on a shared store,
 * were taken at submit: see quota.ts).
 */
export async function planLater(ctx: PlanContext, op: OperationRecord): Promise<Plan> {
  const p = op.payload as OpPayload | undefined;
  if (!p) return { fail: { code: 'INTERNAL_FAILURE', message: 'operation has no payload' } };
  switch (p.kind) {
    case 'createNamespace':
      return { writes: [{ type: 'put', key: keys.namespace(p.namespace.id), value: JSON.stringify(p.namespace), prevRevision: 0 }] };
    case 'deleteNamespace': {
      for (const _ of ctx.snapshot.servicesOf(p.namespaceId)) {
        return { fail: { code: 'INTERNAL_FAILURE', message: 'the namespace still contains services' } };
      }
      const cur = await ctx.kv.get(keys.namespace(p.namespaceId));
      if (!cur) return { writes: [] };
      const claims = namespaceClaims(JSON.parse(cur.value) as NamespaceRecord).map((key): TxnOp => ({ type: 'delete', key }));
      return { writes: [{ type: 'delete', key: cur.key, prevRevision: cur.modRevision }, ...claims] };
    }
    case 'updateNamespace': {
      const cur = await ctx.kv.get(keys.namespace(p.namespaceId));
      if (!cur) return { fail: { code: 'INTERNAL_FAILURE', message: 'the namespace no longer exists' } };
      const ns = JSON.parse(cur.value) as NamespaceRecord;
      if (p.description !== undefined) ns.description = p.description;
      if (p.soaTtl !== undefined) ns.soaTtl = p.soaTtl;
      return { writes: [{ type: 'put', key: cur.key, value: JSON.stringify(ns), prevRevision: cur.modRevision }] };
    }
    case 'updateService': {
      const cur = await ctx.kv.get(keys.service(p.serviceId));
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
        for (const instanceId of ctx.snapshot.healthRecords(svc.id)?.keys() ?? []) {
          healthDeletes.push({ type: 'delete', key: keys.health(svc.id, instanceId) });
        }
      }
      return { writes: [{ type: 'put', key: cur.key, value: JSON.stringify(svc), prevRevision: cur.modRevision }, ...healthDeletes] };
    }
    case 'registerInstance': {
      const inst = p.instance;
      if (!ctx.snapshot.service(inst.serviceId)) return { fail: SERVICE_GONE, release: slotWrites(inst.serviceId, inst.id, inst.slots, false) };
      const rec: InstanceRecord = { ...inst, registeredAt: ctx.clock.now() };
      if (p.prevRevision !== undefined) return delayedRegistration(ctx.kv, rec, p.prevRevision === 0);
      return { writes: [{ type: 'put', key: keys.instance(inst.serviceId, inst.id), value: JSON.stringify(rec) }] };
    }
    case 'deregisterInstance': {
      const removal: TxnOp[] =
        p.prevRevision !== undefined
          ? await delayedDeregistration(ctx.kv, p.serviceId, p.instanceId)
          : [...slotWrites(p.serviceId, p.instanceId, p.slots, false), { type: 'delete', key: keys.instance(p.serviceId, p.instanceId) }];
      return deregistration(ctx, p, removal);
    }
  }
}

/**
 * What an instance (de)registration applied at submit writes (engine.ts `appliesAtSubmit`). It reads
 * nothing from the store, so it is not async: no microtask hop before the txn. On a shared store
 * the instance's write is guarded by the revision the registration saw (0 = new: its slots too).
 */
export function planAtSubmit(ctx: PlanContext, p: InstancePayload): Plan {
  if (p.kind === 'deregisterInstance') {
    const guard = p.prevRevision !== undefined ? { prevRevision: p.prevRevision } : {};
    return deregistration(ctx, p, [...slotWrites(p.serviceId, p.instanceId, p.slots, false), { type: 'delete', key: keys.instance(p.serviceId, p.instanceId), ...guard }]);
  }
  const inst = p.instance;
  if (!ctx.snapshot.service(inst.serviceId)) return { fail: SERVICE_GONE };
  const rec: InstanceRecord = { ...inst, registeredAt: ctx.clock.now() };
  // `object`: the snapshot takes this record as it is instead of parsing the value back (SQLite).
  const put: TxnOp = { type: 'put', key: keys.instance(inst.serviceId, inst.id), value: JSON.stringify(rec), object: rec };
  if (p.prevRevision === undefined) return { writes: [put] };
  put.prevRevision = p.prevRevision;
  return { writes: p.prevRevision === 0 ? [...slotWrites(inst.serviceId, inst.id, inst.slots, true), put] : [put] };
}

/** A deregistration's writes: `removal` (the instance and its slots), its health, the revision marker. */
function deregistration(ctx: PlanContext, p: { serviceId: string; instanceId: string }, removal: TxnOp[]): Plan {
  return {
    writes: [
      ...removal,
      { type: 'delete', key: keys.health(p.serviceId, p.instanceId) },
      // Keeps InstancesRevision from going down across restarts when the last change was a delete.
      { type: 'put', key: keys.instancesRevision(p.serviceId), value: JSON.stringify({ serviceId: p.serviceId }) },
    ],
    after: () => ctx.onDeregistered(p.serviceId, p.instanceId),
  };
}

/** The claim a CREATE_NAMESPACE operation writes for each name it takes. */
export function claimOf(rec: OperationRecord): NamespaceClaim {
  const claim: NamespaceClaim = { namespaceId: rec.targets.NAMESPACE ?? '', operationId: rec.id };
  if (rec.requestId !== undefined) claim.creatorRequestId = rec.requestId;
  if (rec.fingerprint !== undefined) claim.fingerprint = rec.fingerprint;
  return claim;
}
