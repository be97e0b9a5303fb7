/**
 * Extra listeners: one DNS server answering on several addresses (e.g. 127.0.0.1 for the host and
 * a task bridge's gateway for network namespaces) with one handler chain, cache and metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { promises as dnsPromises } from 'node:dns';
import { createMetricsRegistry, isPharosError, silentLogger } from '../lib/index.ts';
import { DNS_BAD_ADDRESS } from './errors.ts';
import { startDnsServer, type DnsServer } from './server.ts';
import type { ServiceRecord } from '../registry/index.ts';
import { decode, openFixture, query, udpIoPaths, type Fixture } from './testutil.ts';

/** A second loopback address (all of 127.0.0.0/8 is local on Linux). */
const SECOND = '127.0.0.2';

function resolverFor(host: string, port: number): dnsPromises.Resolver {
  const r = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`${host}:${port}`]);
  return r;
}

/** One length-prefixed query over TCP to host:port. */
function tcpQuery(host: string, port: number, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.end();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    sock.on('error', reject);
    sock.setTimeout(2000, () => {
      sock.destroy();
      reject(new Error('TCP timeout'));
    });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    sock.write(Buffer.concat([len, msg]));
  });
}

for (const { io, skip } of udpIoPaths()) describe(`DNS server listeners (UDP: ${io})`, { skip }, () => {
  let fx: Fixture;
  let server: DnsServer;
  let web: ServiceRecord;
  const metrics = createMetricsRegistry();

  before(async () => {
    fx = await openFixture();
    const ns = await fx.namespace('local-1');
    web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
    await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
    server = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics, io });
    assert.equal(server.io, io);
  });

  after(async () => {
    await server.close();
    await fx.close();
  });

  test('an added address answers the same zones over UDP and TCP, from the same cache and metrics', async () => {
    const added = await server.addListener({ host: SECOND, port: 0 });
    assert.equal(added.host, SECOND);
    assert.notEqual(added.port, 0);
    assert.deepEqual(server.listeners(), [server.address, added]);
    assert.deepEqual(await resolverFor(SECOND, added.port).resolve4('web.local-1'), ['198.18.0.1']);
    assert.deepEqual(await resolverFor('127.0.0.1', server.address.port).resolve4('web.local-1'), ['198.18.0.1']);
    const overTcp = decode(await tcpQuery(SECOND, added.port, query('web.local-1', 'A')));
    assert.deepEqual(overTcp.answers.map((a) => a.data), ['198.18.0.1']);
    // One cache: the entry built for the first answer served the others.
    assert.equal(server.responder.registry.size, 1);
    const text = await metrics.metrics();
    assert.match(text, /pharos_dns_queries_total\{type="A",rcode="NOERROR"\} 3/);
    // A registration shows on every address at once.
    await fx.instance(web, 'i-2', { AWS_INSTANCE_IPV4: '198.18.0.2' });
    assert.deepEqual((await resolverFor(SECOND, added.port).resolve4('web.local-1')).sort(), ['198.18.0.1', '198.18.0.2']);
  });

  test('adding an address already served resolves with it; a port in use is a clear error with nothing left bound', async () => {
    const again = await server.addListener(`${server.address.host}:${server.address.port}`);
    assert.deepEqual(again, server.address);
    const before = server.listeners().length;
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, SECOND, resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      await assert.rejects(server.addListener({ host: SECOND, port }), (err) => {
        assert.ok(isPharosError(err, DNS_BAD_ADDRESS), String(err));
        assert.match(err.message, new RegExp(`${SECOND}:${port}`));
        return true;
      });
      assert.equal(server.listeners().length, before);
    } finally {
      holder.close();
    }
    await assert.rejects(server.addListener('not-an-ip:53'), (err) => isPharosError(err, DNS_BAD_ADDRESS));
  });

  test('close closes every listener, and no listener can be added afterwards', async () => {
    const s = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), io });
    const extra = await s.addListener({ host: SECOND, port: 0 });
    await s.close();
    await assert.rejects(tcpQuery(SECOND, extra.port, query('web.local-1', 'A')), { code: 'ECONNREFUSED' });
    await assert.rejects(tcpQuery('127.0.0.1', s.address.port, query('web.local-1', 'A')), { code: 'ECONNREFUSED' });
    await assert.rejects(s.addListener({ host: SECOND, port: 0 }), (err) => isPharosError(err, DNS_BAD_ADDRESS));
    assert.deepEqual(s.listeners(), []);
  });
});
