import { customHealthNotFound, duplicateRequest, instanceNotFound, namespaceNotFound, resourceInUse, serviceNotFound } from '../errors.ts';
import type { HealthStatus, InstanceRecord, NamespaceRecord, ServiceRecord } from '../model.ts';
import { instanceOut, instanceSummaryOut } from '../output.ts';
import { byKey, page } from '../paging.ts';
import type { Registry } from '../registry.ts';
import { checkInstanceAttributes, readInstanceAttributes } from '../rules.ts';
import { P4, P5, P6, P7, P8, checkStr, type Input } from '../validate.ts';
import { fingerprint, ownedHere, readPaging, type Out } from './common.ts';
import { submitDeregistration, submitRegistration } from './register.ts';

/** The instance operations: register and deregister (asynchronous), get, list, health, and discovery. */

/** `DiscoverInstances` `MaxResults` when absent (docs/compatibility.md#pagination). */
const DEFAULT_DISCOVER_MAX = 100;
const MAX_DISCOVER_RESULTS = 1000;
const DISCOVER_HEALTH = ['HEALTHY', 'UNHEALTHY', 'ALL', 'HEALTHY_OR_ELSE_ALL'] as const;
const CUSTOM_HEALTH = ['HEALTHY', 'UNHEALTHY'] as const;
const DISCOVER_PARAMETER_RULE = {
  key: { max: 255, pattern: P6, patternHelp: 'printable ASCII without spaces' },
  value: { max: 1024, pattern: P7, patternHelp: 'printable ASCII (spaces and tabs only inside)' },
};

export async function RegisterInstance(reg: Registry, r: Input): Promise<Out> {
  const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
  const instanceId = r.str('InstanceId', { required: true, max: 64, pattern: P8, patternHelp: '[0-9a-zA-Z_/:.@-]+' });
  const creatorRequestId = r.str('CreatorRequestId', { max: 64 });
  const attributes = readInstanceAttributes(r);
  const svc = reg.requireService('ServiceId', rawServiceId);
  const ns = reg.snapshot.namespace(svc.namespaceId);
  checkInstanceAttributes(attributes, svc, ns);
  const print = creatorRequestId === undefined ? undefined : fingerprint([svc.id, instanceId, attributes]);
  if (print !== undefined) {
    const replayed = reg.operations.replay('REGISTER_INSTANCE', creatorRequestId, print);
    if (replayed) return replayed;
  }
  const open = reg.operations.openOp(`inst:${svc.id}/${instanceId}`);
  if (open) throw duplicateRequest(open.id, `An operation on instance ${instanceId} is in progress`);
  if (reg.operations.openOp(`ns:${svc.namespaceId}`)?.type === 'DELETE_NAMESPACE') throw resourceInUse(`Namespace ${svc.namespaceId} is being deleted`);
  const instance: InstanceRecord = { id: instanceId, serviceId: svc.id, attributes, registeredAt: reg.clock.now() };
  if (creatorRequestId !== undefined) instance.creatorRequestId = creatorRequestId;
  // Quotas and the token's replay across servers: ./register.ts. (`return await`: an async
  // function returning a promise unwrapped as a thenable costs a microtask job more per request.)
  return await submitRegistration(reg, svc, instance, creatorRequestId, print);
}

export async function DeregisterInstance(reg: Registry, r: Input): Promise<Out> {
  const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
  const instanceId = r.str('InstanceId', { required: true, max: 64 });
  const svc = reg.requireService('ServiceId', rawServiceId);
  const open = reg.operations.openOp(`inst:${svc.id}/${instanceId}`);
  if (open) throw duplicateRequest(open.id, `An operation on instance ${instanceId} is in progress`);
  if (!reg.snapshot.instance(svc.id, instanceId)) throw instanceNotFound(svc.id, instanceId);
  return submitDeregistration(reg, svc, instanceId);
}

export async function GetInstance(reg: Registry, r: Input): Promise<Out> {
  const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
  const instanceId = r.str('InstanceId', { required: true, max: 64 });
  const svc = reg.requireService('ServiceId', rawServiceId);
  const inst = reg.snapshot.instance(svc.id, instanceId);
  if (!inst) throw instanceNotFound(svc.id, instanceId);
  return { ResourceOwner: reg.accountId, Instance: instanceOut(inst, reg.accountId) };
}

