import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry, eventually, silentLogger } from '../lib/index.ts';
import { ResponseRateLimiter, truncated } from './rrl.ts';
import { startDnsServer, type DnsServer } from './server.ts';
import { decode, openFixture, query, tcpAsk, udpIoPaths, type Fixture } from './testutil.ts';

describe('response-rate limiting', () => {
  test('a token bucket per client /24 and answer kind: past the rate, every slip-th answer goes out truncated', () => {
    let now = 0;
    const rrl = new ResponseRateLimiter({ responsesPerSecond: 5, slip: 2 }, () => now);
    const answer = Buffer.from(query('web.local-1', 'A'));
    answer[2] = 0x84; // QR + AA
    const actions = Array.from({ length: 11 }, () => rrl.check('203.0.113.7', answer));
    assert.deepEqual(actions, ['send', 'send', 'send', 'send', 'send', 'drop', 'slip', 'drop', 'slip', 'drop', 'slip']);
    // Another address of the same /24 shares the bucket; another network has its own.
    assert.equal(rrl.check('203.0.113.200', answer), 'drop');
    assert.equal(rrl.check('198.51.100.1', answer), 'send');
    // A name in other letter case is the same answer.
    const upper = Buffer.from(query('WEB.local-1', 'A'));
    upper[2] = 0x84;
    assert.equal(rrl.check('203.0.113.7', upper), 'slip');
    // Tokens come back with time, up to the burst.
    now += 1000;
    assert.deepEqual(Array.from({ length: 6 }, () => rrl.check('203.0.113.7', answer)), ['send', 'send', 'send', 'send', 'send', 'drop']);
    // Errors are lumped per network, whatever the name: random names do not escape the limit.
    const nx = (name: string) => {
      const b = Buffer.from(query(name, 'A'));
      b[2] = 0x84;
      b[3] = 3; // NXDOMAIN
      return b;
    };
    const rrl2 = new ResponseRateLimiter({ responsesPerSecond: 2, slip: 0 }, () => now);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => rrl2.check('2001:db8::1', nx(`${n}.local-1`))), ['send', 'send', 'drop', 'drop']);
  });

  test('a truncated answer is the header and question with TC and no records', () => {
    const res = decode(truncated(Buffer.concat([query('web.local-1', 'A', { id: 77 }), Buffer.alloc(40)])));
    assert.equal(res.id, 77);
    assert.equal(res.flag_tc, true);
    assert.equal(res.answers.length, 0);
    assert.equal(res.questions[0]?.name, 'web.local-1');
  });

  for (const { io, skip } of udpIoPaths()) describe(`on a real UDP socket (${io})`, { skip }, () => {
    let fx: Fixture;
    let server: DnsServer;
    before(async () => {
      fx = await openFixture();
      const ns = await fx.namespace('local-1');
      const svc = await fx.service(ns, 'big', [{ type: 'A', ttl: 5 }]);
      for (let i = 1; i <= 8; i++) await fx.instance(svc, `b-${i}`, { AWS_INSTANCE_IPV4: `198.18.80.${i}` });
      server = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), rrl: { responsesPerSecond: 10, slip: 2 }, io });
    });
    after(async () => {
      await server.close();
      await fx.close();
    });

    test('a forged flood is cut to the rate; reflected bytes past it stay under the query size; TCP still answers', async () => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const replies: Buffer[] = [];
      sock.on('message', (m) => replies.push(m));
      const q = query('big.local-1', 'A');
      const N = 200;
      for (let i = 0; i < N; i++) sock.send(q, server.address.port, '127.0.0.1');
      // At least the rate answered plus half of the rest slipped (the bucket may refill a token meanwhile).
      await eventually(() => replies.length >= 10 + (N - 14) / 2, { message: `only ${replies.length} replies` });
      sock.close();
      const answered = replies.filter((r) => !decode(r).flag_tc);
      const slipped = replies.filter((r) => decode(r).flag_tc);
      assert.ok(answered.length >= 10 && answered.length <= 14, `answered ${answered.length}`);
      assert.ok(Math.abs(slipped.length - (N - answered.length) / 2) <= 2, `slipped ${slipped.length}`);
      const beyond = slipped.reduce((n, r) => n + r.length, 0) / (N - answered.length);
      assert.ok(beyond <= 2 * q.length, `reflected ${beyond} bytes per limited query of ${q.length}`);
      const [overTcp] = await tcpAsk(server.address.port, [q]);
      assert.equal(decode(overTcp!).answers.length, 8);
    });
  });
});
