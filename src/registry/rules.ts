import { TAG_CHARACTERS, TAG_PATTERN } from '../lib/index.ts';
import { invalidInput } from './errors.ts';
import type { DnsConfigRecord, DnsRecordConfig, HealthCheckConfigRecord, NamespaceRecord, RecordType, ServiceRecord, Tag } from './model.ts';
import { Input, P6, P7, isDnsName, isIpv4Address, isIpv6Address, isPort } from './validate.ts';

/** The model's limit on tags in one request; the per-resource limit (50) is a quota (docs/compatibility.md#tags). */
const MAX_TAGS_PER_REQUEST = 200;
/** Custom (non-reserved) attributes per instance — an AWS quota that is not adjustable (3.6). */
const MAX_CUSTOM_ATTRIBUTES = 30;
/** Combined length of all attribute keys and values, reserved ones included (3.6). */
const MAX_ATTRIBUTES_LENGTH = 5000;
/** Route 53's default when `FailureThreshold` is absent (3.5). */
const DEFAULT_FAILURE_THRESHOLD = 3;
/** Health check path when an HTTP/HTTPS check gives none (3.5). */
const DEFAULT_RESOURCE_PATH = '/';

const RECORD_TYPES = ['SRV', 'A', 'AAAA', 'CNAME'] as const;
const ROUTING_POLICIES = ['MULTIVALUE', 'WEIGHTED'] as const;
const HEALTH_CHECK_TYPES = ['HTTP', 'HTTPS', 'TCP'] as const;

const RESERVED_ATTRIBUTES = new Set([
  'AWS_INSTANCE_IPV4',
  'AWS_INSTANCE_IPV6',
  'AWS_INSTANCE_PORT',
  'AWS_INSTANCE_CNAME',
  'AWS_ALIAS_DNS_NAME',
  'AWS_EC2_INSTANCE_ID',
  'AWS_INIT_HEALTH_STATUS',
]);

/** A tag key: 1–128 of AWS's tag characters. */
export const TAG_KEY = { min: 1, max: 128, pattern: TAG_PATTERN, patternHelp: `${TAG_CHARACTERS} only` };
/** A tag value: 0–256 of AWS's tag characters. */
const TAG_VALUE = { max: 256, pattern: TAG_PATTERN, patternHelp: `${TAG_CHARACTERS} only` };

/** Tags of a request: key 1–128, value 0–256, AWS's tag characters, at most 200, no key twice. */
export function readTags(r: Input, member: string, required: boolean): Tag[] | undefined {
  const tags = r.list(member, { max: MAX_TAGS_PER_REQUEST, required }, (v, path) => {
    const t = Input.element(v, path);
    return { Key: t.str('Key', { required: true, ...TAG_KEY }), Value: t.str('Value', { required: true, ...TAG_VALUE }) };
  });
  if (tags) {
    const seen = new Set<string>();
    for (const t of tags) {
      if (seen.has(t.Key)) throw invalidInput(`${r.name(member)}: duplicate tag key ${JSON.stringify(t.Key)}`);
      seen.add(t.Key);
    }
  }
  return tags;
}

/** A `DnsRecords` list: not empty, each type once, and an allowed combination (docs/compatibility.md#services). */
export function readDnsRecords(r: Input): DnsRecordConfig[] {
  const path = r.name('DnsRecords');
  const records = r.list('DnsRecords', { required: true, min: 1, max: RECORD_TYPES.length }, (v, p) => {
    const e = Input.element(v, p);
    return { type: e.enumOf('Type', RECORD_TYPES, true), ttl: e.long('TTL', true) };
  })!;
  const types = new Set<RecordType>();
  for (const rec of records) {
    if (types.has(rec.type)) throw invalidInput(`${path}: record type ${rec.type} appears more than once`);
    types.add(rec.type);
  }
  // Allowed: {A}, {AAAA}, {A,AAAA}, {SRV}, {CNAME}, and SRV with A and/or AAAA (ECS awsvpc does that).
  if (types.has('CNAME') && types.size > 1) throw invalidInput(`${path}: a CNAME record cannot be combined with other record types`);
  return records;
}

/** `DnsConfig` of CreateService (RoutingPolicy defaults to MULTIVALUE). */
export function readDnsConfig(r: Input): { namespaceId?: string; config: DnsConfigRecord } {
  const namespaceId = r.str('NamespaceId', { max: 64 });
  const routingPolicy = r.enumOf('RoutingPolicy', ROUTING_POLICIES) ?? 'MULTIVALUE';
  const dnsRecords = readDnsRecords(r);
  if (dnsRecords.some((d) => d.type === 'CNAME') && routingPolicy !== 'WEIGHTED') {
    throw invalidInput(`${r.name('RoutingPolicy')}: CNAME records require WEIGHTED routing`);
  }
  return { namespaceId, config: { routingPolicy, dnsRecords } };
}

export function readHealthCheckConfig(r: Input): HealthCheckConfigRecord {
  const type = r.enumOf('Type', HEALTH_CHECK_TYPES, true);
  let resourcePath = r.str('ResourcePath', { max: 255 });
  const failureThreshold = r.int('FailureThreshold', { min: 1, max: 10 }) ?? DEFAULT_FAILURE_THRESHOLD;
  if (type === 'TCP') {
    if (resourcePath !== undefined) throw invalidInput(`${r.name('ResourcePath')}: must be absent for a TCP health check`);
  } else {
    resourcePath ??= DEFAULT_RESOURCE_PATH;
  }
  return resourcePath === undefined ? { type, failureThreshold } : { type, resourcePath, failureThreshold };
}

