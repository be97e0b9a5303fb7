/**
 * DNS worker processes sharing one socket (src/dns/workers.ts, `pharos server --dns-workers n`):
 * every worker answers from its own snapshot, fed over IPC from the primary's store, exactly as
 * one in-process server answers; a worker that dies is replaced; metrics are summed over workers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import type { RecordType } from 'dns-packet';
import { startDnsServer, startDnsWorkers, type DnsServer, type DnsWorkers } from '../src/dns/index.ts';
import { decode, openFixture, query, sectionText, tcpAsk, udpAsk, udpIoPaths, type Fixture } from '../src/dns/testutil.ts';
import { createMetricsRegistry, eventually, silentLogger, type Registry } from '../src/lib/index.ts';
import type { ServiceRecord } from '../src/registry/index.ts';
import { privateNamespace, register, startTestServer } from './helpers.ts';

// Pools started with port 0 from one process share the socket (node's cluster keys shared handles by
// the address as asked), so this pool closes before the server below starts its own.
for (const { io, skip } of udpIoPaths()) describe(`a pool of two workers over a store (UDP: ${io})`, { skip }, () => {
  let fx: Fixture;
  let pool: DnsWorkers;
  let single: DnsServer;
  let metrics: Registry;
  let web: ServiceRecord;

  before(async () => {
    fx = await openFixture();
    const ns = await fx.namespace('local-1');
    web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
    await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.150.1' });
    const api = await fx.service(ns, 'api', [{ type: 'A', ttl: 30 }, { type: 'SRV', ttl: 30 }]);
    for (let i = 1; i <= 12; i++) await fx.instance(api, `a-${i}`, { AWS_INSTANCE_IPV4: `198.18.150.${10 + i}`, AWS_INSTANCE_PORT: String(8000 + i) });
    const db = await fx.service(ns, 'db', [{ type: 'A', ttl: 30 }, { type: 'SRV', ttl: 30 }]);
    await fx.instance(db, 'd-1', { AWS_INSTANCE_IPV4: '198.18.152.1', AWS_INSTANCE_PORT: '5432' });
    await fx.instance(db, 'd-2', { AWS_INSTANCE_IPV4: '198.18.152.2', AWS_INSTANCE_PORT: '5433' });
    const checked = await fx.service(ns, 'checked', [{ type: 'A', ttl: 60 }], { healthCheckCustomConfig: { failureThreshold: 1 } });
    await fx.instance(checked, 'c-1', { AWS_INSTANCE_IPV4: '198.18.151.1' });
    await fx.instance(checked, 'c-2', { AWS_INSTANCE_IPV4: '198.18.151.2' });
    await fx.health(checked, 'c-1', 'HEALTHY');
    await fx.health(checked, 'c-2', 'UNHEALTHY');
    metrics = createMetricsRegistry();
    pool = await startDnsWorkers({ kv: fx.kv, workers: 2, address: '127.0.0.1:0', logger: silentLogger(), metrics, io });
    single = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), io });
  });

  after(async () => {
    await pool?.close();
    await single?.close();
    await fx?.close();
  });

  /** Every section as sorted zone-file text: MULTIVALUE order and random subsets compare as sets. */
  const shape = (buf: Buffer) => {
    const r = decode(buf);
    return { rcode: r.rcode, aa: r.flag_aa, tc: r.flag_tc, answer: sectionText(r.answers), ns: sectionText(r.authorities), extra: sectionText(r.additionals) };
  };

  const QUESTIONS: [string, RecordType | number][] = [
    ['web.local-1', 'A'],
    ['WEB.Local-1', 'A'],
    ['web.local-1', 'AAAA'],
    ['db.local-1', 'SRV'],
    ['db.local-1', 'A'],
    ['a-3.api.local-1', 'A'],
    ['checked.local-1', 'A'],
    ['nope.local-1', 'A'],
    ['local-1', 'SOA'],
    ['local-1', 'NS'],
    ['11.150.18.198.in-addr.arpa', 'PTR'],
    ['example.com', 'A'],
  ];

  test('two workers answer every question exactly as one in-process server does, over UDP and TCP', async () => {
    for (const [name, type] of QUESTIONS) {
      const expected = shape(await udpAsk(single.address.port, query(name, type)));
      // Several times over, so both workers answer (the kernel picks one per datagram).
      for (let i = 0; i < 8; i++) assert.deepEqual(shape(await udpAsk(pool.address.port, query(name, type, { id: i }))), expected, `${name} ${type}`);
      const [tcp] = await tcpAsk(pool.address.port, [query(name, type)]);
      assert.deepEqual(shape(tcp!), shape((await tcpAsk(single.address.port, [query(name, type)]))[0]!), `${name} ${type} over TCP`);
    }
    // 12 SRV records with EDNS: a random subset of 8 per answer, always from the same pool.
    const all = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = shape(await udpAsk(pool.address.port, query('api.local-1', 'SRV', { edns: 1232 })));
      assert.equal(r.answer.length, 8);
      for (const rr of r.answer) all.add(rr);
    }
    assert.ok([...all].every((rr) => /^api\.local-1\. 30 IN SRV 1 1 80\d\d a-\d+\.api\.local-1\.$/.test(rr)));
  });

  test('a change reaches every worker', async () => {
    await fx.instance(web, 'i-2', { AWS_INSTANCE_IPV4: '198.18.150.2' });
    // Every answer (whichever worker gives it) soon has both; 20 in a row so both workers are seen.
    await eventually(async () => {
      for (let i = 0; i < 20; i++) {
        if (decode(await udpAsk(pool.address.port, query('web.local-1', 'A'))).answers.length !== 2) return false;
      }
      return true;
    }, { timeoutMs: 5000 });
  });

  test('metrics of all workers are summed in the primary registry', async () => {
    const count = async () => {
      const metric = (await metrics.getMetricsAsJSON()).find((m) => m.name === 'pharos_dns_queries_total');
      return (metric?.values ?? []).reduce((s, v) => s + v.value, 0);
    };
    await eventually(async () => (await count()) > 0, { timeoutMs: 5000 });
    const before = await count();
    for (let i = 0; i < 40; i++) await udpAsk(pool.address.port, query('web.local-1', 'A'));
    assert.equal((await count()) - before, 40);
  });

  test('an added address is served by every worker', async () => {
    const extra = await pool.addListener('127.0.0.1:0');
    assert.notEqual(extra.port, 0);
    assert.notEqual(extra.port, pool.address.port);
    for (let i = 0; i < 10; i++) assert.equal(decode(await udpAsk(extra.port, query('web.local-1', 'A'))).rcode, 'NOERROR');
    assert.deepEqual(pool.listeners().map((l) => l.port), [pool.address.port, extra.port]);
  });

  test('a worker that dies is replaced; the other answers meanwhile, the new one from a current snapshot', async () => {
    const [victim, survivor] = pool.pids();
    assert.ok(victim && survivor);
    process.kill(victim, 'SIGKILL');
    // Changed while the victim is dead: its replacement must load it.
    await fx.instance(web, 'i-3', { AWS_INSTANCE_IPV4: '198.18.150.3' });
    await eventually(() => pool.pids().length === 2 && !pool.pids().includes(victim), { timeoutMs: 10_000 });
    await eventually(async () => {
      for (let i = 0; i < 20; i++) {
        if (decode(await udpAsk(pool.address.port, query('web.local-1', 'A'))).answers.length !== 3) return false;
      }
      return true;
    }, { timeoutMs: 10_000 });
    // The replacement serves the address added earlier too.
    const extra = pool.listeners()[1]!;
    for (let i = 0; i < 20; i++) assert.equal(decode(await udpAsk(extra.port, query('web.local-1', 'A'))).answers.length, 3);
    const restarts = (await metrics.getMetricsAsJSON()).find((m) => m.name === 'pharos_dns_worker_restarts_total');
    assert.equal(restarts?.values[0]?.value, 1);
  });
});

