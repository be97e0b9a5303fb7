import {
  hasHealthConfig,
  isDnsName,
  parseRdata,
  type InstanceRecord,
  type NamespaceRecord,
  type RegistryView,
  type ServiceRecord,
  type SnapshotChange,
  type ZoneRecordSetRecord,
} from '../registry/index.ts';
import { encodeBody, rotations, singles, type AnswerEntry, type Rr } from './answer.ts';
import { DNS_REFUSED, dnsError } from './errors.ts';
import type { DnsHandler, DnsReply, DnsRequest } from './handler.ts';
import { CLASS_ANY, CLASS_IN, HEADER_LENGTH, RCODE, TYPE, ipv4Bytes, ipv6Bytes, labelsOfKey, splitName } from './wire.ts';

/** Cloud Map's MULTIVALUE cap (docs/compatibility.md#dns-answers); a server setting. */
export const DEFAULT_MAX_ANSWERS = 8;
/** Negative-caching TTL when a namespace was created without an SOA TTL (Route 53's zone default SOA TTL). */
export const DEFAULT_SOA_TTL = 900;
/** SOA timers as Route 53 publishes them; nothing transfers our zones, so they are informative. */
const SOA_SERIAL = 1;
const SOA_REFRESH = 7200;
const SOA_RETRY = 900;
const SOA_EXPIRE = 1209600;
/** Cached (name, type) entries beyond this are answered but not kept: bounds memory under odd query mixes. */
const MAX_CACHE_ENTRIES = 200_000;
/** The name server label under each apex (CoreDNS kubernetes uses `ns.dns.<zone>` the same way). */
const NS_LABELS = ['ns', 'dns'];
const HOSTMASTER = 'hostmaster';
/** WEIGHTED answers are pre-encoded one per record up to this many records; beyond, picked per query. */
const MAX_PRECOMPUTED_VARIANTS = 64;
/** Rotations pre-encoded per answer: enough to spread the first record around, bounded for big services. */
const MAX_ROTATIONS = 16;
const RECORD_TYPES_IN_ANY_ORDER: readonly number[] = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.CNAME];
/** Users' weighted record sets are pre-encoded as this many variants, each set in proportion to its weight. */
const WEIGHT_VARIANTS = 100;

interface RegistryZonesOptions {
  view: RegistryView;
  /** MULTIVALUE answers carry at most this many records. */
  maxAnswers?: number;
  /** Address records for `ns.dns.<zone>` (the server's own address, when it is a concrete IP). */
  nsAddress?: string;
  /** Called with (now − commit time) in ms when a change reaches the answer cache. */
  onPropagated?: (delayMs: number) => void;
  now?: () => number;
}

interface Zone {
  ns: NamespaceRecord;
  apex: string[];
  soa: Extract<Rr, { type: 6 }>;
  /** Relative service name (lowercase dotted) → service. */
  services: Map<string, ServiceRecord>;
  /** Names that exist only because something exists below them (empty non-terminals). */
  ents: Set<string>;
  /** Users' record sets (Route 53): relative name → record type → the sets at (name, type). */
  user: Map<string, Map<number, ZoneRecordSetRecord[]>>;
}

/** What a cached entry derives from, so a change drops only what it affects. */
type Dep = { namespaceId: string; serviceId?: string } | { ptr: true };

/**
 * The registry handler: authoritative for every DNS_PRIVATE and DNS_PUBLIC namespace, answering
 * from the snapshot. Answers are built once per (name, type), cached pre-encoded, and dropped on
 * the snapshot changes that affect them.
 */
export class RegistryZones implements DnsHandler {
  readonly name = 'registry';
  private readonly view: RegistryView;
  private readonly maxAnswers: number;
  private readonly nsIp?: { type: 1 | 28; ip: Buffer };
  private readonly onPropagated?: (delayMs: number) => void;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;

