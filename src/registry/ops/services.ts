import { newServiceId, parseArn } from '../../lib/index.ts';
import { isConflict, retryOnConflict } from '../../store/index.ts';
import type { OpPayload } from '../engine.ts';
import {
  duplicateRequest,
  invalidInput,
  namespaceNotFound,
  registryConflict,
  resourceInUse,
  serviceAlreadyExists,
  serviceAttributesLimitExceeded,
  serviceNotFound,
  tooManyTags,
} from '../errors.ts';
import { keys, serviceClaim, type ServiceClaim, type ServiceRecord, type ServiceType } from '../model.ts';
import { serviceOut, serviceSummaryOut } from '../output.ts';
import { byKey, page } from '../paging.ts';
import type { Registry } from '../registry.ts';
import { readDnsConfig, readDnsRecords, readHealthCheckConfig, readTags } from '../rules.ts';
import { P4, checkStr, type Input } from '../validate.ts';
import { oneValue, ownerFilter, readFilters, readPaging, type Out } from './common.ts';

/** The service operations: create, get, list, update (asynchronous), delete, and the service attributes. */

const SERVICE_FILTER_NAMES = ['NAMESPACE_ID', 'RESOURCE_OWNER'] as const;

export async function CreateService(reg: Registry, r: Input): Promise<Out> {
  const name = r.str('Name', { required: true, pattern: P4, patternHelp: 'DNS labels of letters, digits, - and _ (at most 127 characters)' });
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
  let namespaceId = rawNamespaceId === undefined ? undefined : reg.resolveId('NamespaceId', rawNamespaceId, 'namespace');
  if (dns?.namespaceId !== undefined) {
    const fromDns = reg.resolveId('DnsConfig.NamespaceId', dns.namespaceId, 'namespace');
    if (namespaceId !== undefined && namespaceId !== fromDns) throw invalidInput('DnsConfig.NamespaceId: differs from NamespaceId');
    namespaceId = fromDns;
  }
  if (namespaceId === undefined) throw invalidInput('NamespaceId: is required (or the deprecated DnsConfig.NamespaceId)');
  const ns = reg.snapshot.namespace(namespaceId);
  if (!ns) throw namespaceNotFound(rawNamespaceId ?? namespaceId);
  if (reg.operations.openOp(`ns:${ns.id}`)?.type === 'DELETE_NAMESPACE') throw resourceInUse(`Namespace ${ns.id} is being deleted`);

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

  // Names are unique per namespace: case-insensitively in DNS namespaces, exactly in HTTP ones.
  const same = ns.type === 'HTTP' ? (a: string) => a === name : (a: string) => a.toLowerCase() === name.toLowerCase();
  for (const other of reg.snapshot.servicesOf(ns.id)) {
    if (!same(other.name)) continue;
    if (creatorRequestId !== undefined && other.creatorRequestId === creatorRequestId && other.name === name) {
      return { Service: serviceOut(other, reg.out) }; // the same request again: its original result
    }
    throw serviceAlreadyExists(other.id, other.arn, other.creatorRequestId);
  }
  const reservation = `${ns.id}|${ns.type === 'HTTP' ? name : name.toLowerCase()}`;
  const inFlight = reg.reservedServiceNames.get(reservation);
  if (inFlight) throw serviceAlreadyExists(inFlight.id, inFlight.arn, inFlight.creatorRequestId);

  const id = newServiceId();
  const arn = reg.arn('service', id);
  if (tags.length > reg.quotas.tagsPerResource) throw tooManyTags(arn, reg.quotas.tagsPerResource);
  const svc: ServiceRecord = { id, arn, name, namespaceId: ns.id, type, createDate: reg.clock.now(), tags, attributes: {} };
  if (description !== undefined) svc.description = description;
  if (dns) svc.dnsConfig = dns.config;
  if (hc) svc.healthCheckConfig = hc;
  if (customIn) svc.healthCheckCustomConfig = { failureThreshold: 1 }; // deprecated, "always 1" (docs/compatibility.md#services)
  if (creatorRequestId !== undefined) svc.creatorRequestId = creatorRequestId;

  reg.reservedServiceNames.set(reservation, svc);
  const claim = serviceClaim(ns, name);
  try {
    const claimed: ServiceClaim = { serviceId: id };
    // The claim first: the txn's revision is then the service's, which the snapshot sees.
    const rev = await reg.kv.txn([
      { type: 'put', key: claim, value: JSON.stringify(claimed), prevRevision: 0 },
      { type: 'put', key: keys.service(id), value: JSON.stringify(svc), prevRevision: 0 },
    ]);
    await reg.snapshot.waitForRevision(rev);
  } catch (err) {
    if (!isConflict(err)) throw err;
    // Another server took the name a moment ago: the same request again gets its result.
    const winner = await claimedService(reg, claim);
    if (!winner) throw err;
    if (creatorRequestId !== undefined && winner.rec.creatorRequestId === creatorRequestId && winner.rec.name === name) {
      await reg.snapshot.waitForRevision(winner.modRevision);
      return { Service: serviceOut(winner.rec, reg.out) };
    }
    throw serviceAlreadyExists(winner.rec.id, winner.rec.arn, winner.rec.creatorRequestId);
  } finally {
    reg.reservedServiceNames.delete(reservation);
  }
  return { Service: serviceOut(svc, reg.out) };
}

