import { newOperationId, operationIdFor, type PharosError } from '../../lib/index.ts';
import { MAX_CAS_ATTEMPTS, isConflict, type TxnOp } from '../../store/index.ts';
import type { OpPayload } from '../engine.ts';
import { duplicateRequest, registryConflict, resourceLimitExceeded } from '../errors.ts';
import { keys, type InstanceRecord, type OperationRecord, type ServiceRecord } from '../model.ts';
import type { Registry } from '../registry.ts';
import type { Out } from './common.ts';

/**
 * The store side of RegisterInstance and DeregisterInstance: quotas, and `CreatorRequestId`
 * replays, decided in the store txn so they hold across servers (docs/compatibility.md#idempotency,
 * #quotas). On a store of its own (SQLite) a registration is one txn as before.
 */

type Targets = OperationRecord['targets'];

/** What one attempt submits, and what to give back when it is settled. */
interface Attempt {
  payload: OpPayload;
  /** Checks that go into the txn (the quota blocks the slots were drawn in). */
  guards?: TxnOp[];
  release?: () => void;
}

/**
 * Submits a registration. On a shared store, a token gives the operation an id derived from it, so the same request sent to two servers at once creates one operation record:
 * the loser finds it and answers as a replay; the instance is guarded by its revision (0 = new) and
 * a new one draws quota slots in blocks this server holds and checks them in the same txn; a lost
 * race tries again from the store's state.
 */
export function submitRegistration(reg: Registry, svc: ServiceRecord, instance: InstanceRecord, token: string | undefined, print: string | undefined): Promise<Out> {
  const targets: Targets = { INSTANCE: instance.id, SERVICE: svc.id };
  const prior = token === undefined ? undefined : reg.operations.requestOp('REGISTER_INSTANCE', token);
  if (prior && !sameInstance(prior, targets)) return Promise.reject(reusedToken(prior));
  if (!reg.sharedStore) {
    // One server on its store: no other server's write can race this one, so there is nothing to
    // retry, and the submit's promise is returned as it is (no async layer per registration).
    try {
      localAttempt(reg, svc, instance);
    } catch (err) {
      return Promise.reject(err);
    }
    return reg.operations.submit('REGISTER_INSTANCE', targets, { kind: 'registerInstance', instance }, token, print);
  }
  return submitShared(reg, svc, instance, targets, token, print, prior);
}

async function submitShared(reg: Registry, svc: ServiceRecord, instance: InstanceRecord, targets: Targets, token: string | undefined, print: string | undefined, prior: OperationRecord | undefined): Promise<Out> {
  // The id derived from the token: the same request at two servers at once makes the same operation
  // record, and the store's create lets one win (no extra key). A random one when this server holds
  // an operation for the token already (other attributes: a new request). One server alone sees
  // every request in its own index first; there a derived id would only cost the store index the
  // locality of time-ordered ids (newOperationId).
  let opId = token !== undefined && !prior ? operationIdFor(`REGISTER_INSTANCE\n${token}`) : undefined;
  if (opId !== undefined && reg.operations.get(opId)) opId = newOperationId();
  /** Slot keys another server holds that this server has not seen yet. */
  const refused = new Set<string>();
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const next = await guardedAttempt(reg, svc, instance, attempt > 0, refused);
    try {
      return await reg.operations.submit('REGISTER_INSTANCE', targets, next.payload, token, print, [], opId, next.guards);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const key = String((err as PharosError).fields['key']);
      if (opId !== undefined && key === keys.operation(opId)) {
        const replayed = await replayFromStore(reg, opId, targets, print);
        if (replayed) return replayed;
        opId = newOperationId(); // the token reused for new attributes: a new request
      } else if (key.startsWith(keys.instanceQuotaPrefix) && !reg.slots.lost(key)) {
        refused.add(key); // a slot key another server's registration holds
      }
    } finally {
      next.release?.();
    }
  }
  throw registryConflict(keys.instance(svc.id, instance.id));
}

/**
 * Submits a deregistration. On a shared store the instance's delete is guarded by its revision and
 * releases its quota slots; if it changed meanwhile, the store's current record is used.
 */