  /** wire key → qtype → entry */
  private readonly cache = new Map<string, Map<number, AnswerEntry>>();
  private cacheSize = 0;
  private readonly keysByNamespace = new Map<string, Set<string>>();
  private readonly keysByService = new Map<string, Set<string>>();
  private readonly ptrKeys = new Set<string>();

  private zones?: Map<string, Zone>;
  private readonly instanceIndex = new Map<string, Map<string, InstanceRecord[]>>();
  private ptrIndex?: Map<string, { target: string[]; ttl: number }[]>;

  constructor(options: RegistryZonesOptions) {
    this.view = options.view;
    this.maxAnswers = Math.max(1, options.maxAnswers ?? DEFAULT_MAX_ANSWERS);
    this.onPropagated = options.onPropagated;
    this.now = options.now ?? Date.now;
    if (options.nsAddress) {
      const v4 = ipv4Bytes(options.nsAddress);
      const v6 = v4 ? undefined : ipv6Bytes(options.nsAddress);
      if (v4 && !v4.equals(Buffer.alloc(4))) this.nsIp = { type: TYPE.A, ip: v4 };
      else if (v6 && !v6.equals(Buffer.alloc(16))) this.nsIp = { type: TYPE.AAAA, ip: v6 };
    }
    this.unsubscribe = this.view.onChange((change) => this.invalidate(change));
  }

  close(): void {
    this.unsubscribe();
  }

  /** Number of cached (name, type) entries. */
  get size(): number {
    return this.cacheSize;
  }

  serve(req: DnsRequest): DnsReply | undefined {
    const entry = this.lookup(req.key, req.qtype, req.qclass);
    return entry && { entry };
  }

  /** The hot path: the cached entry for (name, type), if any. */
  cached(key: string, qtype: number): AnswerEntry | undefined {
    return this.cache.get(key)?.get(qtype);
  }

  /** A cached entry, else resolve (and cache what exists). */
  lookup(key: string, qtype: number, qclass = CLASS_IN): AnswerEntry | undefined {
    if (qclass !== CLASS_IN && qclass !== CLASS_ANY) return undefined;
    const hit = this.cache.get(key)?.get(qtype);
    if (hit) return hit;
    const resolved = this.resolve(key, labelsOfKey(key), qtype);
    if (!resolved) return undefined;
    if (resolved.dep && this.cacheSize < MAX_CACHE_ENTRIES) this.remember(key, qtype, resolved.entry, resolved.dep);
    return resolved.entry;
  }

  // ---- invalidation --------------------------------------------------------------------------

  private invalidate(change: SnapshotChange): void {
    switch (change.kind) {
      case 'namespace':
        this.clearAll();
        this.zones = undefined;
        break;
      case 'service': {
        this.zones = undefined; // service names and ENTs of its namespace
        const namespaceId = change.namespaceId ?? (change.previous as ServiceRecord | undefined)?.namespaceId;
        if (namespaceId) this.dropKeys(this.keysByNamespace.get(namespaceId));
        if (change.serviceId) {
          this.dropKeys(this.keysByService.get(change.serviceId));
          this.instanceIndex.delete(change.serviceId);
        }
        this.dropPtr();
        break;
      }
      case 'instance':
        if (change.serviceId) {
          this.dropKeys(this.keysByService.get(change.serviceId));
          this.instanceIndex.delete(change.serviceId);
        }
        this.dropPtr();
        break;
      case 'health':
        // Health picks which records answer; instance names and PTRs do not depend on it.
        if (change.serviceId) this.dropKeys(this.keysByService.get(change.serviceId));
        break;
      case 'recordset':
        // A user's record set may turn an empty non-terminal or NODATA of the zone into data.
        this.zones = undefined;
        if (change.namespaceId) this.dropKeys(this.keysByNamespace.get(change.namespaceId));
        break;
    }
    if (change.committedAt !== undefined) this.onPropagated?.(Math.max(0, this.now() - change.committedAt));
  }