test('pharos server --dns-workers 2: registrations through the API are answered by the workers; /metrics counts their queries', async () => {
  const server = await startTestServer({ dnsWorkers: 2 });
  try {
    const resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([server.dnsAddress!]);
    const nsId = await privateNamespace(server.sd, 'workers.local');
    const svc = await server.sd.createService({ Name: 'web', NamespaceId: nsId, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] } });
    await register(server.sd, svc.Service!.Id!, 'task-1', { AWS_INSTANCE_IPV4: '198.18.153.1' });
    // A worker's snapshot is one IPC hop behind the server's: soon, not at once.
    let seen: string[] = [];
    await eventually(async () => {
      seen = [];
      for (let i = 0; i < 10; i++) seen.push(String(await resolver.resolve4('web.workers.local').catch((err: Error & { code?: string }) => err.code)));
      return seen.every((a) => a === '198.18.153.1');
    }, { timeoutMs: 5000 }).catch((err: Error) => assert.fail(`${err.message}; last answers: ${seen.join(' ')}`));
    const text = await (await fetch(`${server.apiUrl}/metrics`)).text();
    const answered = [...text.matchAll(/^pharos_dns_queries_total\{type="A",rcode="NOERROR"\} (\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(answered[0]! >= 10, `queries counted at /metrics: ${answered}`);
  } finally {
    await server.destroy();
  }
});
