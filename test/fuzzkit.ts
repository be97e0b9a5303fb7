/**
 * The attacks of issue 8 kept as code: seeded generators of hostile API requests and DNS packets,
 * and runners that fire them at a live server and count what came back. `test/api-fuzz.test.ts`
 * and `test/dns-fuzz.test.ts` run a short pass in `npm test`; `bench/fuzz.ts` runs the long one.
 */
import dgram from 'node:dgram';
import { request, Agent } from 'node:http';
import net from 'node:net';
import { decode, query } from '../src/dns/testutil.ts';
import { ECS_OPERATIONS } from '../src/orchestrator/ops/index.ts';
import { REGISTRY_OPERATIONS } from '../src/registry/ops/index.ts';

/** mulberry32: a tiny seeded PRNG, so a failing pass can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

// ---- API ------------------------------------------------------------------------------------

export const CLOUD_MAP_TARGET = 'Route53AutoNaming_v20170314';
export const ECS_TARGET = 'AmazonEC2ContainerServiceV20141113';
/** Member names of both models, so random bodies reach the validators' depths. */
const MEMBERS = [
  'Name', 'Id', 'ServiceId', 'InstanceId', 'NamespaceId', 'CreatorRequestId', 'Description', 'Vpc', 'Tags', 'TagKeys', 'ResourceARN',
  'Properties', 'DnsConfig', 'DnsRecords', 'TTL', 'Type', 'HealthCheckConfig', 'HealthCheckCustomConfig', 'FailureThreshold', 'Attributes',
  'NamespaceName', 'ServiceName', 'MaxResults', 'NextToken', 'Filters', 'Condition', 'Values', 'QueryParameters', 'HealthStatus',
  'OperationId', 'Instances', 'Status', 'cluster', 'clusterName', 'family', 'containerDefinitions', 'name', 'image', 'command',
  'portMappings', 'containerPort', 'networkMode', 'taskDefinition', 'count', 'serviceName', 'desiredCount', 'serviceRegistries',
  'registryArn', 'tasks', 'services', 'clusters', 'reason', 'include', 'user', 'environment', 'healthCheck', 'essential', 'tags', 'key', 'value',
];
const NASTY_STRINGS = [
  '', ' ', 'web', 'local-1', 'ns-0000000000000000', 'srv-aaaaaaaaaaaaaaaa', 'arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-x',
  '\u0000', 'a\u0000b', '\uD800', '\uFFFF', '𝕡𝕙𝕒𝕣𝕠𝕤', 'ß.ǅ.İ', '../../etc/passwd', '%s%n%x', '${jndi:ldap://x}', '<script>', '"quoted"',
  '\\\\', '\n\r\t', 'A'.repeat(1025), 'é'.repeat(300), '-1', '1e309', 'NaN', 'null', 'true', '0x10', '198.18.0.1', '::1', '*', 'MULTIVALUE',
];
const NASTY_NUMBERS = [0, -1, 1, 2 ** 31, 2 ** 53, -(2 ** 63), 1.5, 1e308, Number.MAX_SAFE_INTEGER + 2, 100, 1000, 65536];

function value(rand: Rand, depth: number): unknown {
  const k = rand();
  if (k < 0.3) return pick(rand, NASTY_STRINGS);
  if (k < 0.45) return pick(rand, NASTY_NUMBERS);
  if (k < 0.5) return rand() < 0.5;
  if (k < 0.55) return null;
  if (depth > 3) return pick(rand, NASTY_STRINGS);
  if (k < 0.75) return Array.from({ length: Math.floor(rand() * 4) }, () => value(rand, depth + 1));
  return object(rand, depth + 1);
}

function object(rand: Rand, depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) o[rand() < 0.9 ? pick(rand, MEMBERS) : pick(rand, NASTY_STRINGS)] = value(rand, depth);
  return o;
}

/** One hostile request: a target (possibly wrong) and a body (possibly not JSON, huge or deep). */
export interface FuzzRequest {
  target: string | undefined;
  body: string | Buffer;
  /** Extra or wrong headers. */
  headers: Record<string, string>;
}

const OPERATIONS = [...REGISTRY_OPERATIONS.map((o) => `${CLOUD_MAP_TARGET}.${o}`), ...ECS_OPERATIONS.map((o) => `${ECS_TARGET}.${o}`)];