  private clearAll(): void {
    this.cache.clear();
    this.cacheSize = 0;
    this.keysByNamespace.clear();
    this.keysByService.clear();
    this.ptrKeys.clear();
    this.instanceIndex.clear();
    this.ptrIndex = undefined;
  }

  private dropKeys(keys: Set<string> | undefined): void {
    if (!keys) return;
    for (const key of keys) {
      const types = this.cache.get(key);
      if (types) {
        this.cacheSize -= types.size;
        this.cache.delete(key);
      }
    }
    keys.clear();
  }

  private dropPtr(): void {
    this.ptrIndex = undefined;
    this.dropKeys(this.ptrKeys);
  }

  private remember(key: string, qtype: number, entry: AnswerEntry, dep: Dep): void {
    let types = this.cache.get(key);
    if (!types) this.cache.set(key, (types = new Map()));
    if (!types.has(qtype)) this.cacheSize++;
    types.set(qtype, entry);
    if ('ptr' in dep) {
      this.ptrKeys.add(key);
      return;
    }
    addTo(this.keysByNamespace, dep.namespaceId, key);
    if (dep.serviceId) addTo(this.keysByService, dep.serviceId, key);
  }

  // ---- resolution (cache misses) -------------------------------------------------------------

  private zoneIndex(): Map<string, Zone> {
    if (this.zones) return this.zones;
    const zones = new Map<string, Zone>();
    // A private name may exist once per VPC; there is one DNS view here, so the oldest one serves it.
    const namespaces = [...this.view.namespaces()].sort((a, b) => a.createDate - b.createDate || (a.id < b.id ? -1 : 1));
    for (const ns of namespaces) {
      if (ns.type !== 'DNS_PRIVATE' && ns.type !== 'DNS_PUBLIC') continue;
      const apex = splitName(ns.name);
      if (!isDnsName(apex) || zones.has(apex.join('.'))) continue;
      const soaTtl = ns.soaTtl ?? DEFAULT_SOA_TTL;
      const zone: Zone = {
        ns,
        apex,
        soa: {
          type: TYPE.SOA,
          owner: apex,
          ttl: soaTtl,
          mname: [...NS_LABELS, ...apex],
          rname: [HOSTMASTER, ...apex],
          serial: SOA_SERIAL,
          refresh: SOA_REFRESH,
          retry: SOA_RETRY,
          expire: SOA_EXPIRE,
          minimum: soaTtl,
        },
        services: new Map(),
        ents: new Set(),
        user: new Map(),
      };
      for (const svc of this.view.servicesOf(ns.id)) {
        if (svc.type === 'HTTP' || !svc.dnsConfig || svc.dnsConfig.dnsRecords.length === 0) continue;
        const rel = splitName(svc.name);
        if (!isDnsName([...rel, ...apex])) continue;
        zone.services.set(rel.join('.'), svc);
        for (let i = 1; i < rel.length; i++) zone.ents.add(rel.slice(i).join('.'));
      }
      zone.ents.add(NS_LABELS[1]!); // `dns.<zone>` exists because `ns.dns.<zone>` does
      const suffix = apex.length === 0 ? 0 : apex.join('.').length + 1;
      for (const set of this.view.recordSets(ns.id).values()) {
        const rel = set.name.length > suffix ? splitName(set.name.slice(0, set.name.length - suffix)) : [];
        let types = zone.user.get(rel.join('.'));
        if (!types) zone.user.set(rel.join('.'), (types = new Map()));
        const list = types.get(TYPE[set.type]);
        if (list) list.push(set);
        else types.set(TYPE[set.type], [set]);
        for (let i = 1; i < rel.length; i++) zone.ents.add(rel.slice(i).join('.'));
      }
      zones.set(apex.join('.'), zone);
    }
    this.zones = zones;
    return zones;
  }