export async function submitDeregistration(reg: Registry, svc: ServiceRecord, instanceId: string): Promise<Out> {
  const targets: Targets = { INSTANCE: instanceId, SERVICE: svc.id };
  const payload: OpPayload = { kind: 'deregisterInstance', serviceId: svc.id, instanceId };
  if (!reg.sharedStore) return reg.operations.submit('DEREGISTER_INSTANCE', targets, payload);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const cur = await currentInstance(reg, svc.id, instanceId, attempt > 0);
    // Gone meanwhile (another server deregistered it): an unguarded delete of nothing.
    const guarded: OpPayload = cur ? { ...payload, prevRevision: cur.rev, ...(cur.rec.slots ? { slots: cur.rec.slots } : {}) } : payload;
    try {
      return await reg.operations.submit('DEREGISTER_INSTANCE', targets, guarded);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
  throw registryConflict(keys.instance(svc.id, instanceId));
}

/** One server on its store: its counts (snapshot + registrations in flight) are exact; throws when over a quota. */
function localAttempt(reg: Registry, svc: ServiceRecord, instance: InstanceRecord): void {
  if (!reg.snapshot.instance(svc.id, instance.id)) checkCounts(reg, svc);
}

/**
 * A shared store: a re-registration keeps the instance's slots and is guarded by its revision; a
 * new instance must not exist yet and takes a slot in its service's and its namespace's quota.
 */
async function guardedAttempt(reg: Registry, svc: ServiceRecord, instance: InstanceRecord, fromStore: boolean, refused: ReadonlySet<string>): Promise<Attempt> {
  const cur = await currentInstance(reg, svc.id, instance.id, fromStore);
  if (cur) {
    const kept: InstanceRecord = cur.rec.slots ? { ...instance, slots: cur.rec.slots } : instance;
    return { payload: { kind: 'registerInstance', instance: kept, prevRevision: cur.rev } };
  }
  checkCounts(reg, svc);
  const limits = { service: reg.quotas.instancesPerService, namespace: reg.quotas.instancesPerNamespace };
  const drawn = await reg.slots.draw(svc.id, svc.namespaceId, limits, refused);
  if ('full' in drawn) throw quotaExceeded(reg, drawn.full);
  return { payload: { kind: 'registerInstance', instance: { ...instance, slots: drawn.slots }, prevRevision: 0 }, guards: drawn.guards, release: drawn.release };
}

/** The instance as the snapshot has it, or (after a lost race) as the store has it. */
async function currentInstance(reg: Registry, serviceId: string, instanceId: string, fromStore: boolean): Promise<{ rec: InstanceRecord; rev: number } | undefined> {
  if (fromStore) {
    const kv = await reg.kv.get(keys.instance(serviceId, instanceId));
    return kv && { rec: JSON.parse(kv.value) as InstanceRecord, rev: kv.modRevision };
  }
  const rec = reg.snapshot.instance(serviceId, instanceId);
  const rev = rec && reg.snapshot.instanceRevision(rec);
  return rec && rev !== undefined ? { rec, rev } : undefined;
}

/** Quotas count registered instances plus registrations in flight (the fast refusal; slots are the guarantee). */
function checkCounts(reg: Registry, svc: ServiceRecord): void {
  if (reg.snapshot.instances(svc.id).size + reg.operations.openRegistrations(svc.id) >= reg.quotas.instancesPerService) throw quotaExceeded(reg, 'service');
  let inNamespace = 0;
  for (const s of reg.snapshot.servicesOf(svc.namespaceId)) {
    inNamespace += reg.snapshot.instances(s.id).size + reg.operations.openRegistrations(s.id);
  }
  if (inNamespace >= reg.quotas.instancesPerNamespace) throw quotaExceeded(reg, 'namespace');
}

function quotaExceeded(reg: Registry, scope: 'service' | 'namespace'): Error {
  const limit = scope === 'service' ? reg.quotas.instancesPerService : reg.quotas.instancesPerNamespace;
  return resourceLimitExceeded(`A ${scope} can have at most ${limit} instances`);
}

const sameInstance = (op: OperationRecord, targets: Targets): boolean => op.targets.SERVICE === targets.SERVICE && op.targets.INSTANCE === targets.INSTANCE;

const reusedToken = (op: OperationRecord): Error =>
  duplicateRequest(op.id, `CreatorRequestId was already used to register instance ${op.targets.INSTANCE ?? ''} of service ${op.targets.SERVICE ?? ''}`);

/**
 * Another server created the operation for this token first. The same request gets its result
 * (DuplicateRequest while it is open); the token with other attributes for the same instance is a
 * new request (undefined); for another instance it is DuplicateRequest.
 */
async function replayFromStore(reg: Registry, opId: string, targets: Targets, print: string | undefined): Promise<Out | undefined> {
  const op = await reg.operations.lookup(opId);
  if (!op) return undefined; // swept meanwhile
  if (!sameInstance(op, targets)) throw reusedToken(op);
  if (op.fingerprint !== print) return undefined;
  if (op.status === 'SUBMITTED' || op.status === 'PENDING') throw duplicateRequest(op.id, 'The same request is still in progress');
  // Read-your-writes as for the winner: this server's snapshot shows the instance before we answer.
  const inst = await reg.kv.get(keys.instance(targets.SERVICE ?? '', targets.INSTANCE ?? ''));
  if (inst) await reg.snapshot.waitForRevision(inst.modRevision);
  return { OperationId: op.id };
}