export async function ListInstances(reg: Registry, r: Input): Promise<Out> {
  const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
  const { token, max } = readPaging(r);
  const svc = reg.requireService('ServiceId', rawServiceId);
  const all = [...reg.snapshot.instances(svc.id).values()].sort(byKey((i: InstanceRecord) => i.id));
  const p = page(`inst:${svc.id}`, all, (i) => i.id, token, max);
  const out: Out = { ResourceOwner: reg.accountId, Instances: p.items.map((i) => instanceSummaryOut(i, reg.accountId)) };
  if (p.nextToken) out['NextToken'] = p.nextToken;
  return out;
}

export async function GetInstancesHealthStatus(reg: Registry, r: Input): Promise<Out> {
  const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
  const listed = r.list('Instances', { min: 1 }, (v, path) => checkStr(path, v, { max: 64 }));
  const { token, max } = readPaging(r);
  const svc = reg.requireService('ServiceId', rawServiceId);
  let ids: string[];
  if (listed) {
    for (const id of listed) if (!reg.snapshot.instance(svc.id, id)) throw instanceNotFound(svc.id, id);
    ids = [...new Set(listed)].sort();
  } else {
    ids = [...reg.snapshot.instances(svc.id).keys()].sort();
  }
  const p = page(`health:${svc.id}`, ids, (id) => id, token, max);
  const status: Record<string, HealthStatus> = {};
  for (const id of p.items) status[id] = reg.snapshot.health(svc.id, id);
  const out: Out = { Status: status };
  if (p.nextToken) out['NextToken'] = p.nextToken;
  return out;
}

export async function UpdateInstanceCustomHealthStatus(reg: Registry, r: Input): Promise<Out> {
  const rawServiceId = r.str('ServiceId', { required: true, max: 255 });
  const instanceId = r.str('InstanceId', { required: true, max: 64 });
  const status = r.enumOf('Status', CUSTOM_HEALTH, true);
  const svc = reg.requireService('ServiceId', rawServiceId);
  if (!svc.healthCheckCustomConfig) throw customHealthNotFound(svc.id);
  if (!reg.snapshot.instance(svc.id, instanceId)) throw instanceNotFound(svc.id, instanceId);
  await reg.health.setCustom(svc.id, instanceId, status);
  return {};
}

// ---------------------------------------------------------------- discovery (hot path)

function discoverTarget(reg: Registry, r: Input): { ns: NamespaceRecord; svc: ServiceRecord } {
  const namespaceName = r.str('NamespaceName', { required: true, max: 1024, pattern: P5, patternHelp: 'printable ASCII' });
  const serviceName = r.str('ServiceName', { required: true, pattern: P4, patternHelp: 'DNS labels of letters, digits, - and _' });
  if (!ownedHere(reg, r)) throw namespaceNotFound(namespaceName);
  const ns = reg.snapshot.namespaceByHttpName(namespaceName);
  if (!ns) throw namespaceNotFound(namespaceName);
  const svc = reg.discovery.serviceByName(ns.id, serviceName);
  if (!svc) throw serviceNotFound(serviceName);
  return { ns, svc };
}

export async function DiscoverInstances(reg: Registry, r: Input): Promise<Out> {
  const max = r.int('MaxResults', { min: 1, max: MAX_DISCOVER_RESULTS }) ?? DEFAULT_DISCOVER_MAX;
  const query = r.map('QueryParameters', DISCOVER_PARAMETER_RULE);
  const optional = r.map('OptionalParameters', DISCOVER_PARAMETER_RULE);
  const healthFilter = r.enumOf('HealthStatus', DISCOVER_HEALTH);
  const { ns, svc } = discoverTarget(reg, r);
  return reg.discovery.discover(ns, svc, max, query, optional, healthFilter);
}

export async function DiscoverInstancesRevision(reg: Registry, r: Input): Promise<Out> {
  const { svc } = discoverTarget(reg, r);
  return { InstancesRevision: reg.snapshot.instancesRevision(svc.id) };
}