/** Draws one request: random members with hostile values (most), or malformed, huge, deep, or mis-addressed ones. */
export function apiRequest(rand: Rand): FuzzRequest {
  const target = rand() < 0.95 ? pick(rand, OPERATIONS) : pick(rand, [undefined, '', 'Route53AutoNaming_v20170314.', 'x.y', `${CLOUD_MAP_TARGET}.constructor`, `${ECS_TARGET}.__proto__`]);
  const headers: Record<string, string> = {};
  if (rand() < 0.05) headers['Content-Type'] = pick(rand, ['text/plain', 'application/json', '']);
  const k = rand();
  let body: string | Buffer;
  if (k < 0.7) body = JSON.stringify(object(rand));
  else if (k < 0.78) body = JSON.stringify(object(rand)).slice(0, Math.floor(rand() * 40)); // cut short
  else if (k < 0.83) body = pick(rand, ['', 'null', '[]', '"x"', '42', '{"a":1,"a":2}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '\u0000', '{]', '\uFEFF{}']);
  else if (k < 0.885) body = '['.repeat(5000 + Math.floor(rand() * 50_000)) + ']'.repeat(10); // deep
  else if (k < 0.89) body = `{"Name":"${'x'.repeat(Math.floor(rand() * 2_000_000))}"}`; // huge (past the 1 MiB limit half the time)
  else if (k < 0.9) body = `{"Description":"${'\\u0000'.repeat(Math.floor(rand() * 20_000))}"}`; // many escaped NULs
  else if (k < 0.93) body = JSON.stringify({ Tags: Array.from({ length: 1000 }, (_, i) => ({ Key: `k${i}`, Value: pick(rand, NASTY_STRINGS) })) });
  else if (k < 0.96) body = JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`m${i}`, i])));
  else {
    const b = Buffer.from(JSON.stringify(object(rand)));
    for (let i = 0; i < 3 && b.length > 0; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256); // invalid UTF-8
    body = b;
  }
  return { target, body, headers };
}

/** What a pass of API requests got back. */
export interface ApiFuzzResult {
  requests: number;
  /** Status → count. */
  statuses: Record<number, number>;
  serverErrors: number;
  /** Requests that got no HTTP answer (connection reset: e.g. a huge body cut off). */
  noAnswer: number;
  /** First few 5xx bodies, for the failure message. */
  examples: string[];
}

/** Sends `count` requests from `rand` with `concurrency` in flight, plus races on one name. */
export async function runApiFuzz(url: string, rand: Rand, count: number, concurrency = 16): Promise<ApiFuzzResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const result: ApiFuzzResult = { requests: 0, statuses: {}, serverErrors: 0, noAnswer: 0, examples: [] };
  const record = (status: number | undefined, text: string) => {
    result.requests++;
    if (status === undefined) return void result.noAnswer++;
    result.statuses[status] = (result.statuses[status] ?? 0) + 1;
    if (status >= 500) {
      result.serverErrors++;
      if (result.examples.length < 5) result.examples.push(`${status} ${text.slice(0, 300)}`);
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      // Every 50th: a race, many creates of one name at once (Cloud Map namespace and service, ECS cluster).
      if (i % 50 === 49) {
        const name = `race-${Math.floor(rand() * 5)}`;
        const t = pick(rand, [`${CLOUD_MAP_TARGET}.CreateHttpNamespace`, `${ECS_TARGET}.CreateCluster`, `${CLOUD_MAP_TARGET}.DeleteNamespace`]);
        const body = JSON.stringify(t.endsWith('CreateCluster') ? { clusterName: name } : t.endsWith('DeleteNamespace') ? { Id: name } : { Name: name });
        const replies = await Promise.all(Array.from({ length: 8 }, () => send(url, agent, { target: t, body, headers: {} })));
        for (const r of replies) record(r.status, r.text);
        continue;
      }
      const r = await send(url, agent, apiRequest(rand));
      record(r.status, r.text);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return result;
}

function send(url: string, agent: Agent, r: FuzzRequest): Promise<{ status?: number; text: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/x-amz-json-1.1', ...r.headers };
    if (r.target !== undefined) headers['X-Amz-Target'] = r.target;
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: res.statusCode, text: '' }));
    });
    req.on('error', () => resolve({ text: '' }));
    req.end(r.body);
  });
}

// ---- DNS ------------------------------------------------------------------------------------

/**
 * One hostile packet from `valid` queries: random bytes, truncations, bit flips, and names with
 * compression pointers that loop (to themselves, to each other, forward past the end).
 */