/** Instance attributes as RegisterInstance reads them: keys ≤255 P6, values ≤1024 P7. */
export function readInstanceAttributes(r: Input): Record<string, string> {
  const attrs = r.map('Attributes', {
    required: true,
    key: { max: 255, pattern: P6, patternHelp: 'printable ASCII without spaces' },
    value: { max: 1024, pattern: P7, patternHelp: 'printable ASCII (spaces and tabs only inside)' },
  })!;
  let custom = 0;
  let length = 0;
  for (const [k, v] of Object.entries(attrs)) {
    if (!RESERVED_ATTRIBUTES.has(k)) custom++;
    length += k.length + v.length;
  }
  if (custom > MAX_CUSTOM_ATTRIBUTES) throw invalidInput(`Attributes: at most ${MAX_CUSTOM_ATTRIBUTES} custom attributes are allowed, got ${custom}`);
  if (length > MAX_ATTRIBUTES_LENGTH) {
    throw invalidInput(`Attributes: the combined length of keys and values must not exceed ${MAX_ATTRIBUTES_LENGTH}, got ${length}`);
  }
  return attrs;
}

/**
 * The reserved-attribute rules that depend on the service and namespace (docs/compatibility.md#instances):
 * which keys the DNS records and health check need, and their formats.
 */
export function checkInstanceAttributes(attrs: Record<string, string>, svc: ServiceRecord, ns: NamespaceRecord | undefined): void {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(attrs, k);
  const ipv4 = attrs['AWS_INSTANCE_IPV4'];
  const ipv6 = attrs['AWS_INSTANCE_IPV6'];
  const port = attrs['AWS_INSTANCE_PORT'];
  if (ipv4 !== undefined && !isIpv4Address(ipv4)) throw invalidInput(`Attributes.AWS_INSTANCE_IPV4: must be an IPv4 address (dotted quad), got ${JSON.stringify(ipv4)}`);
  if (ipv6 !== undefined && !isIpv6Address(ipv6)) throw invalidInput(`Attributes.AWS_INSTANCE_IPV6: must be an IPv6 address, got ${JSON.stringify(ipv6)}`);
  if (port !== undefined && !isPort(port)) throw invalidInput(`Attributes.AWS_INSTANCE_PORT: must be a port number 1-65535, got ${JSON.stringify(port)}`);
  const init = attrs['AWS_INIT_HEALTH_STATUS'];
  if (init !== undefined && init !== 'HEALTHY' && init !== 'UNHEALTHY') {
    throw invalidInput(`Attributes.AWS_INIT_HEALTH_STATUS: must be HEALTHY or UNHEALTHY, got ${JSON.stringify(init)}`);
  }
  const cname = attrs['AWS_INSTANCE_CNAME'];
  if (cname !== undefined && !isDnsName(cname)) throw invalidInput(`Attributes.AWS_INSTANCE_CNAME: must be a domain name, got ${JSON.stringify(cname)}`);

  if (has('AWS_EC2_INSTANCE_ID')) {
    if (ns?.type !== 'HTTP') throw invalidInput('Attributes.AWS_EC2_INSTANCE_ID: is allowed only for services in HTTP namespaces');
    const others = Object.keys(attrs).filter((k) => k !== 'AWS_EC2_INSTANCE_ID' && k !== 'AWS_INIT_HEALTH_STATUS');
    if (others.length > 0) throw invalidInput(`Attributes.AWS_EC2_INSTANCE_ID: cannot be combined with ${others.join(', ')}`);
    return;
  }

  const types = new Set(svc.dnsConfig?.dnsRecords.map((d) => d.type) ?? []);
  const alias = attrs['AWS_ALIAS_DNS_NAME'];
  if (alias !== undefined) {
    if (!isDnsName(alias)) throw invalidInput(`Attributes.AWS_ALIAS_DNS_NAME: must be a domain name, got ${JSON.stringify(alias)}`);
    if (!types.has('A') && !types.has('AAAA')) throw invalidInput('Attributes.AWS_ALIAS_DNS_NAME: the service needs A and/or AAAA records');
    if (svc.dnsConfig?.routingPolicy !== 'WEIGHTED') throw invalidInput('Attributes.AWS_ALIAS_DNS_NAME: the service needs WEIGHTED routing');
    const inst = Object.keys(attrs).filter((k) => k.startsWith('AWS_INSTANCE_'));
    if (inst.length > 0) throw invalidInput(`Attributes.AWS_ALIAS_DNS_NAME: cannot be combined with ${inst.join(', ')}`);
    return;
  }

  if (types.has('A') && ipv4 === undefined) throw invalidInput('Attributes.AWS_INSTANCE_IPV4: is required because the service has an A record');
  if (types.has('AAAA') && ipv6 === undefined) throw invalidInput('Attributes.AWS_INSTANCE_IPV6: is required because the service has an AAAA record');
  if (types.has('SRV')) {
    if (ipv4 === undefined && ipv6 === undefined) throw invalidInput('Attributes.AWS_INSTANCE_IPV4: an SRV record needs AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6');
    if (port === undefined) throw invalidInput('Attributes.AWS_INSTANCE_PORT: is required because the service has an SRV record');
  }
  if (types.has('CNAME') && cname === undefined) throw invalidInput('Attributes.AWS_INSTANCE_CNAME: is required because the service has a CNAME record');
  if (svc.healthCheckConfig && port === undefined) throw invalidInput('Attributes.AWS_INSTANCE_PORT: is required because the service has a health check');
}