/** The service holding a name claim, read from the store (it may not be in this server's snapshot yet). */
async function claimedService(reg: Registry, claim: string): Promise<{ rec: ServiceRecord; modRevision: number } | undefined> {
  const held = await reg.kv.get(claim);
  if (!held) return undefined;
  const found = await reg.kv.get(keys.service((JSON.parse(held.value) as ServiceClaim).serviceId));
  return found ? { rec: JSON.parse(found.value) as ServiceRecord, modRevision: found.modRevision } : undefined;
}

export async function GetService(reg: Registry, r: Input): Promise<Out> {
  const svc = reg.requireService('Id', r.str('Id', { required: true, max: 255 }));
  return { Service: serviceOut(svc, reg.out) };
}

export async function ListServices(reg: Registry, r: Input): Promise<Out> {
  const { token, max } = readPaging(r);
  const filters = readFilters(r, SERVICE_FILTER_NAMES, (name, condition, values, path) => {
    if (name === 'RESOURCE_OWNER') return ownerFilter(condition, values, path);
    if (condition !== 'EQ') throw invalidInput(`${path}.Condition: NAMESPACE_ID supports only EQ`);
    oneValue(values, path);
    const nsId = values[0]!.startsWith('arn:') ? (parseArn(values[0]!)?.resource.replace(/^namespace\//, '') ?? values[0]!) : values[0]!;
    return (svc: ServiceRecord) => svc.namespaceId === nsId;
  });
  const all = [...reg.snapshot.services()].filter((s) => filters.every((f) => f(s))).sort(byKey((s: ServiceRecord) => s.id));
  const p = page('svc', all, (s) => s.id, token, max);
  const out: Out = { Services: p.items.map((s) => serviceSummaryOut(s, reg.out)) };
  if (p.nextToken) out['NextToken'] = p.nextToken;
  return out;
}

export async function UpdateService(reg: Registry, r: Input): Promise<Out> {
  const rawId = r.str('Id', { required: true, max: 255 });
  const change = r.obj('Service', true);
  const description = change.str('Description', { max: 1024 });
  const dnsIn = change.obj('DnsConfig');
  const dnsRecords = dnsIn ? readDnsRecords(dnsIn) : undefined;
  const hcIn = change.obj('HealthCheckConfig');
  const hc = hcIn ? readHealthCheckConfig(hcIn) : undefined;
  const svc = reg.requireService('Id', rawId);
  const ns = reg.snapshot.namespace(svc.namespaceId);
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
  const open = reg.operations.openOp(`svc:${svc.id}`);
  if (open) throw duplicateRequest(open.id, `Service ${svc.id} is already being updated`);
  // A missing HealthCheckConfig removes it (AWS); a missing DnsConfig changes no DNS (docs/compatibility.md#services).
  const payload: OpPayload = { kind: 'updateService', serviceId: svc.id, healthCheckConfig: hc ?? null };
  if (description !== undefined) payload.description = description;
  if (dnsRecords) payload.dnsRecords = dnsRecords;
  return reg.operations.submit('UPDATE_SERVICE', { SERVICE: svc.id }, payload);
}

export async function DeleteService(reg: Registry, r: Input): Promise<Out> {
  const svc = reg.requireService('Id', r.str('Id', { required: true, max: 255 }));
  const count = reg.snapshot.instances(svc.id).size;
  if (count > 0) throw resourceInUse(`Service ${svc.id} still has ${count} registered instance(s)`);
  if (reg.operations.openRegistrations(svc.id) > 0) throw resourceInUse(`Service ${svc.id} has registrations in progress`);
  const open = reg.operations.openOp(`svc:${svc.id}`);
  if (open) throw resourceInUse(`Service ${svc.id} is being updated: ${open.id}`);
  return retryOnConflict(async () => {
    const cur = await reg.kv.get(keys.service(svc.id));
    if (!cur) throw serviceNotFound(svc.id);
    const ns = reg.snapshot.namespace(svc.namespaceId);
    const rev = await reg.kv.txn([
      // Services made before names were claimed hold none: deleting a missing key is harmless.
      // First, as in CreateService: the txn's revision must be one the snapshot sees.
      ...(ns ? [{ type: 'delete' as const, key: serviceClaim(ns, svc.name) }] : []),
      { type: 'delete', key: cur.key, prevRevision: cur.modRevision },
      { type: 'delete', key: keys.instancesRevision(svc.id) },
    ]);
    await reg.snapshot.waitForRevision(rev);
    return {};
  }, () => registryConflict(`service ${svc.id}`));
}

export async function GetServiceAttributes(reg: Registry, r: Input): Promise<Out> {
  const svc = reg.requireService('ServiceId', r.str('ServiceId', { required: true, max: 255 }));
  return { ServiceAttributes: { ServiceArn: svc.arn, ResourceOwner: reg.accountId, Attributes: { ...svc.attributes } } };
}

export async function UpdateServiceAttributes(reg: Registry, r: Input): Promise<Out> {
  const rawId = r.str('ServiceId', { required: true, max: 255 });
  // No max here: more than 30 is ServiceAttributesLimitExceededException, not InvalidInput.
  const attrs = r.map('Attributes', { required: true, min: 1, key: { max: 255 }, value: { max: 1024 } })!;
  const svc = reg.requireService('ServiceId', rawId);
  const limit = reg.quotas.serviceAttributes;
  if (Object.keys(attrs).length > limit) throw serviceAttributesLimitExceeded(limit);
  await reg.mutate<ServiceRecord>(keys.service(svc.id), () => serviceNotFound(rawId), (rec) => {
    const merged = { ...rec.attributes, ...attrs };
    if (Object.keys(merged).length > limit) throw serviceAttributesLimitExceeded(limit);
    return { ...rec, attributes: merged };
  });
  return {};
}

export async function DeleteServiceAttributes(reg: Registry, r: Input): Promise<Out> {
  const rawId = r.str('ServiceId', { required: true, max: 255 });
  const names = r.list('Attributes', { required: true, min: 1, max: 30 }, (v, path) => checkStr(path, v, { max: 255 }))!;
  const svc = reg.requireService('ServiceId', rawId);
  await reg.mutate<ServiceRecord>(keys.service(svc.id), () => serviceNotFound(rawId), (rec) => {
    const attributes = { ...rec.attributes };
    for (const k of names) delete attributes[k]; // unknown keys are ignored (docs/compatibility.md#services)
    return { ...rec, attributes };
  });
  return {};
}
