/**
 * Throws random and mutated packets at a running DNS server over UDP and TCP, then checks that it
 * still answers correctly: bad input may get FORMERR or silence, never a crash or a stuck socket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { startDnsServer, type DnsServer } from '../src/dns/index.ts';
import { decode, openFixture, query, tcpAsk, udpAsk, type Fixture } from '../src/dns/testutil.ts';
import { createMetricsRegistry, eventually, silentLogger } from '../src/lib/index.ts';

/** Enough packets to hit every parser branch many times while keeping the file to a few seconds. */
const UDP_PACKETS = 20_000;
const TCP_STREAMS = 40;

let fx: Fixture;
let server: DnsServer;

/** A tiny seeded PRNG so a failure can be replayed (the seed is in the test name). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.DNS_FUZZ_SEED ?? Date.now() % 1_000_000);

function samples(rand: () => number): Buffer[] {
  const valid = [
    query('web.local-1', 'A'),
    query('api.local-1', 'SRV', { edns: 1232 }),
    query('nope.local-1', 'AAAA'),
    query('11.0.18.198.in-addr.arpa', 'PTR'),
    query('example.org', 'A', { edns: 4096 }),
  ];
  const out: Buffer[] = [];
  for (let i = 0; i < UDP_PACKETS; i++) {
    const kind = rand();
    if (kind < 0.25) {
      const b = Buffer.alloc(Math.floor(rand() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      out.push(b);
    } else if (kind < 0.35) {
      const b = Buffer.from(valid[Math.floor(rand() * valid.length)]!);
      out.push(b.subarray(0, Math.floor(rand() * b.length)));
    } else {
      const b = Buffer.from(valid[Math.floor(rand() * valid.length)]!);
      b[2] = b[2]! & 0x7f; // keep most of them queries so they reach the parser's depths
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rand() * b.length);
        b[at] = rand() < 0.5 ? b[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
      }
      out.push(b);
    }
  }
  return out;
}

before(async () => {
  fx = await openFixture();
  const ns = await fx.namespace('local-1');
  const web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
  await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
  const api = await fx.service(ns, 'api', [{ type: 'SRV', ttl: 30 }, { type: 'A', ttl: 30 }]);
  await fx.instance(api, 'a-1', { AWS_INSTANCE_IPV4: '198.18.0.11', AWS_INSTANCE_PORT: '8080' });
  server = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), maxAnswers: 8 });
});

after(async () => {
  await server.close();
  await fx.close();
});

test(`random and mutated packets over UDP and TCP (seed ${SEED})`, async () => {
  const rand = prng(SEED);
  const port = server.address.port;
  const sock = dgram.createSocket('udp4');
  let replies = 0;
  sock.on('message', (m) => {
    replies++;
    // Every reply must itself be a well-formed message.
    decode(m);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const all = samples(rand);
  for (let i = 0; i < all.length; i++) {
    sock.send(all[i]!, port, '127.0.0.1');
    if (i % 200 === 199) await new Promise((r) => setImmediate(r)); // let the server drain
  }

  // TCP: garbage frames, frames with lengths that lie, and half-sent frames, then hang up.
  await Promise.all(
    Array.from({ length: TCP_STREAMS }, (_, n) => new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('connect', () => {
        const parts: Buffer[] = [];
        for (let k = 0; k < 10; k++) {
          const body = all[(n * 10 + k) % all.length]!;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(rand() < 0.8 ? body.length : Math.floor(rand() * 65536));
          parts.push(len, body);
        }
        s.end(Buffer.concat(parts));
      });
      s.setTimeout(1000, () => s.destroy());
    })),
  );

  // The server still answers, correctly, on both transports.
  await eventually(async () => decode(await udpAsk(port, query('web.local-1', 'A', { id: 99 }), 500)).answers[0]?.data === '198.18.0.1');
  const [tcp] = await tcpAsk(port, [query('api.local-1', 'SRV', { id: 100 })]);
  assert.equal(decode(tcp!).answers[0]?.type, 'SRV');
  sock.close();
  assert.ok(replies > 0, 'some fuzz packets were answered (FORMERR and friends)');
});