  /** Lowercase instance id (dotted) → instances of a service. Ids differing only in case share a name. */
  private instancesByName(svc: ServiceRecord): Map<string, InstanceRecord[]> {
    let m = this.instanceIndex.get(svc.id);
    if (m) return m;
    m = new Map();
    for (const inst of this.view.instances(svc.id).values()) {
      const rel = instanceLabels(inst.id).join('.');
      const list = m.get(rel);
      if (list) list.push(inst);
      else m.set(rel, [inst]);
    }
    this.instanceIndex.set(svc.id, m);
    return m;
  }

  private resolve(key: string, labels: string[], qtype: number): { entry: AnswerEntry; dep?: Dep } | undefined {
    const zones = this.zoneIndex();
    const base = HEADER_LENGTH + key.length + 4; // body offset: header, question name, QTYPE, QCLASS
    let zone: Zone | undefined;
    let cut = 0;
    for (; cut <= labels.length; cut++) {
      zone = zones.get(labels.slice(cut).join('.'));
      if (zone) break;
    }
    if (!zone) return this.resolvePtr(labels, base, qtype);
    if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) throw dnsError(DNS_REFUSED, 'zone transfers are not offered');

    const rel = labels.slice(0, cut);
    const relName = rel.join('.');
    const nsDep: Dep = { namespaceId: zone.ns.id };
    const nodata = (dep: Dep) => ({ entry: negative(RCODE.NOERROR, labels, base, zone), dep });

    if (rel.length === 0) {
      const answers: Rr[] = [];
      if (qtype === TYPE.SOA || qtype === TYPE.ANY) answers.push(zone.soa);
      else if (qtype === TYPE.NS) answers.push({ type: TYPE.NS, owner: zone.apex, ttl: zone.soa.ttl, target: zone.soa.mname });
      if (answers.length) return { entry: positive(labels, base, answers), dep: nsDep };
      const user = zone.user.get('');
      const entry = user && this.userAnswer(user, labels, base, qtype);
      return entry ? { entry, dep: nsDep } : nodata(nsDep);
    }
    if (relName === NS_LABELS.join('.')) {
      const ip = this.nsIp;
      if (ip && (qtype === ip.type || qtype === TYPE.ANY)) {
        return { entry: positive(labels, base, [{ type: ip.type, owner: labels, ttl: zone.soa.ttl, ip: ip.ip }]), dep: nsDep };
      }
      return nodata(nsDep);
    }

    const svc = zone.services.get(relName);
    if (svc) {
      const dep: Dep = { namespaceId: zone.ns.id, serviceId: svc.id };
      const entry = this.serviceAnswer(svc, labels, base, qtype);
      return entry ? { entry, dep } : nodata(dep);
    }

