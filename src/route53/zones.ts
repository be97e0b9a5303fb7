import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { isDnsName, type InstanceRecord, type NamespaceRecord, type RegistryView, type ServiceRecord, type ZoneRecordSetRecord } from '../registry/index.ts';
import { compareNames, presentName } from './names.ts';

/**
 * The hosted zone behind each DNS namespace, as a read-only view over the registry snapshot: the
 * record sets Cloud Map manages (derived from namespaces, services and instances exactly as
 * Pharos DNS answers them) and the record sets users added (`/rrset/` records). One source, two
 * wire formats: `dig` and `list-resource-record-sets` read the same snapshot.
 * @see docs/route53.md
 */

/** Who the `LinkedService` of a Cloud Map zone is (Route 53 shows the managing service). */
export const CLOUD_MAP_PRINCIPAL = 'servicediscovery.amazonaws.com';
/** SOA timers as Pharos DNS publishes them (src/dns/zones.ts): serial, refresh, retry, expire. */
const SOA_TIMERS = '1 7200 900 1209600';
/** SOA TTL (and negative TTL) when a namespace has none: Route 53's zone default, as DNS uses. */
export const DEFAULT_SOA_TTL = 900;
/** The name server host under each apex, as DNS serves it (`ns.dns.<zone>`). */
const NS_HOST = 'ns.dns';
/** Weight of every Cloud Map record set of a WEIGHTED service: all equal. */
const CLOUD_MAP_WEIGHT = 1;

/** A record set as the Route 53 API shows it (the model's `ResourceRecordSet`). */
export interface RecordSetView {
  Name: string;
  Type: string;
  SetIdentifier?: string;
  Weight?: number;
  MultiValueAnswer?: boolean;
  TTL: number;
  ResourceRecords: { Value: string }[];
  HealthCheckId?: string;
}

/** A hosted zone: its namespace and what the API shows of it. */
export interface ZoneView {
  id: string;
  /** Lowercase, without the final dot. */
  name: string;
  namespace: NamespaceRecord;
  private: boolean;
}

interface HostedZonesOptions {
  view: RegistryView;
  /** Address records of `ns.dns.<zone>` when DNS serves them (its listening address, if concrete). */
  nsAddress?: string;
}

/** Hosted zones and their record sets, read from the snapshot on each call (nothing cached). */
export class HostedZones {
  private readonly view: RegistryView;
  private readonly nsAddress?: string;

  constructor(options: HostedZonesOptions) {
    this.view = options.view;
    const a = options.nsAddress;
    this.nsAddress = a && (isIPv4(a) || isIPv6(a)) && a !== '0.0.0.0' && a !== '::' ? a : undefined;
  }

