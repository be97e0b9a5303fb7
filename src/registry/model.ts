/**
 * The records the registry keeps in the store, and their keys. These are Pharos's own shapes
 * (camelCase); `api/` output shapes are built from them by the registry's operations.
 * Every record is JSON text under one key:
 *
 *   /ns/<namespaceId>                 NamespaceRecord
 *   /svc/<serviceId>                  ServiceRecord
 *   /inst/<serviceId>/<instanceId>    InstanceRecord
 *   /health/<serviceId>/<instanceId>  HealthRecord   (kept apart so a health change never bumps InstancesRevision)
 *   /irev/<serviceId>                 InstancesRevisionMarker (written with each deregistration, so the
 *                                     revision survives restarts even when the last change was a delete)
 *   /op/<operationId>                 OperationRecord
 *   /rrset/<namespaceId>/<name>/<type>/<setIdentifier>
 *                                     ZoneRecordSetRecord: a record set a user added to the
 *                                     namespace's hosted zone (Route 53, src/route53)
 *   /r53change/<changeId>             ZoneChangeRecord: one applied Route 53 change batch
 *   /claims/...                       names taken (namespaceClaims, serviceClaim)
 *   /quota/...                        quota slots, when servers share the store (quota.ts)
 */

export type NamespaceType = 'HTTP' | 'DNS_PRIVATE' | 'DNS_PUBLIC';
export type ServiceType = 'HTTP' | 'DNS_HTTP' | 'DNS';
export type RoutingPolicy = 'MULTIVALUE' | 'WEIGHTED';
export type RecordType = 'A' | 'AAAA' | 'SRV' | 'CNAME';
export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
export type HealthCheckType = 'HTTP' | 'HTTPS' | 'TCP';
export type OperationType =
  | 'CREATE_NAMESPACE'
  | 'DELETE_NAMESPACE'
  | 'UPDATE_NAMESPACE'
  | 'UPDATE_SERVICE'
  | 'REGISTER_INSTANCE'
  | 'DEREGISTER_INSTANCE';
export type OperationStatus = 'SUBMITTED' | 'PENDING' | 'SUCCESS' | 'FAIL';

export interface Tag {
  Key: string;
  Value: string;
}

export interface NamespaceRecord {
  id: string;
  arn: string;
  name: string;
  type: NamespaceType;
  description?: string;
  /** The name DiscoverInstances looks namespaces up by (equals `name` unless reused). */
  httpName: string;
  /** DNS namespaces only. */
  hostedZoneId?: string;
  /** DNS namespaces: SOA TTL, also the negative-caching TTL. Undefined when none was given. */
  soaTtl?: number;
  vpc?: string;
  /** Epoch milliseconds. */
  createDate: number;
  creatorRequestId?: string;
  tags: Tag[];
  /** Its slot under the namespaces-per-region quota when servers share the store (`quota.ts`). */
  quotaSlot?: number;
}

export interface DnsRecordConfig {
  type: RecordType;
  ttl: number;
}

export interface DnsConfigRecord {
  routingPolicy: RoutingPolicy;
  dnsRecords: DnsRecordConfig[];
}

export interface HealthCheckConfigRecord {
  type: HealthCheckType;
  resourcePath?: string;
  failureThreshold: number;
}

export interface ServiceRecord {
  id: string;
  arn: string;
  name: string;
  namespaceId: string;
  description?: string;
  type: ServiceType;
  dnsConfig?: DnsConfigRecord;
  healthCheckConfig?: HealthCheckConfigRecord;
  /** Custom health: `failureThreshold` is deprecated and always 1. */
  healthCheckCustomConfig?: { failureThreshold: number };
  createDate: number;
  creatorRequestId?: string;
  tags: Tag[];
  /** Service attributes (Get/Update/DeleteServiceAttributes). */
  attributes: Record<string, string>;
}

export interface InstanceRecord {
  id: string;
  serviceId: string;
  creatorRequestId?: string;
  attributes: Record<string, string>;
  /** Epoch milliseconds of the (last) registration. */
  registeredAt: number;
  /** The quota slots it holds when servers share the store (`quota.ts`); kept across re-registrations. */
  slots?: InstanceSlots;
}

