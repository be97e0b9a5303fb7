import type { HealthCheckConfigRecord, InstanceRecord, NamespaceRecord, OperationRecord, ServiceRecord, Tag } from './model.ts';

/**
 * Stored records → the AWS output shapes (docs/compatibility.md#wire-protocol). Members without a value are left
 * out, never `null`; timestamps are epoch seconds with a millisecond fraction (2.2).
 */

type Wire = Record<string, unknown>;

/** Epoch milliseconds → the wire's epoch seconds (e.g. 1587081768.334). */
const epochSeconds = (ms: number): number => ms / 1000;

/** What the outputs need besides the record: counts live in the snapshot. */
export interface OutputContext {
  accountId: string;
  serviceCount(namespaceId: string): number;
  instanceCount(serviceId: string): number;
}

function namespaceProperties(ns: NamespaceRecord, summary: boolean): Wire {
  const http = { HttpName: ns.httpName };
  if (ns.type === 'HTTP') {
    // AWS examples: Get shows `DnsProperties: {}`, List shows `DnsProperties: {SOA: {}}` (docs/compatibility.md#namespaces).
    return { DnsProperties: summary ? { SOA: {} } : {}, HttpProperties: http };
  }
  const dns: Wire = {};
  if (ns.hostedZoneId !== undefined) dns['HostedZoneId'] = ns.hostedZoneId;
  dns['SOA'] = ns.soaTtl === undefined ? {} : { TTL: ns.soaTtl };
  return { DnsProperties: dns, HttpProperties: http };
}

export function namespaceOut(ns: NamespaceRecord, ctx: OutputContext): Wire {
  const out: Wire = { Id: ns.id, Arn: ns.arn, ResourceOwner: ctx.accountId, Name: ns.name, Type: ns.type };
  if (ns.description !== undefined) out['Description'] = ns.description;
  out['ServiceCount'] = ctx.serviceCount(ns.id);
  out['Properties'] = namespaceProperties(ns, false);
  out['CreateDate'] = epochSeconds(ns.createDate);
  if (ns.creatorRequestId !== undefined) out['CreatorRequestId'] = ns.creatorRequestId;
  return out;
}

export function namespaceSummaryOut(ns: NamespaceRecord, ctx: OutputContext): Wire {
  const out: Wire = { Id: ns.id, Arn: ns.arn, ResourceOwner: ctx.accountId, Name: ns.name, Type: ns.type };
  if (ns.description !== undefined) out['Description'] = ns.description;
  out['ServiceCount'] = ctx.serviceCount(ns.id);
  out['Properties'] = namespaceProperties(ns, true);
  out['CreateDate'] = epochSeconds(ns.createDate);
  return out;
}

function healthCheckConfigOut(h: HealthCheckConfigRecord): Wire {
  const out: Wire = { Type: h.type };
  if (h.resourcePath !== undefined) out['ResourcePath'] = h.resourcePath;
  out['FailureThreshold'] = h.failureThreshold;
  return out;
}

function dnsConfigOut(svc: ServiceRecord): Wire {
  // An HTTP service shows `"DnsConfig": {}` (docs/compatibility.md#services, AWS example).
  if (!svc.dnsConfig) return {};
  return {
    NamespaceId: svc.namespaceId,
    RoutingPolicy: svc.dnsConfig.routingPolicy,
    DnsRecords: svc.dnsConfig.dnsRecords.map((r) => ({ Type: r.type, TTL: r.ttl })),
  };
}

function serviceCommon(svc: ServiceRecord, ctx: OutputContext, out: Wire): void {
  if (svc.description !== undefined) out['Description'] = svc.description;
  out['InstanceCount'] = ctx.instanceCount(svc.id);
  out['DnsConfig'] = dnsConfigOut(svc);
  out['Type'] = svc.type;
  if (svc.healthCheckConfig) out['HealthCheckConfig'] = healthCheckConfigOut(svc.healthCheckConfig);
  if (svc.healthCheckCustomConfig) out['HealthCheckCustomConfig'] = { FailureThreshold: svc.healthCheckCustomConfig.failureThreshold };
  out['CreateDate'] = epochSeconds(svc.createDate);
}

export function serviceOut(svc: ServiceRecord, ctx: OutputContext): Wire {
  const out: Wire = { Id: svc.id, Arn: svc.arn, ResourceOwner: ctx.accountId, Name: svc.name, NamespaceId: svc.namespaceId };
  serviceCommon(svc, ctx, out);
  if (svc.creatorRequestId !== undefined) out['CreatorRequestId'] = svc.creatorRequestId;
  out['CreatedByAccount'] = ctx.accountId;
  return out;
}

export function serviceSummaryOut(svc: ServiceRecord, ctx: OutputContext): Wire {
  const out: Wire = { Id: svc.id, Arn: svc.arn, ResourceOwner: ctx.accountId, Name: svc.name };
  serviceCommon(svc, ctx, out);
  out['CreatedByAccount'] = ctx.accountId;
  return out;
}

export function instanceOut(inst: InstanceRecord, accountId: string): Wire {
  const out: Wire = { Id: inst.id };
  if (inst.creatorRequestId !== undefined) out['CreatorRequestId'] = inst.creatorRequestId;
  out['Attributes'] = { ...inst.attributes };
  out['CreatedByAccount'] = accountId;
  return out;
}

export function instanceSummaryOut(inst: InstanceRecord, accountId: string): Wire {
  return { Id: inst.id, Attributes: { ...inst.attributes }, CreatedByAccount: accountId };
}

export function operationOut(op: OperationRecord, accountId: string): Wire {
  const out: Wire = { Id: op.id, OwnerAccount: accountId, Type: op.type, Status: op.status };
  if (op.errorMessage !== undefined) out['ErrorMessage'] = op.errorMessage;
  if (op.errorCode !== undefined) out['ErrorCode'] = op.errorCode;
  out['CreateDate'] = epochSeconds(op.createDate);
  out['UpdateDate'] = epochSeconds(op.updateDate);
  out['Targets'] = { ...op.targets };
  return out;
}

export const tagsOut = (tags: Tag[]): Wire[] => tags.map((t) => ({ Key: t.Key, Value: t.Value }));
