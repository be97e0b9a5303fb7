/**
 * In-process cost of one DNS answer, without sockets: Pharos's query parser vs `dns-packet`'s
 * decode (why the hot path has its own parser), and the whole `respond()` on a cached answer.
 *   node --import tsx bench/dns-wire.ts
 */
import * as packet from 'dns-packet';
import { DnsResponder } from '../src/dns/index.ts';
import { openFixture, query } from '../src/dns/testutil.ts';
import { parseQuery } from '../src/dns/wire.ts';
import { createMetricsRegistry, silentLogger } from '../src/lib/index.ts';

function measure(name: string, n: number, fn: (i: number) => unknown): void {
  for (let i = 0; i < Math.min(n, 50_000); i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/op  ${(1e9 / ns / 1000).toFixed(0).padStart(6)} k/s`);
}

const fx = await openFixture();
const ns = await fx.namespace('bench.local');
const svc = await fx.service(ns, 'svc-0001', [{ type: 'A', ttl: 60 }, { type: 'SRV', ttl: 60 }]);
for (let i = 0; i < 4; i++) await fx.instance(svc, `i-${i}`, { AWS_INSTANCE_IPV4: `198.18.0.${i + 1}`, AWS_INSTANCE_PORT: String(8000 + i) });
const big = await fx.service(ns, 'big', [{ type: 'A', ttl: 60 }]);
for (let i = 0; i < 100; i++) await fx.instance(big, `b-${i}`, { AWS_INSTANCE_IPV4: `198.18.1.${i + 1}` });
const dns = new DnsResponder({ view: fx.view, logger: silentLogger(), metrics: createMetricsRegistry() });

const qa = query('svc-0001.bench.local', 'A');
const qsrv = query('svc-0001.bench.local', 'SRV');
const qedns = query('svc-0001.bench.local', 'A', { edns: 1232 });
const qbig = query('big.bench.local', 'A');
const qnx = query('nothing.bench.local', 'A');
const N = 1_000_000;
measure('parseQuery (A)', N, () => parseQuery(qa));
measure('dns-packet decode (A)', N / 4, () => packet.decode(qa));
measure('respond: A, 4 records (cached)', N, () => dns.respond(qa, 'udp'));
measure('respond: SRV, 4 records + 4 additional', N, () => dns.respond(qsrv, 'udp'));
measure('respond: A with EDNS0', N, () => dns.respond(qedns, 'udp'));
measure('respond: A, 8 of 100 picked per query', N / 4, () => dns.respond(qbig, 'udp'));
measure('respond: NXDOMAIN (not cached)', N / 4, () => dns.respond(qnx, 'udp'));
dns.registry.close();
await fx.close();