/** An instance's slot numbers under its service's and its namespace's instance quotas. */
export interface InstanceSlots {
  service: number;
  namespace: number;
  /** The namespace the second slot is in (the service's, kept so a release needs no lookup). */
  namespaceId: string;
  /**
   * The slots are also held by slot keys (`keys.*InstanceSlot`): taken by a registration whose
   * operation is applied after its submit, deleted with the instance. Absent: the instance record
   * alone holds them.
   */
  keyed?: true;
}

export interface HealthRecord {
  /** The status in effect. */
  status: HealthStatus;
  /** Why (e.g. `HTTP 503`, `connect ECONNREFUSED`, `custom`). */
  reason?: string;
  /** Epoch milliseconds of the last change of `status`. */
  updatedAt: number;
  /** Custom health with a delay: a change waiting to take effect (docs/compatibility.md#custom-health). */
  pending?: { status: 'HEALTHY' | 'UNHEALTHY'; effectiveAt: number };
}

export interface InstancesRevisionMarker {
  serviceId: string;
}

export interface OperationRecord {
  id: string;
  type: OperationType;
  status: OperationStatus;
  createDate: number;
  updateDate: number;
  targets: Partial<Record<'NAMESPACE' | 'SERVICE' | 'INSTANCE', string>>;
  errorCode?: string;
  errorMessage?: string;
  /** Idempotency token of the request that created it (Creator/UpdaterRequestId). */
  requestId?: string;
  /** Hash of the request's parameters, so a retry with the same token and parameters is recognised (docs/compatibility.md#idempotency). */
  fingerprint?: string;
  /** What the operation will apply, so an operation acknowledged before a crash is finished after restart. */
  payload?: unknown;
}

/** Record types users may put in a DNS namespace's hosted zone (Route 53 ChangeResourceRecordSets). */
export const ZONE_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'SRV', 'PTR', 'CAA'] as const;
export type ZoneRecordType = (typeof ZONE_RECORD_TYPES)[number];

/**
 * A record set a user added to a DNS namespace's hosted zone, served by DNS next to Cloud Map's
 * records. Values are Route 53's text forms, already checked by `parseRdata` (rdata.ts).
 */
export interface ZoneRecordSetRecord {
  namespaceId: string;
  /** Absolute, lowercase, without the final dot (`www.demo.local`; the apex is the namespace name). */
  name: string;
  type: ZoneRecordType;
  /** Weighted and multivalue sets: which one of the sets at (name, type) this is. */
  setIdentifier?: string;
  weight?: number;
  multiValueAnswer?: boolean;
  ttl: number;
  values: string[];
}

/** A change batch that ChangeResourceRecordSets applied (GetChange). */
export interface ZoneChangeRecord {
  id: string;
  /** Epoch milliseconds. */
  submittedAt: number;
  comment?: string;
  /** The batch left every record set as it was (nothing for DNS to pick up). */
  noop?: boolean;
}

export const keys = {
  namespacePrefix: '/ns/',
  servicePrefix: '/svc/',
  instancePrefix: '/inst/',
  healthPrefix: '/health/',
  instancesRevisionPrefix: '/irev/',
  operationPrefix: '/op/',
  recordSetPrefix: '/rrset/',
  zoneChangePrefix: '/r53change/',
  namespace: (id: string) => `/ns/${id}`,
  service: (id: string) => `/svc/${id}`,
  serviceInstances: (serviceId: string) => `/inst/${serviceId}/`,
  instance: (serviceId: string, instanceId: string) => `/inst/${serviceId}/${instanceId}`,
  serviceHealth: (serviceId: string) => `/health/${serviceId}/`,
  health: (serviceId: string, instanceId: string) => `/health/${serviceId}/${instanceId}`,
  instancesRevision: (serviceId: string) => `/irev/${serviceId}`,
  operation: (id: string) => `/op/${id}`,
  namespaceRecordSets: (namespaceId: string) => `/rrset/${namespaceId}/`,
  /** Names are `[a-z0-9_-]` labels; the set identifier is free text, so it is percent-encoded. */
  recordSet: (r: Pick<ZoneRecordSetRecord, 'namespaceId' | 'name' | 'type' | 'setIdentifier'>) =>
    `/rrset/${r.namespaceId}/${r.name}/${r.type}/${encodeURIComponent(r.setIdentifier ?? '')}`,
  zoneChange: (id: string) => `/r53change/${id}`,
  /** Names taken by a namespace, created with its operation: servers racing for one name, one wins. */
  claimPrefix: '/claims/',
  /** The namespace quota's slots (`quota.ts`): one key per namespace. */
  quotaPrefix: '/quota/',
  namespaceSlot: (slot: number) => `/quota/ns/${slot}`,
  /**
   * The instance quotas' blocks and slot keys (`quota.ts`), per service (`svc`) and per namespace
   * (`ns`). Under the instance prefix: the snapshot's instance watch carries them, so a block's
   * acquisition resolves only once this server's snapshot holds every instance committed before it.
   */
  instanceQuotaPrefix: '/inst/.quota/',
  slotBlock: (scope: SlotScope, block: number) => `/inst/.quota/${scope.kind}/${scope.id}/block/${block}`,
  serviceInstanceSlot: (serviceId: string, slot: number) => `/inst/.quota/svc/${serviceId}/slot/${slot}`,
  namespaceInstanceSlot: (namespaceId: string, slot: number) => `/inst/.quota/ns/${namespaceId}/slot/${slot}`,
} as const;

