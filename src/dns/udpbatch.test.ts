/**
 * Batched UDP I/O (udpbatch.ts, native/udpbatch): the fallback to node's dgram when the addon
 * cannot load, byte-for-byte the same answers as dgram for odd and malformed datagrams, bursts
 * larger than a batch from many senders, RRL per sender, and IPv6. The other socket tests
 * (listeners, RRL, e2e, fuzz, workers, system) run over both paths through `udpIoPaths`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { createMetricsRegistry, eventually, ManualClock, silentLogger } from '../lib/index.ts';
import { startDnsServer, type DnsServer } from './server.ts';
import { decode, openFixture, query, udpIoPaths, type Fixture } from './testutil.ts';

const batch = udpIoPaths().find((p) => p.io === 'batch')!;

test('without the addon, auto answers through dgram and warns once; --dns-io batch refuses to start', async () => {
  // A child process: the addon is loaded (or not) once per process.
  const script = `
    import { startDnsServer } from ${JSON.stringify(new URL('./server.ts', import.meta.url).href)};
    import { openFixture, query, udpAsk, decode } from ${JSON.stringify(new URL('./testutil.ts', import.meta.url).href)};
    import { createLogger, createMetricsRegistry } from ${JSON.stringify(new URL('../lib/index.ts', import.meta.url).href)};
    const fx = await openFixture();
    const ns = await fx.namespace('local-1');
    const web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
    await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.150.9' });
    const logger = createLogger('warn');
    for (let i = 0; i < 2; i++) {
      const s = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger, metrics: createMetricsRegistry() });
      const r = decode(await udpAsk(s.address.port, query('web.local-1', 'A')));
      console.log(s.io, r.answers[0].data);
      await s.close();
    }
    await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger, metrics: createMetricsRegistry(), io: 'batch' }).catch((err) => console.log(err.code));
    await fx.close();
  `;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, PHAROS_UDPBATCH_ADDON: '/nonexistent/udpbatch.node' }, cwd: fileURLToPath(new URL('../..', import.meta.url)) }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
  assert.deepEqual(stdout.trim().split('\n'), ['dgram 198.18.150.9', 'dgram 198.18.150.9', 'DnsIoUnavailable']);
  const warnings = stderr.split('\n').filter((l) => l.includes('batched UDP I/O unavailable'));
  assert.equal(warnings.length, 1, stderr);
  assert.match(warnings[0]!, /nonexistent/);
});

describe('batched UDP next to dgram', { skip: batch.skip }, () => {
  let fx: Fixture;
  const servers: Record<'batch' | 'dgram', DnsServer> = {} as never;

  before(async () => {
    fx = await openFixture();
    const ns = await fx.namespace('local-1');
    const web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
    await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.150.1' });
    for (const io of ['batch', 'dgram'] as const) {
      servers[io] = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), io });
      assert.equal(servers[io].io, io);
    }
  });

  after(async () => {
    for (const s of Object.values(servers)) await s.close();
    await fx.close();
  });

  /** What a server sends back to `packet`: the replies that come before the answer to a marker query sent after it. */
  async function repliesTo(port: number, packet: Buffer): Promise<string[]> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const marker = query('web.local-1', 'A', { id: 0xbeef });
    const got: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer to the marker query')), 3000);
        sock.on('message', (m) => {
          if (m.length >= 2 && m.readUInt16BE(0) === 0xbeef) {
            clearTimeout(timer);
            resolve();
          } else got.push(m.toString('hex'));
        });
        sock.send(packet, port, '127.0.0.1');
        sock.send(marker, port, '127.0.0.1');
      });
    } finally {
      sock.close();
    }
    return got;
  }

  test('odd and malformed datagrams get the same bytes (or the same silence) as through dgram', async () => {
    const valid = query('web.local-1', 'A', { id: 1 });
    const header = (flags: number, qd: number) => Buffer.from([0, 2, flags >> 8, flags & 0xff, 0, qd, 0, 0, 0, 0, 0, 0]);
    const edns1 = Buffer.from(query('web.local-1', 'A', { id: 3, edns: 1232 }));
    edns1[edns1.length - 6] = 1; // OPT TTL's version byte
    const loop = Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    const cases: [string, Buffer][] = [
      ['empty datagram', Buffer.alloc(0)],
      ['shorter than a header', Buffer.from([1, 2, 3, 4, 5])],
      ['a response', Buffer.concat([header(0x8000, 1), valid.subarray(12)])],
      ['no question', header(0x0100, 0)],
      ['opcode STATUS', Buffer.concat([header(0x1100, 1), valid.subarray(12)])],
      ['a compression loop in the question', loop],
      ['EDNS version 1', edns1],
      ['a valid query', valid],
      ['a valid query with 60,000 bytes of junk after it', Buffer.concat([valid, Buffer.alloc(60_000, 0xab)])],
      ['two questions', Buffer.concat([header(0x0100, 2), valid.subarray(12), valid.subarray(12)])],
    ];
    for (const [name, packet] of cases) {
      const viaBatch = await repliesTo(servers.batch.address.port, packet);
      const viaDgram = await repliesTo(servers.dgram.address.port, packet);
      assert.deepEqual(viaBatch, viaDgram, name);
    }
  });

  test('a burst of more datagrams than a batch, from many senders: each answer goes to its sender', async () => {
    const SENDERS = 8;
    const EACH = 100;
    const port = servers.batch.address.port;
    await Promise.all(
      Array.from({ length: SENDERS }, async (_, s) => {
        const sock = dgram.createSocket('udp4');
        await new Promise<void>((r) => sock.bind(0, `127.0.0.${s + 1}`, () => r()));
        const seen = new Set<number>();
        try {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`sender ${s}: ${seen.size} of ${EACH} answered`)), 5000);
            sock.on('message', (m) => {
              const r = decode(m);
              assert.equal(r.answers[0]?.data, '198.18.150.1');
              assert.equal(r.id >> 8, s, 'an answer to another sender');
              seen.add(r.id);
              if (seen.size === EACH) {
                clearTimeout(timer);
                resolve();
              }
            });
            for (let i = 0; i < EACH; i++) sock.send(query('web.local-1', 'A', { id: (s << 8) | i }), port, '127.0.0.1');
          });
        } finally {
          sock.close();
        }
      }),
    );
  });

  test('RRL counts each sender network on its own', async () => {
    // A clock that stands still: no bucket refills, so each network gets exactly the burst.
    const metrics = createMetricsRegistry();
    const limited = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics, clock: new ManualClock(0), io: 'batch', rrl: { responsesPerSecond: 5, slip: 0 } });
    const socks: dgram.Socket[] = [];
    try {
      const counts = await Promise.all(
        ['127.0.0.1', '127.0.1.1'].map(async (from) => {
          const sock = dgram.createSocket('udp4');
          socks.push(sock);
          await new Promise<void>((r) => sock.bind(0, from, () => r()));
          let n = 0;
          sock.on('message', () => n++);
          for (let i = 0; i < 40; i++) sock.send(query('web.local-1', 'A', { id: i }), limited.address.port, '127.0.0.1');
          return () => n;
        }),
      );
      const dropped = async () => (await metrics.getSingleMetric('pharos_dns_rrl_total')!.get()).values.find((v) => v.labels['action'] === 'dropped')?.value;
      await eventually(async () => (await dropped()) === 70, { message: 'all 80 queries seen' });
      await eventually(() => counts.every((n) => n() === 5), { message: `answers per network: ${counts.map((n) => n())}` });
    } finally {
      for (const s of socks) s.close();
      await limited.close();
    }
  });

  test('IPv6: a [::1] listener answers through the batch path', async () => {
    const v6 = await startDnsServer({ view: fx.view, address: '[::1]:0', logger: silentLogger(), metrics: createMetricsRegistry(), io: 'batch' });
    try {
      const sock = dgram.createSocket('udp6');
      const reply = await new Promise<Buffer>((resolve) => {
        sock.on('message', resolve);
        sock.send(query('web.local-1', 'A', { id: 6 }), v6.address.port, '::1');
      });
      sock.close();
      assert.equal(decode(reply).answers[0]?.data, '198.18.150.1');
    } finally {
      await v6.close();
    }
  });
});
