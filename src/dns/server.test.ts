import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry, silentLogger, type Registry as MetricsRegistry } from '../lib/index.ts';
import type { NamespaceRecord, ServiceRecord } from '../registry/index.ts';
import { keys } from '../registry/index.ts';
import { DnsResponder } from './server.ts';
import { decode, openFixture, query, sectionText, type Fixture, type Reply } from './testutil.ts';
import { ipv6Bytes, parseQuery } from './wire.ts';

async function ask(dns: DnsResponder, msg: Buffer, transport: 'udp' | 'tcp' = 'udp'): Promise<Reply> {
  const out = await dns.respond(msg, transport);
  assert.ok(out, 'no answer');
  return decode(out);
}

describe('routing, protocol hygiene and invalidation', () => {
  let fx: Fixture;
  let dns: DnsResponder;
  let metrics: MetricsRegistry;
  let ns: NamespaceRecord;
  let many: ServiceRecord;
  let weighted: ServiceRecord;
  let big: ServiceRecord;

  before(async () => {
    fx = await openFixture();
    ns = await fx.namespace('local-1');
    many = await fx.service(ns, 'many', [{ type: 'A', ttl: 5 }]);
    for (let i = 1; i <= 12; i++) await fx.instance(many, `m-${i}`, { AWS_INSTANCE_IPV4: `198.18.5.${i}` });
    weighted = await fx.service(ns, 'weighted', [{ type: 'A', ttl: 5 }], { routing: 'WEIGHTED' });
    for (let i = 1; i <= 3; i++) await fx.instance(weighted, `w-${i}`, { AWS_INSTANCE_IPV4: `198.18.6.${i}` });
    big = await fx.service(ns, 'big', [{ type: 'SRV', ttl: 5 }]);
    for (let i = 1; i <= 40; i++) {
      await fx.instance(big, `a-rather-long-instance-name-${i}`, { AWS_INSTANCE_IPV4: `198.18.7.${i}`, AWS_INSTANCE_PORT: String(8000 + i) });
    }
    metrics = createMetricsRegistry();
    dns = new DnsResponder({ view: fx.view, logger: silentLogger(), metrics, maxAnswers: 40 });
  });

  after(async () => {
    await dns.close();
    dns.registry.close();
    await fx.close();
  });

  test('MULTIVALUE returns at most the cap, a random subset that varies', async () => {
    const capped = new DnsResponder({ view: fx.view, logger: silentLogger(), metrics: createMetricsRegistry(), maxAnswers: 8 });
    const seen = new Set<string>();
    const firsts = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const res = await ask(capped, query('many.local-1', 'A'));
      assert.equal(res.answers.length, 8);
      const ips = res.answers.map((a) => a.data as string);
      assert.equal(new Set(ips).size, 8, 'no duplicates');
      ips.forEach((ip) => seen.add(ip));
      firsts.add(ips[0]!);
    }
    assert.equal(seen.size, 12, 'every instance gets answered sometimes');
    assert.ok(firsts.size > 1, 'order varies');
    capped.registry.close();
  });

  test('MULTIVALUE under the cap rotates which record comes first', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 60; i++) orders.add(String((await ask(dns, query('many.local-1', 'A'))).answers[0]!.data));
    assert.ok(orders.size > 3);
  });

  test('WEIGHTED returns one random record', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const res = await ask(dns, query('weighted.local-1', 'A'));
      assert.equal(res.answers.length, 1);
      seen.add(res.answers[0]!.data as string);
    }
    assert.equal(seen.size, 3);
  });

  test('EDNS0: OPT in the reply, client size honoured, TC only when the answer itself does not fit', async () => {
    // 40 SRV records with long targets: ~2.4 KB of answers plus additional A records.
    const plain = await ask(dns, query('big.local-1', 'SRV'));
    assert.ok(plain.flag_tc, 'truncated without EDNS');
    assert.equal(plain.answers.length, 0);
    assert.equal(plain.additionals.length, 0);

    const edns = await ask(dns, query('big.local-1', 'SRV', { edns: 4096 }));
    assert.ok(edns.flag_tc, 'still over the 1232-byte cap');
    const opt = edns.additionals.find((a) => a.type === 'OPT') as unknown as { udpPayloadSize: number } | undefined;
    assert.ok(opt, 'OPT echoed');
    assert.equal(opt.udpPayloadSize, 1232);

    const tcp = await ask(dns, query('big.local-1', 'SRV'), 'tcp');
    assert.ok(!tcp.flag_tc);
    assert.equal(tcp.answers.length, 40);
    assert.equal(tcp.additionals.length, 40);

    // 12 A records fit in 512 bytes; with EDNS the OPT comes along.
    const a = await ask(dns, query('many.local-1', 'A', { edns: 1400 }));
    assert.equal(a.answers.length, 12);
    assert.ok(!a.flag_tc);
    assert.equal(a.additionals.filter((x) => x.type === 'OPT').length, 1);
  });

  test('additional records are dropped before answers are truncated', async () => {
    const svc = await fx.service(ns, 'mid', [{ type: 'SRV', ttl: 5 }]);
    for (let i = 1; i <= 8; i++) await fx.instance(svc, `instance-number-${i}`, { AWS_INSTANCE_IPV4: `198.18.8.${i}`, AWS_INSTANCE_PORT: '80' });
    const res = await ask(dns, query('mid.local-1', 'SRV'));
    assert.ok(!res.flag_tc);
    assert.equal(res.answers.length, 8);
    assert.equal(res.additionals.length, 0);
    const withEdns = await ask(dns, query('mid.local-1', 'SRV', { edns: 1232 }));
    assert.equal(withEdns.additionals.filter((x) => x.type === 'A').length, 8);
  });

  test('instance ids that make no valid DNS name are left out of SRV, not encoded broken', async () => {
    const svc = await fx.service(ns, 'odd', [{ type: 'SRV', ttl: 5 }]);
    await fx.instance(svc, 'a..b', { AWS_INSTANCE_IPV4: '198.18.11.1', AWS_INSTANCE_PORT: '80' });
    await fx.instance(svc, 'x'.repeat(64), { AWS_INSTANCE_IPV4: '198.18.11.2', AWS_INSTANCE_PORT: '80' });
    await fx.instance(svc, 'ok/1:2@3', { AWS_INSTANCE_IPV4: '198.18.11.3', AWS_INSTANCE_PORT: '80' });
    const res = await ask(dns, query('odd.local-1', 'SRV'));
    assert.deepEqual(sectionText(res.answers), ['odd.local-1. 5 IN SRV 1 1 80 ok/1:2@3.odd.local-1.']);
  });

  test('a second namespace with the same name does not take over the zone', async () => {
    const twin = await fx.namespace('local-1', { createDate: Date.now(), soaTtl: 1 });
    const res = await ask(dns, query('nothing.local-1', 'A'));
    assert.equal(res.authorities[0]?.ttl, 60, 'SOA of the older namespace');
    await fx.del(keys.namespace(twin.id));
  });

  test('a big MULTIVALUE answer under the cap is pre-encoded in a bounded number of rotations', async () => {
    const svc = await fx.service(ns, 'wide', [{ type: 'A', ttl: 5 }]);
    for (let i = 1; i <= 30; i++) await fx.instance(svc, `w-${i}`, { AWS_INSTANCE_IPV4: `198.18.12.${i}` });
    const res = await ask(dns, query('wide.local-1', 'A', { edns: 1232 }));
    assert.equal(res.answers.length, 30);
    const parsed = parseQuery(query('wide.local-1', 'A'));
    assert.ok(!('fail' in parsed));
    assert.equal(dns.registry.lookup(parsed.key, parsed.qtype)?.variants.length, 16);
  });

  test('the cache answers class IN only: CHAOS queries are refused', async () => {
    await ask(dns, query('many.local-1', 'A'));
    const chaos = Buffer.from(query('many.local-1', 'A'));
    chaos.writeUInt16BE(3, chaos.length - 2); // QCLASS CH
    assert.equal((await ask(dns, chaos)).rcode, 'REFUSED');
  });

  test('in-process fuzz: no input makes the responder throw, every reply decodes', async () => {
    // `answer` is the responder without its SERVFAIL safety net, so a bug shows as a throw here.
    const answer = (dns as unknown as { answer(m: Buffer, t: 'udp' | 'tcp'): Buffer | Promise<Buffer> | undefined }).answer.bind(dns);
    const seeds = [query('many.local-1', 'A'), query('big.local-1', 'SRV', { edns: 1232 }), query('nothing.local-1', 'AAAA'), query('local-1', 'SOA')];
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    for (let i = 0; i < 30_000; i++) {
      const b = Buffer.from(seeds[i % seeds.length]!);
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      b[2] = b[2]! & 0x7f;
      const msg = rand() < 0.2 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
      const out = await answer(msg, rand() < 0.5 ? 'udp' : 'tcp');
      if (out) decode(out);
    }
  });

  test('FORMERR, NOTIMP, BADVERS, and silence for responses and runts', async () => {
    const base = query('many.local-1', 'A');
    const twoQuestions = Buffer.from(base);
    twoQuestions.writeUInt16BE(2, 4);
    assert.equal((await ask(dns, twoQuestions)).rcode, 'FORMERR');
    assert.equal((await ask(dns, base.subarray(0, 20))).rcode, 'FORMERR');
    const notify = Buffer.from(base);
    notify[2] = (notify[2]! & 0x87) | (4 << 3);
    const notimp = await ask(dns, notify);
    assert.equal(notimp.rcode, 'NOTIMP');
    assert.equal(notimp.opcode, 'NOTIFY');
    const v1 = query('many.local-1', 'A', { edns: 1232 });
    v1[v1.length - 5] = 1; // OPT version byte (extended rcode, version, flags, rdlength end the message)
    const badvers = await dns.respond(v1, 'udp');
    assert.ok(badvers instanceof Buffer);
    assert.equal(badvers[3]! & 0xf, 0);
    assert.equal(badvers[badvers.length - 6], 1, 'extended rcode BADVERS (16) = upper bits 1');
    // EDNS options: a list that does not fill the OPT's RDATA exactly, or a COOKIE of a length
    // RFC 7873 refuses, is FORMERR (they were ignored); a well-formed client cookie is answered.
    const withOption = (option: number[]) => {
      const q = query('many.local-1', 'A', { edns: 1232 });
      q.writeUInt16BE(option.length, q.length - 2); // the OPT's RDLENGTH ends the message
      return Buffer.concat([q, Buffer.from(option)]);
    };
    const cookie = (n: number) => [0, 10, 0, n, ...Array.from({ length: n }, (_, i) => i)];
    assert.equal((await ask(dns, withOption(cookie(8)))).rcode, 'NOERROR');
    assert.equal((await ask(dns, withOption(cookie(24)))).rcode, 'NOERROR');
    assert.equal((await ask(dns, withOption(cookie(5)))).rcode, 'FORMERR');
    assert.equal((await ask(dns, withOption(cookie(41)))).rcode, 'FORMERR');
    assert.equal((await ask(dns, withOption([0, 8, 0, 9, 0, 1]))).rcode, 'FORMERR', 'option longer than the RDATA');
    assert.equal((await ask(dns, withOption([0, 8, 0]))).rcode, 'FORMERR', 'a partial option header');
    const response = Buffer.from(base);
    response[2] = response[2]! | 0x80;
    assert.equal(dns.respond(response, 'udp'), undefined);
    assert.equal(dns.respond(Buffer.from([1, 2, 3]), 'udp'), undefined);
  });

  test('an unchanged service keeps its cached answers when another changes', async () => {
    await ask(dns, query('many.local-1', 'A'));
    await ask(dns, query('weighted.local-1', 'A'));
    const parsed = parseQuery(query('many.local-1', 'A'));
    assert.ok(!('fail' in parsed));
    const before = dns.registry.lookup(parsed.key, parsed.qtype);
    await fx.instance(weighted, 'w-4', { AWS_INSTANCE_IPV4: '198.18.6.4' });
    assert.equal(dns.registry.lookup(parsed.key, parsed.qtype), before, 'same cached entry object');
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add((await ask(dns, query('weighted.local-1', 'A'))).answers[0]!.data as string);
    assert.ok(seen.has('198.18.6.4'), 'changed service answers the new instance');
  });

  test('register, health change and deregister are visible in the next answer', async () => {
    const svc = await fx.service(ns, 'live', [{ type: 'A', ttl: 5 }], { healthCheckCustomConfig: { failureThreshold: 1 } });
    assert.deepEqual(sectionText((await ask(dns, query('live.local-1', 'A'))).answers), []);
    await fx.instance(svc, 'l-1', { AWS_INSTANCE_IPV4: '198.18.9.1' });
    await fx.instance(svc, 'l-2', { AWS_INSTANCE_IPV4: '198.18.9.2' });
    assert.equal((await ask(dns, query('live.local-1', 'A'))).answers.length, 2);
    await fx.health(svc, 'l-2', 'UNHEALTHY');
    assert.deepEqual(sectionText((await ask(dns, query('live.local-1', 'A'))).answers), ['live.local-1. 5 IN A 198.18.9.1']);
    await fx.del(keys.instance(svc.id, 'l-1'));
    // The only one left is unhealthy: fail open.
    assert.deepEqual(sectionText((await ask(dns, query('live.local-1', 'A'))).answers), ['live.local-1. 5 IN A 198.18.9.2']);
    assert.equal((await ask(dns, query('l-1.live.local-1', 'A'))).rcode, 'NXDOMAIN');
    await fx.del(keys.instance(svc.id, 'l-2'));
    await fx.del(keys.service(svc.id));
    assert.equal((await ask(dns, query('live.local-1', 'A'))).rcode, 'NXDOMAIN');
  });

  test('a new namespace becomes a zone; a deleted one stops being one', async () => {
    assert.equal((await ask(dns, query('x.later', 'A'))).rcode, 'REFUSED');
    const later = await fx.namespace('later', { soaTtl: 5 });
    assert.equal((await ask(dns, query('x.later', 'A'))).rcode, 'NXDOMAIN');
    await fx.del(keys.namespace(later.id));
    assert.equal((await ask(dns, query('x.later', 'A'))).rcode, 'REFUSED');
  });

  test('metrics count queries by type and rcode, and propagation delay', async () => {
    await ask(dns, query('nothing.local-1', 'AAAA'));
    const text = await metrics.metrics();
    assert.match(text, /pharos_dns_queries_total\{type="AAAA",rcode="NXDOMAIN"\} [1-9]/);
    assert.match(text, /pharos_dns_queries_total\{type="A",rcode="NOERROR"\} [1-9]/);
    assert.match(text, /pharos_dns_propagation_delay_seconds_count [1-9]/);
    assert.match(text, /pharos_dns_answer_duration_seconds_count [1-9]/);
  });

  test('ipv6 text parses like the kernel does', () => {
    assert.equal(ipv6Bytes('2001:db8::1')?.toString('hex'), '20010db8000000000000000000000001');
    assert.equal(ipv6Bytes('::ffff:198.18.0.1')?.toString('hex'), '00000000000000000000ffffc6120001');
    assert.equal(ipv6Bytes('::')?.toString('hex'), '0'.repeat(32));
    assert.equal(ipv6Bytes('1::2::3'), undefined);
    assert.equal(ipv6Bytes('fe80::1%eth0'), undefined);
  });
});
