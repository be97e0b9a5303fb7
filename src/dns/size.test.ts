/**
 * Answer size: however many records a name has, every answer fits its transport. Over TCP a
 * message cannot pass 65,535 bytes (the length prefix), so the record list is cut, first records
 * kept; over UDP the 512-byte (or EDNS, at most 1232) limit holds with TC set, and a real resolver
 * (c-ares) retries over TCP and gets the records.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { createMetricsRegistry, silentLogger } from '../lib/index.ts';
import { startDnsServer, type DnsServer } from './server.ts';
import { decode, openFixture, query, tcpAsk, udpAsk, type Fixture, type Reply } from './testutil.ts';

/** Long labels make every SRV record ~200 bytes: 400 instances are well past 64 KiB. */
const ZONE = `${'z'.repeat(60)}.${'y'.repeat(60)}.example`;
const INSTANCES = 400;
const instanceId = (i: number) => `${'i'.repeat(58)}-${String(i).padStart(4, '0')}`;

describe('answers never exceed their transport', () => {
  let fx: Fixture;
  let server: DnsServer;
  let port: number;

  before(async () => {
    fx = await openFixture();
    const ns = await fx.namespace(ZONE);
    const svc = await fx.service(ns, 'svc', [
      { type: 'A', ttl: 5 },
      { type: 'AAAA', ttl: 5 },
      { type: 'SRV', ttl: 5 },
    ]);
    // Every instance on one IPv4 too, so its PTR answer lists 400 long host names.
    for (let i = 0; i < INSTANCES; i++) {
      await fx.instance(svc, instanceId(i), { AWS_INSTANCE_IPV4: '198.18.0.7', AWS_INSTANCE_IPV6: `2001:db8::${i.toString(16)}`, AWS_INSTANCE_PORT: String(1000 + i) });
    }
    // 100 SRV records (~21 KB): fits TCP whole, but additional records sit past a pointer's 16 KiB reach.
    const mid = await fx.service(ns, 'mid', [{ type: 'SRV', ttl: 5 }]);
    for (let i = 0; i < 100; i++) await fx.instance(mid, instanceId(i), { AWS_INSTANCE_IPV4: '198.18.0.8', AWS_INSTANCE_PORT: '80' });
    server = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), maxAnswers: 1000, io: 'dgram' });
    port = server.address.port;
  });

  after(async () => {
    await server?.close();
    await fx?.close();
  });

  /** Checks the message is whole: every count matches what dns-packet decodes, SRV extras name an SRV target. */
  function whole(raw: Buffer, limit: number): Reply {
    assert.ok(raw.length <= limit, `${raw.length} bytes > ${limit}`);
    const res = decode(raw);
    assert.equal(raw.readUInt16BE(6), res.answers.length);
    assert.equal(raw.readUInt16BE(10), res.additionals.length);
    return res;
  }

  for (const [name, type] of [
    ['svc.' + ZONE, 'SRV'],
    ['7.0.18.198.in-addr.arpa', 'PTR'],
  ] as const) {
    test(`${type}: over TCP the record list is cut to fit 65,535 bytes, first records kept, no TC`, async () => {
      const [raw] = await tcpAsk(port, [query(name, type)]);
      const res = whole(raw!, 0xffff);
      assert.equal(res.rcode, 'NOERROR');
      assert.ok(!res.flag_tc);
      assert.ok(res.answers.length > 100 && res.answers.length < INSTANCES, `${res.answers.length} answers`);
      assert.ok(raw!.length > 60_000, 'as many as fit');
      if (type === 'SRV') {
        // The additional records past offset 16,383 cannot point at their target: each must still name one.
        const targets = new Set(res.answers.map((a) => (a.data as { target: string }).target));
        assert.ok(res.additionals.length > 0);
        for (const extra of res.additionals) assert.ok(targets.has(extra.name), `additional ${extra.name} names no SRV target`);
      }
    });

    test(`${type}: over UDP TC is set within 512 bytes, or the EDNS size`, async () => {
      const plain = whole(await udpAsk(port, query(name, type)), 512);
      assert.ok(plain.flag_tc);
      assert.equal(plain.answers.length, 0);
      const edns = whole(await udpAsk(port, query(name, type, { edns: 4096 })), 1232);
      assert.ok(edns.flag_tc);
    });
  }

  test('SRV past 16 KiB: every additional record still names its target (no wrapped pointer)', async () => {
    const [raw] = await tcpAsk(port, [query('mid.' + ZONE, 'SRV')]);
    const res = whole(raw!, 0xffff);
    assert.ok(raw!.length > 16_384);
    assert.equal(res.answers.length, 100);
    assert.equal(res.additionals.filter((a) => a.type === 'A').length, 100);
    const targets = new Set(res.answers.map((a) => (a.data as { target: string }).target));
    for (const extra of res.additionals) if (extra.type === 'A') assert.ok(targets.has(extra.name), `additional ${extra.name} names no SRV target`);
  });

  test('a real resolver (c-ares) gets the records over TCP after TC', async () => {
    const r = new dnsPromises.Resolver({ timeout: 3000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    assert.equal((await r.resolve6('svc.' + ZONE)).length, INSTANCES, 'AAAA: all 400 fit in 64 KiB');
    const ptr = await r.reverse('198.18.0.7');
    assert.ok(ptr.length > 100 && ptr.length < INSTANCES, `${ptr.length} PTR records`);
  });
});