  /** Every DNS namespace's zone, ordered by id (ListHostedZones' order and marker). */
  zones(): ZoneView[] {
    const out: ZoneView[] = [];
    for (const ns of this.view.namespaces()) {
      if ((ns.type !== 'DNS_PRIVATE' && ns.type !== 'DNS_PUBLIC') || !ns.hostedZoneId) continue;
      out.push({ id: ns.hostedZoneId, name: ns.name.toLowerCase().replace(/\.$/, ''), namespace: ns, private: ns.type === 'DNS_PRIVATE' });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  zone(id: string): ZoneView | undefined {
    return this.zones().find((z) => z.id === id);
  }

  /** Record sets of a zone in Route 53's order: name (labels reversed), type, set identifier. */
  recordSets(zone: ZoneView): RecordSetView[] {
    const sets = [...this.cloudMapSets(zone), ...[...this.view.recordSets(zone.namespace.id).values()].map(userSetView)];
    return sets.sort(compareSets);
  }

  /** Services whose names DNS serves in this zone (as src/dns/zones.ts picks them). */
  dnsServices(zone: ZoneView): ServiceRecord[] {
    const out: ServiceRecord[] = [];
    for (const svc of this.view.servicesOf(zone.namespace.id)) {
      if (svc.type !== 'HTTP' && svc.dnsConfig && svc.dnsConfig.dnsRecords.length > 0) out.push(svc);
    }
    return out;
  }

  instances(serviceId: string): ReadonlyMap<string, InstanceRecord> {
    return this.view.instances(serviceId);
  }

  private *cloudMapSets(zone: ZoneView): Generator<RecordSetView> {
    const apex = zone.name;
    const soaTtl = zone.namespace.soaTtl ?? DEFAULT_SOA_TTL;
    const nsHost = `${NS_HOST}.${apex}`;
    yield { Name: presentName(apex), Type: 'SOA', TTL: soaTtl, ResourceRecords: [{ Value: `${nsHost}. hostmaster.${apex}. ${SOA_TIMERS} ${soaTtl}` }] };
    yield { Name: presentName(apex), Type: 'NS', TTL: soaTtl, ResourceRecords: [{ Value: `${nsHost}.` }] };
    if (this.nsAddress) yield { Name: presentName(nsHost), Type: isIPv4(this.nsAddress) ? 'A' : 'AAAA', TTL: soaTtl, ResourceRecords: [{ Value: this.nsAddress }] };

    for (const svc of this.dnsServices(zone)) {
      const svcName = `${svc.name.toLowerCase()}.${apex}`;
      if (!servable(svcName)) continue; // DNS cannot serve it either
      const records = svc.dnsConfig!.dnsRecords;
      const weighted = svc.dnsConfig!.routingPolicy === 'WEIGHTED';
      const hostTtl = (records.find((r) => r.type === 'A') ?? records.find((r) => r.type === 'AAAA') ?? records.find((r) => r.type === 'SRV'))?.ttl ?? DEFAULT_SOA_TTL;
      const servesHostNames = records.some((r) => r.type !== 'CNAME');
      const instances = [...this.view.instances(svc.id).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const inst of instances) {
        const a = inst.attributes;
        const v4 = isIPv4(a['AWS_INSTANCE_IPV4'] ?? '') ? a['AWS_INSTANCE_IPV4'] : undefined;
        const v6 = isIPv6(a['AWS_INSTANCE_IPV6'] ?? '') ? a['AWS_INSTANCE_IPV6'] : undefined;
        const host = `${inst.id.toLowerCase()}.${svcName}`;
        const hostOk = servable(host);
        const policy = weighted ? { Weight: CLOUD_MAP_WEIGHT } : { MultiValueAnswer: true };
        const health = svc.healthCheckConfig ? { HealthCheckId: healthCheckId(svc.id, inst.id) } : {};
        for (const r of records) {
          let value: string | undefined;
          if (r.type === 'A') value = v4;
          else if (r.type === 'AAAA') value = v6;
          else if (r.type === 'CNAME') value = servable(a['AWS_INSTANCE_CNAME'] ?? '') ? a['AWS_INSTANCE_CNAME'] : undefined;
          else if (r.type === 'SRV') {
            const port = Number(a['AWS_INSTANCE_PORT']);
            if (Number.isInteger(port) && port > 0 && port < 65536 && (v4 || v6) && hostOk) value = `1 1 ${port} ${host}`;
          }
          if (value === undefined) continue;
          yield { Name: presentName(svcName), Type: r.type, SetIdentifier: inst.id, ...policy, TTL: r.ttl, ResourceRecords: [{ Value: value }], ...health };
        }
        // Instance host names (SRV targets): A/AAAA whatever the instance's health, as DNS serves them.
        if (servesHostNames && hostOk) {
          if (v4) yield { Name: presentName(host), Type: 'A', TTL: hostTtl, ResourceRecords: [{ Value: v4 }] };
          if (v6) yield { Name: presentName(host), Type: 'AAAA', TTL: hostTtl, ResourceRecords: [{ Value: v6 }] };
        }
      }
    }
  }
}

/** The key ListResourceRecordSets pages by: (name, type, set identifier). */
export function compareSets(a: Pick<RecordSetView, 'Name' | 'Type' | 'SetIdentifier'>, b: Pick<RecordSetView, 'Name' | 'Type' | 'SetIdentifier'>): number {
  return compareNames(a.Name, b.Name) || (a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0) || ((a.SetIdentifier ?? '') < (b.SetIdentifier ?? '') ? -1 : (a.SetIdentifier ?? '') > (b.SetIdentifier ?? '') ? 1 : 0);
}

function userSetView(r: ZoneRecordSetRecord): RecordSetView {
  return {
    Name: presentName(r.name),
    Type: r.type,
    ...(r.setIdentifier !== undefined ? { SetIdentifier: r.setIdentifier } : {}),
    ...(r.weight !== undefined ? { Weight: r.weight } : {}),
    ...(r.multiValueAnswer ? { MultiValueAnswer: true } : {}),
    TTL: r.ttl,
    ResourceRecords: r.values.map((Value) => ({ Value })),
  };
}

/** The Route 53 health check id of a probed instance: stable, shaped like Route 53's (a UUID). */
export function healthCheckId(serviceId: string, instanceId: string): string {
  const h = createHash('sha256').update(`${serviceId}/${instanceId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Whether DNS can serve a dotted name (the test src/dns/zones.ts applies). */
function servable(name: string): boolean {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.');
  return name !== '' && isDnsName(labels);
}