    // `<instanceId>.<service>.<namespace>`: try every split, instance ids may contain dots.
    for (let split = 1; split < rel.length; split++) {
      const owner = zone.services.get(rel.slice(split).join('.'));
      if (!owner || !servesHostNames(owner)) continue;
      const dep: Dep = { namespaceId: zone.ns.id, serviceId: owner.id };
      const byName = this.instancesByName(owner);
      const instances = byName.get(rel.slice(0, split).join('.'));
      if (instances) {
        const entry = this.hostAnswer(owner, instances, labels, base, qtype);
        return entry ? { entry, dep } : nodata(dep);
      }
      const below = '.' + rel.slice(0, split).join('.');
      for (const id of byName.keys()) if (id.endsWith(below)) return nodata(dep);
    }
    const user = zone.user.get(relName);
    if (user) {
      const entry = this.userAnswer(user, labels, base, qtype);
      return entry ? { entry, dep: nsDep } : nodata(nsDep);
    }
    if (zone.ents.has(relName)) return nodata(nsDep);
    // NXDOMAIN is not cached per name: random names would fill the cache.
    return { entry: negative(RCODE.NXDOMAIN, labels, base, zone) };
  }

  /** Records at `<service>.<namespace>`, or undefined for NODATA. */
  private serviceAnswer(svc: ServiceRecord, labels: string[], base: number, qtype: number): AnswerEntry | undefined {
    const config = svc.dnsConfig!;
    const ttlOf = ttlsOf(svc);
    // A CNAME owner has no other data (RFC 1034 §3.6.2): every type is answered with the CNAME.
    const type: number | undefined = ttlOf.has(TYPE.CNAME)
      ? TYPE.CNAME
      : qtype === TYPE.ANY
        ? RECORD_TYPES_IN_ANY_ORDER.find((t) => ttlOf.has(t) && this.candidates(svc, t, labels, ttlOf).length > 0)
        : qtype;
    if (type === undefined || !ttlOf.has(type)) return undefined;
    const all = this.candidates(svc, type, labels, ttlOf);
    if (all.length === 0) return undefined;
    // Healthy ones, or all of them when none is healthy (fail open, docs/compatibility.md#dns-answers).
    const withHealth = hasHealthConfig(svc);
    const healthy = withHealth ? all.filter((c) => this.view.health(svc.id, c.instanceId) === 'HEALTHY') : all;
    const pool = (healthy.length > 0 ? healthy : all).map((c) => c.rr);
    const weighted = config.routingPolicy === 'WEIGHTED' || type === TYPE.CNAME;
    const pick = weighted ? 1 : this.maxAnswers;
    if (pool.length <= pick) return { rcode: RCODE.NOERROR, authoritative: true, variants: rotations(labels, base, pool, MAX_ROTATIONS) };
    if (pick === 1 && pool.length <= MAX_PRECOMPUTED_VARIANTS) return { rcode: RCODE.NOERROR, authoritative: true, variants: singles(labels, base, pool) };
    return { rcode: RCODE.NOERROR, authoritative: true, variants: [], pool: { candidates: pool, pick, authority: [], question: labels, base } };
  }

  /**
   * Users' records at a name, or undefined for NODATA. Route 53's routing: one simple set answers
   * all its values; multivalue sets answer up to `maxAnswers` of their values at random; weighted
   * sets answer one set, chosen in proportion to its weight (all equally when every weight is 0).
   */
  private userAnswer(types: Map<number, ZoneRecordSetRecord[]>, labels: string[], base: number, qtype: number): AnswerEntry | undefined {
    const type = types.has(TYPE.CNAME) ? TYPE.CNAME : qtype === TYPE.ANY ? types.keys().next().value : qtype;
    const sets = type === undefined ? undefined : types.get(type);
    if (!sets || sets.length === 0) return undefined;
    const records = (set: ZoneRecordSetRecord) => set.values.map((v) => userRr(set, v, labels)).filter((rr): rr is Rr => rr !== undefined);
    if (sets[0]!.weight === undefined) {
      const pool = sets.flatMap(records);
      if (pool.length === 0) return undefined;
      if (pool.length <= this.maxAnswers || !sets[0]!.multiValueAnswer) return { rcode: RCODE.NOERROR, authoritative: true, variants: rotations(labels, base, pool, MAX_ROTATIONS) };
      return { rcode: RCODE.NOERROR, authoritative: true, variants: [], pool: { candidates: pool, pick: this.maxAnswers, authority: [], question: labels, base } };
    }
    const total = sets.reduce((n, s) => n + (s.weight ?? 0), 0);
    const variants = [];
    for (const set of sets) {
      const share = total === 0 ? 1 : Math.round(((set.weight ?? 0) * WEIGHT_VARIANTS) / total);
      const copies = total === 0 ? 1 : (set.weight ?? 0) > 0 ? Math.max(1, share) : 0;
      if (copies === 0) continue;
      const body = encodeBody(labels, base, records(set));
      for (let i = 0; i < copies; i++) variants.push(body);
    }
    return variants.length ? { rcode: RCODE.NOERROR, authoritative: true, variants } : undefined;
  }

  /** The records one type would give at a service name, one per instance that has the attributes. */
  private candidates(svc: ServiceRecord, type: number, owner: string[], ttlOf: Map<number, number>): { instanceId: string; rr: Rr }[] {
    const ttl = ttlOf.get(type)!;
    const out: { instanceId: string; rr: Rr }[] = [];
    for (const inst of sortedInstances(this.view.instances(svc.id))) {
      const a = inst.attributes;
      if (type === TYPE.A || type === TYPE.AAAA) {
        const ip = type === TYPE.A ? ipv4Bytes(a['AWS_INSTANCE_IPV4'] ?? '') : ipv6Bytes(a['AWS_INSTANCE_IPV6'] ?? '');
        if (ip) out.push({ instanceId: inst.id, rr: { type, owner, ttl, ip } });
      } else if (type === TYPE.SRV) {
        const port = Number(a['AWS_INSTANCE_PORT']);
        const extras = hostRecords(inst, hostTtl(ttlOf));
        const target = [...instanceLabels(inst.id), ...owner];
        if (Number.isInteger(port) && port > 0 && port < 65536 && extras.length > 0 && isDnsName(target)) {
          out.push({ instanceId: inst.id, rr: { type, owner, ttl, port, target, extras } });
        }
      } else if (type === TYPE.CNAME) {
        const target = splitName(a['AWS_INSTANCE_CNAME'] ?? '');
        if (target.length > 0 && isDnsName(target)) out.push({ instanceId: inst.id, rr: { type, owner, ttl, target } });
      }
    }
    return out;
  }

  /** A/AAAA at `<instanceId>.<service>.<namespace>`, whatever the instance's health (SRV targets must resolve). */
  private hostAnswer(svc: ServiceRecord, instances: InstanceRecord[], labels: string[], base: number, qtype: number): AnswerEntry | undefined {
    const ttlOf = ttlsOf(svc);
    const answers: Rr[] = [];
    for (const inst of instances) {
      for (const r of hostRecords(inst, hostTtl(ttlOf))) {
        if (qtype === r.type || qtype === TYPE.ANY) answers.push({ ...r, owner: labels });
      }
    }
    if (qtype === TYPE.ANY && answers.length > 1) answers.splice(1); // RFC 8482: one RRset is enough
    return answers.length ? positive(labels, base, answers) : undefined;
  }

  private resolvePtr(labels: string[], base: number, qtype: number): { entry: AnswerEntry; dep?: Dep } | undefined {
    if (qtype !== TYPE.PTR && qtype !== TYPE.ANY) return undefined;
    if (labels.length !== 6 || labels[4] !== 'in-addr' || labels[5] !== 'arpa') return undefined;
    const records = this.ptrs().get(labels.slice(0, 4).join('.'));
    if (!records) return undefined;
    const answers: Rr[] = records.map((r) => ({ type: TYPE.PTR, owner: labels, ttl: r.ttl, target: r.target }));
    return { entry: positive(labels, base, answers), dep: { ptr: true } };
  }

  /** Reversed IPv4 (`4.3.2.1`) → instance host names, over every DNS zone. */
  private ptrs(): Map<string, { target: string[]; ttl: number }[]> {
    if (this.ptrIndex) return this.ptrIndex;
    const index = new Map<string, { target: string[]; ttl: number }[]>();
    for (const zone of this.zoneIndex().values()) {
      for (const [rel, svc] of zone.services) {
        if (!servesHostNames(svc)) continue;
        const ttlOf = ttlsOf(svc);
        for (const inst of this.view.instances(svc.id).values()) {
          const ip = inst.attributes['AWS_INSTANCE_IPV4'];
          if (!ip || !ipv4Bytes(ip)) continue;
          const target = [...instanceLabels(inst.id), ...splitName(rel), ...zone.apex];
          if (!isDnsName(target)) continue;
          const reversed = ip.split('.').map(Number).reverse().join('.');
          const list = index.get(reversed) ?? [];
          list.push({ target, ttl: hostTtl(ttlOf) });
          index.set(reversed, list);
        }
      }
    }
    this.ptrIndex = index;
    return index;
  }
}