export function dnsPacket(rand: Rand, valid: readonly Buffer[]): Buffer {
  const kind = rand();
  if (kind < 0.2) {
    const b = Buffer.alloc(Math.floor(rand() * 600));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
    return b;
  }
  const base = Buffer.from(pick(rand, valid));
  base[2] = base[2]! & 0x7f; // mostly queries, so they reach the parser's depths
  if (kind < 0.3) return base.subarray(0, Math.floor(rand() * base.length));
  if (kind < 0.42) {
    // Compression loops in the question name: a pointer to itself, two pointers to each other, a pointer past the end.
    const header = base.subarray(0, 12);
    const loops = [
      Buffer.from([0xc0, 0x0c, 0, 1, 0, 1]),
      Buffer.from([1, 0x61, 0xc0, 0x0e, 0xc0, 0x0c, 0, 1, 0, 1]),
      Buffer.from([0xc0, 0xff, 0, 1, 0, 1]),
      Buffer.from([3, 0x77, 0x65, 0x62, 0xc0, 0x0c, 0, 1, 0, 1]),
      Buffer.concat([Buffer.from(Array.from({ length: 130 }, () => [1, 0x61]).flat()), Buffer.from([0, 0, 1, 0, 1])]), // > 255 bytes
    ];
    const b = Buffer.concat([header, pick(rand, loops)]);
    b.writeUInt16BE(1, 4);
    return b;
  }
  if (kind < 0.47) {
    const b = Buffer.from(base);
    b.writeUInt16BE(Math.floor(rand() * 65536), 4 + 2 * Math.floor(rand() * 4)); // counts that lie
    return b;
  }
  const flips = 1 + Math.floor(rand() * 4);
  for (let f = 0; f < flips; f++) {
    const at = Math.floor(rand() * base.length);
    base[at] = rand() < 0.5 ? base[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
  }
  return base;
}

/** Queries the mutations start from: every answer kind, in and out of the zones. */
export const VALID_QUERIES: readonly Buffer[] = [
  query('web.local-1', 'A'),
  query('api.local-1', 'SRV', { edns: 1232 }),
  query('nope.local-1', 'AAAA'),
  query('11.0.18.198.in-addr.arpa', 'PTR'),
  query('example.org', 'A', { edns: 4096 }),
];
/** The fixture's zone, and the reverse zone Pharos answers for task addresses. */
export const FUZZ_ZONES: readonly string[] = ['local-1', 'in-addr.arpa'];

/** Names of every record in a reply (throws when the reply does not parse). */
export function answerNames(m: Buffer): string[] {
  const r = decode(m);
  return [...r.answers, ...r.authorities, ...r.additionals].filter((a) => a.type !== 'OPT').map((a) => a.name);
}

/** What a pass of DNS packets got back. */
export interface DnsFuzzResult {
  packets: number;
  replies: number;
  /** Replies with records for a name outside `zones` (must be 0: Pharos is not an open resolver). */
  outsideZones: number;
  /** Replies that do not parse (must be 0). */
  badReplies: number;
  tcpStreams: number;
}

/**
 * Sends `count` packets over UDP (pausing every `burst` so the socket buffers keep up) and
 * `tcpStreams` connections of lying length prefixes and half frames. `decode` parses a reply into
 * its record names, or throws.
 */
export async function runDnsFuzz(port: number, rand: Rand, valid: readonly Buffer[], count: number, options: { tcpStreams: number; zones: readonly string[]; decodeNames: (b: Buffer) => string[]; burst?: number }): Promise<DnsFuzzResult> {
  const result: DnsFuzzResult = { packets: 0, replies: 0, outsideZones: 0, badReplies: 0, tcpStreams: 0 };
  const inZones = (name: string) => options.zones.some((z) => name.toLowerCase() === z || name.toLowerCase().endsWith(`.${z}`));
  const check = (m: Buffer) => {
    result.replies++;
    try {
      if (options.decodeNames(m).some((n) => !inZones(n))) result.outsideZones++;
    } catch {
      result.badReplies++;
    }
  };
  const sock = dgram.createSocket('udp4');
  sock.on('message', check);
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const burst = options.burst ?? 200;
  for (let i = 0; i < count; i++) {
    sock.send(dnsPacket(rand, valid), port, '127.0.0.1');
    result.packets++;
    if (i % burst === burst - 1) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(
    Array.from({ length: options.tcpStreams }, () => new Promise<void>((resolve) => {
      result.tcpStreams++;
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('data', () => undefined);
      s.on('connect', () => {
        const parts: Buffer[] = [];
        for (let k = 0; k < 10; k++) {
          const body = dnsPacket(rand, valid);
          const len = Buffer.alloc(2);
          len.writeUInt16BE(rand() < 0.8 ? body.length : Math.floor(rand() * 65536));
          parts.push(len, rand() < 0.9 ? body : body.subarray(0, Math.floor(body.length / 2)));
        }
        s.end(Buffer.concat(parts));
      });
      s.setTimeout(1000, () => s.destroy());
    })),
  );
  sock.close();
  return result;
}
