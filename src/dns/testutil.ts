/**
 * Test helpers for DNS (not exported from index.ts): a real Snapshot over a temp SQLite file with
 * records written straight into the store, a query encoder and a zone-file text formatter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from 'dns-packet';
import { SqliteKV } from '../store/sqlite.ts';
import {
  keys,
  Snapshot,
  type DnsRecordConfig,
  type HealthRecord,
  type HealthStatus,
  type InstanceRecord,
  type NamespaceRecord,
  type RoutingPolicy,
  type ServiceRecord,
} from '../registry/index.ts';

export interface Fixture {
  kv: SqliteKV;
  view: Snapshot;
  /** Writes a record (create or update); resolves once the snapshot has it. */
  put(key: string, value: unknown): Promise<number>;
  del(key: string): Promise<number>;
  namespace(name: string, opts?: Partial<NamespaceRecord>): Promise<NamespaceRecord>;
  service(ns: NamespaceRecord, name: string, records: DnsRecordConfig[], opts?: Partial<ServiceRecord> & { routing?: RoutingPolicy }): Promise<ServiceRecord>;
  instance(svc: ServiceRecord, id: string, attributes: Record<string, string>): Promise<InstanceRecord>;
  health(svc: ServiceRecord, id: string, status: HealthStatus): Promise<void>;
  close(): Promise<void>;
}

let seq = 0;

export async function openFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'pharos-dns-'));
  const kv = await SqliteKV.open(join(dir, 'pharos.db'));
  const view = await Snapshot.open(kv);
  const put = async (key: string, value: unknown) => {
    const text = JSON.stringify(value);
    const existing = await kv.get(key);
    const rev = existing ? await kv.update(key, text, existing.modRevision) : await kv.create(key, text);
    await view.waitForRevision(rev);
    return rev;
  };
  const del = async (key: string) => {
    const rev = await kv.delete(key);
    await view.waitForRevision(rev);
    return rev;
  };
  return {
    kv,
    view,
    put,
    del,
    async namespace(name, opts = {}) {
      const id = `ns-${(++seq).toString(36).padStart(16, '0')}`;
      const rec: NamespaceRecord = {
        id,
        arn: `arn:aws:servicediscovery:us-east-1:000000000000:namespace/${id}`,
        name,
        type: 'DNS_PRIVATE',
        httpName: name,
        soaTtl: 60,
        createDate: 0,
        tags: [],
        ...opts,
      };
      await put(keys.namespace(id), rec);
      return rec;
    },
    async service(ns, name, records, opts = {}) {
      const id = `srv-${(++seq).toString(36).padStart(16, '0')}`;
      const { routing, ...rest } = opts;
      const rec: ServiceRecord = {
        id,
        arn: `arn:aws:servicediscovery:us-east-1:000000000000:service/${id}`,
        name,
        namespaceId: ns.id,
        type: records.length ? 'DNS_HTTP' : 'HTTP',
        dnsConfig: records.length ? { routingPolicy: routing ?? 'MULTIVALUE', dnsRecords: records } : undefined,
        createDate: 0,
        tags: [],
        attributes: {},
        ...rest,
      };
      await put(keys.service(id), rec);
      return rec;
    },
    async instance(svc, id, attributes) {
      const rec: InstanceRecord = { id, serviceId: svc.id, attributes, registeredAt: 0 };
      await put(keys.instance(svc.id, id), rec);
      return rec;
    },
    async health(svc, id, status) {
      const rec: HealthRecord = { status, updatedAt: 0 };
      await put(keys.health(svc.id, id), rec);
    },
    async close() {
      view.close();
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A query message; `edns` adds an OPT record with that UDP size. */
export function query(name: string, type: packet.RecordType | number, opts: { id?: number; edns?: number; rd?: boolean } = {}): Buffer {
  const msg = packet.encode({
    type: 'query',
    id: opts.id ?? 4242,
    flags: opts.rd === false ? 0 : packet.RECURSION_DESIRED,
    questions: [{ name, type: (typeof type === 'number' ? `TYPE${type}` : type) as packet.RecordType, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as unknown as packet.Answer] : [],
  });
  return msg;
}

/** One record as zone-file text: `name. ttl IN TYPE rdata`. */
export function rrText(a: packet.Answer): string {
  const name = a.name === '.' ? '.' : `${a.name.toLowerCase()}.`;
  const fq = (n: string) => (n === '.' || n === '' ? '.' : `${n.toLowerCase()}.`);
  const head = `${name} ${a.ttl ?? 0} IN ${a.type}`;
  switch (a.type) {
    case 'A':
    case 'AAAA':
      return `${head} ${a.data}`;
    case 'SRV': {
      const d = a.data as packet.SrvData;
      return `${head} ${d.priority ?? 0} ${d.weight ?? 0} ${d.port} ${fq(d.target)}`;
    }
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return `${head} ${fq(a.data as string)}`;
    case 'SOA': {
      const d = a.data as packet.SoaData;
      return `${head} ${fq(d.mname)} ${fq(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    }
    default:
      return `${head} ?`;
  }
}

/** Zone-file text of a section, sorted (sections compare as sets), OPT left out. */
export function sectionText(section: packet.Answer[] | undefined): string[] {
  return (section ?? []).filter((a) => a.type !== 'OPT').map(rrText).sort();
}
