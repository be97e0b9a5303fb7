/**
 * Test helpers for DNS (not exported from index.ts): a real Snapshot over a temp SQLite file with
 * records written straight into the store, a query encoder and a zone-file text formatter.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from 'dns-packet';
import { SqliteKV } from '../store/index.ts';
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
import { udpBatchAddon } from './udpbatch.ts';

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

/**
 * The UDP I/O paths (server.ts `io`) every socket-level DNS test runs over: batched through the
 * native addon, and node's dgram. Without the addon the batched runs skip, saying why; in CI
 * (CI=true) they run, and fail, since CI builds it.
 */
export function udpIoPaths(): { io: 'batch' | 'dgram'; skip: string | false }[] {
  const addon = udpBatchAddon();
  const missing = 'error' in addon && process.env.CI !== 'true' ? `batched UDP unavailable: ${addon.error}` : false;
  return [
    { io: 'batch', skip: missing },
    { io: 'dgram', skip: false },
  ];
}

/** A query message; `edns` adds an OPT record with that UDP size. */
export function query(name: string, type: packet.RecordType | 'ANY' | number, opts: { id?: number; edns?: number; rd?: boolean } = {}): Buffer {
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
function rrText(a: packet.Answer): string {
  const name = a.name === '.' ? '.' : `${a.name.toLowerCase()}.`;
  const fq = (n: string) => (n === '.' || n === '' ? '.' : `${n.toLowerCase()}.`);
  const head = `${name} ${(a as { ttl?: number }).ttl ?? 0} IN ${a.type}`;
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
export function sectionText(section: readonly unknown[] | undefined): string[] {
  return ((section ?? []) as packet.Answer[]).filter((a) => a.type !== "OPT").map(rrText).sort();
}

/** Sends one UDP query to 127.0.0.1:port and resolves with the first reply. */
export function udpAsk(port: number, msg: Buffer, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('UDP timeout'));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

/** Sends length-prefixed queries over one TCP connection and resolves with as many replies. */
export function tcpAsk(port: number, msgs: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) {
        sock.end();
        resolve(out);
      }
    });
    sock.on('error', reject);
    sock.setTimeout(3000, () => {
      sock.destroy();
      reject(new Error('TCP timeout'));
    });
    for (const m of msgs) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(m.length);
      sock.write(Buffer.concat([len, m]));
    }
  });
}

/** A decoded reply with the loose record shape tests want (dns-packet's union types get in the way). */
export interface Reply {
  id: number;
  rcode: string;
  opcode: string;
  flag_aa: boolean;
  flag_tc: boolean;
  questions: { name: string; type: string }[];
  answers: { name: string; type: string; ttl: number; data: any; udpPayloadSize?: number }[];
  authorities: Reply['answers'];
  additionals: Reply['answers'];
}

/** Decodes with dns-packet (the independent oracle); missing sections become empty arrays. */
export function decode(buf: Buffer): Reply {
  const p = packet.decode(buf) as unknown as Partial<Reply> & { id: number; rcode: string; opcode: string };
  return {
    ...p,
    flag_aa: Boolean(p.flag_aa),
    flag_tc: Boolean(p.flag_tc),
    questions: p.questions ?? [],
    answers: p.answers ?? [],
    authorities: p.authorities ?? [],
    additionals: p.additionals ?? [],
  };
}