/** One value of a user's record set as a record (values were checked by `parseRdata` when stored). */
function userRr(set: ZoneRecordSetRecord, value: string, owner: string[]): Rr | undefined {
  const d = parseRdata(set.type, value);
  if (typeof d === 'string') return undefined;
  const ttl = set.ttl;
  switch (d.type) {
    case 'A':
      return { type: TYPE.A, owner, ttl, ip: ipv4Bytes(d.address)! };
    case 'AAAA':
      return { type: TYPE.AAAA, owner, ttl, ip: ipv6Bytes(d.address)! };
    case 'CNAME':
    case 'PTR':
      return { type: TYPE[d.type], owner, ttl, target: d.target };
    case 'MX':
      return { type: TYPE.MX, owner, ttl, preference: d.preference, target: d.exchange };
    case 'SRV':
      return { type: TYPE.SRV, owner, ttl, priority: d.priority, weight: d.weight, port: d.port, target: d.target, extras: [] };
    case 'TXT':
      return { type: TYPE.TXT, owner, ttl, strings: d.strings };
    case 'CAA':
      return { type: TYPE.CAA, owner, ttl, flags: d.flags, tag: d.tag, value: d.value };
  }
}

/** Record type number → TTL, from the service's DnsConfig. */
function ttlsOf(svc: ServiceRecord): Map<number, number> {
  return new Map<number, number>((svc.dnsConfig?.dnsRecords ?? []).map((r) => [TYPE[r.type], r.ttl]));
}


