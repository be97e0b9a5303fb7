/**
 * The DNS server over real sockets: node's resolver (c-ares) over UDP with TCP fallback, raw UDP and
 * TCP packets, connection limits and idle timeouts, and a forwarder to a second server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import { startDnsServer, type DnsServer } from '../src/dns/index.ts';
import { decode, openFixture, query, tcpAsk, udpAsk, udpIoPaths, type Fixture } from '../src/dns/testutil.ts';
import { createMetricsRegistry, silentLogger } from '../src/lib/index.ts';
import { keys } from '../src/registry/index.ts';

for (const { io, skip } of udpIoPaths()) describe(`DNS server over UDP and TCP (UDP: ${io})`, { skip }, () => {
  let fx: Fixture;
  let server: DnsServer;
  let resolver: dnsPromises.Resolver;
  const metrics = createMetricsRegistry();

  before(async () => {
    fx = await openFixture();
    const ns = await fx.namespace('local-1');
    const web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
    await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
    await fx.instance(web, 'i-2', { AWS_INSTANCE_IPV4: '198.18.0.2' });
    const api = await fx.service(ns, 'api', [{ type: 'SRV', ttl: 30 }]);
    await fx.instance(api, 'a-1', { AWS_INSTANCE_IPV4: '198.18.0.11', AWS_INSTANCE_PORT: '8080' });
    const big = await fx.service(ns, 'big', [{ type: 'SRV', ttl: 5 }]);
    for (let i = 1; i <= 60; i++) {
      await fx.instance(big, `a-long-instance-name-${i}`, { AWS_INSTANCE_IPV4: `198.18.7.${i}`, AWS_INSTANCE_PORT: String(8000 + i) });
    }
    server = await startDnsServer({
      view: fx.view,
      address: '127.0.0.1:0',
      maxAnswers: 100,
      logger: silentLogger(),
      metrics,
      maxTcpConnections: 4,
      tcpIdleMs: 300,
      io,
    });
    assert.equal(server.io, io);
    resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${server.address.port}`]);
  });

  after(async () => {
    await server.close();
    await server.close(); // repeatable
    await fx.close();
  });

  test('node resolver: A, SRV, NXDOMAIN, REFUSED', async () => {
    assert.deepEqual((await resolver.resolve4('web.local-1')).sort(), ['198.18.0.1', '198.18.0.2']);
    assert.deepEqual((await resolver.resolve4('WEB.Local-1', { ttl: true })).map((r) => r.ttl), [60, 60]);
    assert.deepEqual(await resolver.resolveSrv('api.local-1'), [{ name: 'a-1.api.local-1', port: 8080, priority: 1, weight: 1 }]);
    assert.deepEqual(await resolver.resolve4('a-1.api.local-1'), ['198.18.0.11']);
    await assert.rejects(resolver.resolve4('nope.local-1'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('example.org'), { code: 'EREFUSED' });
    assert.deepEqual(await resolver.reverse('198.18.0.11'), ['a-1.api.local-1']);
    const soa = await resolver.resolveSoa('local-1');
    assert.equal(soa.nsname, 'ns.dns.local-1');
    assert.equal(soa.minttl, 60);
  });

  test('node resolver falls back to TCP for an answer too big for UDP', async () => {
    const srv = await resolver.resolveSrv('big.local-1');
    assert.equal(srv.length, 60);
  });

  test('raw UDP: TC without EDNS, full answer over TCP, pipelined TCP queries', async () => {
    const udp = decode(await udpAsk(server.address.port, query('big.local-1', 'SRV', { id: 7 })));
    assert.equal(udp.id, 7);
    assert.ok(udp.flag_tc);
    const [full, second] = await tcpAsk(server.address.port, [query('big.local-1', 'SRV', { id: 8 }), query('web.local-1', 'A', { id: 9 })]);
    const a = decode(full!);
    assert.equal(a.id, 8);
    assert.equal(a.answers.length, 60);
    assert.equal(decode(second!).id, 9);
  });

  test('TCP connections are bounded and idle ones are closed', async () => {
    const connect = () => new Promise<net.Socket>((resolve) => { const s = net.connect(server.address.port, '127.0.0.1', () => resolve(s)); });
    const open: net.Socket[] = [];
    for (let i = 0; i < 4; i++) open.push(await connect());
    const closed = open.map((s) => new Promise<void>((resolve) => s.on('close', () => resolve())));
    // A fifth connection past the limit of 4 is served, and the least recently active one (the
    // first) is closed for it: silent connections cannot lock others out of TCP.
    const [fifth] = await tcpAsk(server.address.port, [query('web.local-1', 'A', { id: 12 })]);
    assert.equal(decode(fifth!).rcode, 'NOERROR');
    await closed[0];
    // The other idle ones go after the idle timeout (300 ms here).
    await Promise.all(closed);
    // And the server still takes new connections.
    const [again] = await tcpAsk(server.address.port, [query('web.local-1', 'A', { id: 11 })]);
    assert.equal(decode(again!).rcode, 'NOERROR');
  });

  test('a registration is visible in the next answer, a deregistration too', async () => {
    const ns = [...fx.view.namespaces()][0]!;
    const svc = await fx.service(ns, 'fresh', [{ type: 'A', ttl: 1 }]);
    await fx.instance(svc, 'f-1', { AWS_INSTANCE_IPV4: '198.18.10.1' });
    assert.deepEqual(await resolver.resolve4('fresh.local-1'), ['198.18.10.1']);
    await fx.instance(svc, 'f-2', { AWS_INSTANCE_IPV4: '198.18.10.2' });
    assert.deepEqual((await resolver.resolve4('fresh.local-1')).sort(), ['198.18.10.1', '198.18.10.2']);
    await fx.del(keys.instance(svc.id, 'f-1'));
    assert.deepEqual(await resolver.resolve4('fresh.local-1'), ['198.18.10.2']);
  });

  test('forwarding: names outside the zones go to the upstream, over UDP and TCP', async () => {
    const fx2 = await openFixture();
    const ns2 = await fx2.namespace('upstream.test');
    const svc = await fx2.service(ns2, 'far', [{ type: 'A', ttl: 60 }]);
    await fx2.instance(svc, 'u-1', { AWS_INSTANCE_IPV4: '198.18.20.1' });
    const upstream = await startDnsServer({ view: fx2.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), io });
    const front = await startDnsServer({
      view: fx.view,
      address: '127.0.0.1:0',
      forward: `127.0.0.1:${upstream.address.port}`,
      logger: silentLogger(),
      metrics: createMetricsRegistry(),
      io,
    });
    try {
      const r = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`127.0.0.1:${front.address.port}`]);
      assert.deepEqual(await r.resolve4('far.upstream.test'), ['198.18.20.1']);
      assert.deepEqual((await r.resolve4('web.local-1')).sort(), ['198.18.0.1', '198.18.0.2']);
      const [viaTcp] = await tcpAsk(front.address.port, [query('far.upstream.test', 'A', { id: 77 })]);
      const decoded = decode(viaTcp!);
      assert.equal(decoded.id, 77);
      assert.equal(decoded.answers[0]?.data, '198.18.20.1');
      // Two clients using the same query id at once each get their own answer (ids are remapped).
      const [one, two] = await Promise.all([
        udpAsk(front.address.port, query('far.upstream.test', 'A', { id: 5 })),
        udpAsk(front.address.port, query('nothing.upstream.test', 'A', { id: 5 })),
      ]);
      assert.equal(decode(one).rcode, 'NOERROR');
      assert.equal(decode(two).rcode, 'NXDOMAIN');
      assert.equal(decode(two).id, 5);
      // The upstream refuses what it does not serve; that is relayed as is.
      await assert.rejects(r.resolve4('example.org'), { code: 'EREFUSED' });
    } finally {
      await front.close();
      await upstream.close();
      await fx2.close();
    }
  });

  test('an upstream that does not answer gives SERVFAIL', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    const front = await startDnsServer({
      view: fx.view,
      address: '127.0.0.1:0',
      forward: `127.0.0.1:${silent.address().port}`,
      forwardTimeoutMs: 200,
      logger: silentLogger(),
      metrics: createMetricsRegistry(),
      io,
    });
    try {
      const res = decode(await udpAsk(front.address.port, query('example.org', 'A'), 5000));
      assert.equal(res.rcode, 'SERVFAIL');
    } finally {
      await front.close();
      silent.close();
    }
  });

  test('metrics are exported', async () => {
    const text = await metrics.metrics();
    assert.match(text, /pharos_dns_queries_total\{type="SRV",rcode="NOERROR"\} [1-9]/);
    assert.match(text, /pharos_dns_dropped_total\{reason="tcp_limit"\} [1-9]/);
  });
});
