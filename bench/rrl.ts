/**
 * DNS response-rate limiting against reflection: a flood of queries "from" one victim address
 * (a spoofed source looks exactly like this to the server) for a large SRV answer, against a real
 * `pharos server` with --dns-rrl on and, in the same run, with it off. Reports the bytes sent to
 * the victim per query above the limit, against the query's own size (target: ≤ 2×).
 *
 *   node --import tsx bench/rrl.ts [queries=20000] [rrl=20/2]
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { query } from '../src/dns/testutil.ts';
import { DUMMY_CREDENTIALS, privateNamespace, register, spawnServer, tempDir } from '../test/helpers.ts';

const QUERIES = Number(process.argv[2] ?? 20_000);
const RRL = process.argv[3] ?? '20/2';

async function measure(rrl: string): Promise<{ rrl: string; queries: number; queryBytes: number; replies: number; replyBytes: number; truncated: number; seconds: number }> {
  const dir = tempDir('pharos-rrl-');
  const server = await spawnServer(['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--dns-rrl', rrl]);
  try {
    const dnsPort = Number(/"dnsAddress":"[^"]*:(\d+)"/.exec(server.logs.find((l) => l.includes('dnsAddress'))!)![1]);
    const sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, disableHostPrefix: true, maxAttempts: 1 });
    const ns = await privateNamespace(sd, 'amp.local');
    const svc = (await sd.createService({ Name: 'big', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 60 }, { Type: 'A', TTL: 60 }] } })).Service!.Id!;
    for (let i = 1; i <= 8; i++) await register(sd, svc, `a-long-instance-name-${i}`, { AWS_INSTANCE_IPV4: `198.18.85.${i}`, AWS_INSTANCE_PORT: String(8000 + i) });
    sd.destroy();
    const q = query('big.amp.local', 'SRV', { edns: 1232 });
    const sock = dgram.createSocket('udp4');
    let replies = 0;
    let replyBytes = 0;
    let truncated = 0;
    sock.on('message', (m) => {
      replies++;
      replyBytes += m.length;
      if (m[2]! & 0x02) truncated++;
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const t0 = Date.now();
    for (let i = 0; i < QUERIES; i++) {
      sock.send(q, dnsPort, '127.0.0.1');
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    // Until the replies stop coming (the server drains its socket buffer).
    let last = -1;
    while (last !== replies) {
      last = replies;
      await new Promise((r) => setTimeout(r, 200));
    }
    sock.close();
    return { rrl, queries: QUERIES, queryBytes: q.length, replies, replyBytes, truncated, seconds: (Date.now() - t0) / 1000 };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const on = await measure(RRL);
const off = await measure('off');
const [rate] = RRL.split('/').map(Number);
// Queries the limit let through in full: the rate for each second the flood lasted, plus the burst.
const allowed = Math.min(on.queries, Math.ceil(rate! * (on.seconds + 1)));
const full = off.replies > 0 ? off.replyBytes / off.replies : 0;
const beyond = Math.max(0, on.replyBytes - allowed * full) / Math.max(1, on.queries - allowed);
console.log(JSON.stringify({
  on,
  off,
  fullAnswerBytes: Math.round(full),
  amplificationWithoutRrl: +(full / on.queryBytes).toFixed(2),
  reflectedBytesPerQueryAboveLimit: +beyond.toFixed(2),
  ratioToQuery: +(beyond / on.queryBytes).toFixed(3),
}, null, 1));