function addTo(m: Map<string, Set<string>>, id: string, key: string): void {
  let s = m.get(id);
  if (!s) m.set(id, (s = new Set()));
  s.add(key);
}

function positive(labels: string[], base: number, answers: Rr[]): AnswerEntry {
  return { rcode: RCODE.NOERROR, authoritative: true, variants: rotations(labels, base, answers) };
}

/** NXDOMAIN or NODATA: the zone's SOA in the authority section (RFC 2308). */
function negative(rcode: number, labels: string[], base: number, zone: Zone): AnswerEntry {
  return { rcode, authoritative: true, variants: [encodeBody(labels, base, [], [zone.soa])] };
}

/** Services whose instances get host names: those with address or SRV records (not CNAME). */
function servesHostNames(svc: ServiceRecord): boolean {
  return svc.dnsConfig?.dnsRecords.some((r) => r.type !== 'CNAME') ?? false;
}

/** TTL of instance host names: the A (or AAAA) record's TTL, else the SRV record's. */
function hostTtl(ttlOf: Map<number, number>): number {
  return ttlOf.get(TYPE.A) ?? ttlOf.get(TYPE.AAAA) ?? ttlOf.get(TYPE.SRV) ?? DEFAULT_SOA_TTL;
}

function hostRecords(inst: InstanceRecord, ttl: number): { type: typeof TYPE.A | typeof TYPE.AAAA; ttl: number; ip: Buffer }[] {
  const out: { type: typeof TYPE.A | typeof TYPE.AAAA; ttl: number; ip: Buffer }[] = [];
  const v4 = ipv4Bytes(inst.attributes['AWS_INSTANCE_IPV4'] ?? '');
  if (v4) out.push({ type: TYPE.A, ttl, ip: v4 });
  const v6 = ipv6Bytes(inst.attributes['AWS_INSTANCE_IPV6'] ?? '');
  if (v6) out.push({ type: TYPE.AAAA, ttl, ip: v6 });
  return out;
}

/** Instances in id order, so the pre-encoded rotations are stable between rebuilds. */
function sortedInstances(m: ReadonlyMap<string, InstanceRecord>): InstanceRecord[] {
  return [...m.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * An instance id as the labels of its host name. Unlike `splitName` a trailing dot is not dropped:
 * ids `.` and `x.` make empty labels, so they get no host name (as in the Route 53 view), instead of
 * `.` naming the service itself and `x.` sharing `x`'s host name.
 */
function instanceLabels(id: string): string[] {
  return id.toLowerCase().split('.');
}