/** An instance quota: a service's (`svc`) or a namespace's (`ns`). */
export interface SlotScope {
  kind: 'svc' | 'ns';
  id: string;
}

/** Reads `keys.slotBlock` / `keys.*InstanceSlot` keys back; undefined for any other key. */
export function parseQuotaKey(key: string): { scope: string; what: 'block' | 'slot'; n: number } | undefined {
  const m = /^\/inst\/\.quota\/(svc|ns)\/([^/]+)\/(block|slot)\/(\d+)$/.exec(key);
  return m ? { scope: `${m[1]}/${m[2]}`, what: m[3] as 'block' | 'slot', n: Number(m[4]) } : undefined;
}

/** The name keys a namespace holds (see `keys.claimPrefix`): its HttpName, and its DNS name per type (and VPC). */
export function namespaceClaims(ns: Pick<NamespaceRecord, 'type' | 'name' | 'httpName' | 'vpc' | 'quotaSlot'>): string[] {
  const dnsName = ns.name.toLowerCase().replace(/\.$/, '');
  const claims = [`/claims/ns-httpname/${ns.httpName}`];
  if (ns.type === 'DNS_PRIVATE') claims.push(`/claims/ns-private/${ns.vpc ?? ''}/${dnsName}`);
  if (ns.type === 'DNS_PUBLIC') claims.push(`/claims/ns-public/${dnsName}`);
  // Taken and released with the names: the namespace quota across servers.
  if (ns.quotaSlot !== undefined) claims.push(keys.namespaceSlot(ns.quotaSlot));
  return claims;
}

/**
 * The name key a service holds in its namespace, created with the service and deleted with it, so
 * two servers creating one name at once cannot both win. Case-insensitive in DNS namespaces.
 */
export function serviceClaim(namespace: Pick<NamespaceRecord, 'id' | 'type'>, name: string): string {
  return `/claims/svc/${namespace.id}/${namespace.type === 'HTTP' ? name : name.toLowerCase()}`;
}

/** What a service name claim holds: the service that has the name. */
export interface ServiceClaim {
  serviceId: string;
}

/** What a name claim holds: enough to answer NamespaceAlreadyExists, or replay the same request. */
export interface NamespaceClaim {
  namespaceId: string;
  operationId: string;
  creatorRequestId?: string;
  fingerprint?: string;
}

/** Splits `/inst/<serviceId>/<instanceId>` (or `/health/...`); instance ids may contain `/`. */
export function splitInstanceKey(key: string): { serviceId: string; instanceId: string } | undefined {
  const m = /^\/(?:inst|health)\/(srv-[a-z0-9]+)\/(.+)$/.exec(key);
  return m ? { serviceId: m[1]!, instanceId: m[2]! } : undefined;
}

/** Whether DNS answers and HEALTHY filters should include an instance with this status under this service. */
export function hasHealthConfig(service: ServiceRecord): boolean {
  return service.healthCheckConfig !== undefined || service.healthCheckCustomConfig !== undefined;
}
