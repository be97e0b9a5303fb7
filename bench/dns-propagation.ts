/**
 * Propagation: RegisterInstance (AWS SDK, over HTTP) → the instance in a DNS answer, and
 * DeregisterInstance → gone, against a real `pharos server` child process.
 *
 *   node --import tsx bench/dns-propagation.ts [--rounds 300] [--direct]
 *
 * `--direct` leaves out the API: the instance record is written straight into the store (SQLite,
 * durable) in this process, which also runs the snapshot and the DNS server; times are from just
 * before the write, so they are store commit → DNS answer.
 *
 * Each round registers one instance of a MULTIVALUE A service and polls `web.<ns>` A over UDP
 * with one query in flight at a time (resolution = one round trip, ~0.1 ms) until the address
 * appears; then deregisters it and polls until it is gone. Times are from just before the API
 * call is sent. Also prints the server's own commit → cache-invalidated histogram.
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as packet from 'dns-packet';
import { dnsAsker } from './dnsclient.ts';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] ?? 300) || 300;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NS = 'prop.local';

const DIRECT = args.includes('--direct');
const dir = mkdtempSync(join(tmpdir(), 'pharos-dnsprop-'));
if (DIRECT) {
  await direct();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
const child = spawn(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', '--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dir, '--log-level', 'info'], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'pipe'],
});
const { apiUrl, dnsAddress } = await new Promise<{ apiUrl: string; dnsAddress: string }>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      const rec = JSON.parse(line) as { apiUrl?: string; dnsAddress?: string };
      if (rec.apiUrl && rec.dnsAddress) resolve({ apiUrl: rec.apiUrl, dnsAddress: rec.dnsAddress });
    } catch {
      /* not a log line */
    }
  });
});
const dnsPort = Number(dnsAddress.split(':').pop());
const sd = new ServiceDiscovery({ endpoint: apiUrl, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, disableHostPrefix: true, maxAttempts: 1 });

const dnsClient = await dnsAsker(dnsPort);
const ask = (name: string) => dnsClient.ask(name);
async function pollUntil(name: string, pred: (ips: string[]) => boolean): Promise<number> {
  for (;;) {
    if (pred(await ask(name))) return performance.now();
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

try {
  const created = await sd.createPrivateDnsNamespace({ Name: NS, Vpc: 'vpc-bench' });
  let nsId: string | undefined;
  for (let i = 0; i < 100 && !nsId; i++) {
    const op = await sd.getOperation({ OperationId: created.OperationId! });
    if (op.Operation?.Status === 'SUCCESS') nsId = op.Operation.Targets?.NAMESPACE;
    else await new Promise((r) => setTimeout(r, 20));
  }
  const svc = await sd.createService({ Name: 'web', NamespaceId: nsId!, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 1 }] } });
  const serviceId = svc.Service!.Id!;
  const name = `web.${NS}`;
  const registerMs: number[] = [];
  const deregisterMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const ip = `198.18.${40 + Math.floor(i / 250)}.${(i % 250) + 1}`;
    let t0 = performance.now();
    const reg = sd.registerInstance({ ServiceId: serviceId, InstanceId: `task-${i}`, Attributes: { AWS_INSTANCE_IPV4: ip } });
    registerMs.push((await pollUntil(name, (ips) => ips.includes(ip))) - t0);
    await reg;
    t0 = performance.now();
    const dereg = sd.deregisterInstance({ ServiceId: serviceId, InstanceId: `task-${i}` });
    deregisterMs.push((await pollUntil(name, (ips) => !ips.includes(ip))) - t0);
    await dereg;
  }
  const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
  const fmt = (xs: number[]) =>
    `p50 ${pct(xs, 50).toFixed(2)} ms, p95 ${pct(xs, 95).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
  console.log(`${ROUNDS} rounds, loadavg ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`register → in DNS answer:     ${fmt(registerMs)}`);
  console.log(`deregister → out of answer:   ${fmt(deregisterMs)}`);
  console.log('server side (commit → DNS cache invalidated), pharos_dns_propagation_delay_seconds:');
  for (const line of metrics.split('\n')) if (/^pharos_dns_propagation_delay_seconds_(bucket\{le="0\.00(05|1|25|5)"|bucket\{le="0\.0(1|05)"|count)/.test(line)) console.log('  ' + line);
} finally {
  sd.destroy();
  dnsClient.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

/** Store write → DNS answer, no API in between (see `--direct`). */
async function direct(): Promise<void> {
  const { SqliteKV } = await import('../src/store/sqlite.ts');
  const { Snapshot, keys } = await import('../src/registry/index.ts');
  const { startDnsServer } = await import('../src/dns/index.ts');
  const { createMetricsRegistry, silentLogger } = await import('../src/lib/index.ts');
  const kv = await SqliteKV.open(join(dir, 'pharos.db'));
  const view = await Snapshot.open(kv);
  const dns = await startDnsServer({ view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry() });
  const sockD = dgram.createSocket('udp4');
  await new Promise<void>((r) => sockD.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<number, (m: Buffer) => void>();
  sockD.on('message', (m) => pending.get(m.readUInt16BE(0))?.(m));
  let id = 0;
  const askD = (name: string) =>
    new Promise<string[]>((resolve) => {
      const qid = (id = (id + 1) & 0xffff);
      pending.set(qid, (m) => {
        pending.delete(qid);
        resolve((packet.decode(m).answers ?? []).map((a) => String((a as { data?: unknown }).data)));
      });
      sockD.send(packet.encode({ type: 'query', id: qid, questions: [{ name, type: 'A' }] }), dns.address.port, '127.0.0.1');
    });
  const ns = { id: 'ns-prop', arn: 'a', name: NS, type: 'DNS_PRIVATE', httpName: NS, soaTtl: 5, createDate: 0, tags: [] };
  await kv.create(keys.namespace(ns.id), JSON.stringify(ns));
  const svc = { id: 'srv-prop', arn: 'a', name: 'web', namespaceId: ns.id, type: 'DNS_HTTP', dnsConfig: { routingPolicy: 'MULTIVALUE', dnsRecords: [{ type: 'A', ttl: 1 }] }, createDate: 0, tags: [], attributes: {} };
  await kv.create(keys.service(svc.id), JSON.stringify(svc));
  const name = `web.${NS}`;
  const reg: number[] = [];
  const dereg: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const ip = `198.18.${40 + Math.floor(i / 250)}.${(i % 250) + 1}`;
    let t0 = performance.now();
    const w = kv.create(keys.instance(svc.id, `task-${i}`), JSON.stringify({ id: `task-${i}`, serviceId: svc.id, attributes: { AWS_INSTANCE_IPV4: ip }, registeredAt: 0 }));
    for (;;) if ((await askD(name)).includes(ip)) break;
    reg.push(performance.now() - t0);
    await w;
    t0 = performance.now();
    const d = kv.delete(keys.instance(svc.id, `task-${i}`));
    for (;;) if (!(await askD(name)).includes(ip)) break;
    dereg.push(performance.now() - t0);
    await d;
  }
  const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p95 ${pct(xs, 95).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
  console.log(`${ROUNDS} rounds (direct store writes), loadavg ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`store write → in DNS answer:  ${fmt(reg)}`);
  console.log(`store delete → out of answer: ${fmt(dereg)}`);
  sockD.close();
  await dns.close();
  view.close();
  await kv.close();
}
