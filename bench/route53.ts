/**
 * Route 53 → DNS: ChangeResourceRecordSets (`@aws-sdk/client-route-53`, over HTTP) → the record
 * in a DNS answer, against a real `pharos server` child process; next to it, in the same run, the
 * Cloud Map path: RegisterInstance → the instance's host name in a DNS answer.
 *
 *   node --import tsx bench/route53.ts [--rounds 300]
 *
 * Each round UPSERTs `db.<zone>` A with a new address and polls it over UDP (one query in flight,
 * one round trip ~0.1 ms) until the address is answered; times are from just before the API call.
 * The call itself returns INSYNC only once DNS serves the change, so the first query after it
 * normally answers.
 */
import { Route53 } from '@aws-sdk/client-route-53';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dnsAsker } from './dnsclient.ts';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] ?? 300) || 300;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NS = 'r53bench.local';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

const dir = mkdtempSync(join(tmpdir(), 'pharos-r53bench-'));
const child = spawn(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', '--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dir, '--log-level', 'info', '--max-instances-per-service', '100000', '--max-instances-per-namespace', '100000'], {
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
const sd = new ServiceDiscovery({ endpoint: apiUrl, region: 'us-east-1', credentials, disableHostPrefix: true, maxAttempts: 1 });
const r53 = new Route53({ endpoint: apiUrl, region: 'us-east-1', credentials, maxAttempts: 1 });

const dnsClient = await dnsAsker(dnsPort);
const ask = (name: string) => dnsClient.ask(name);
async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) if (performance.now() > deadline) throw new Error('timed out');
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const ms = (x: number) => `${x.toFixed(2)} ms`;
function summary(name: string, xs: number[]): string {
  return `${name.padEnd(48)} p50 ${ms(pct(xs, 50))}  p90 ${ms(pct(xs, 90))}  p99 ${ms(pct(xs, 99))}  max ${ms(Math.max(...xs))}`;
}
const address = (i: number) => `198.18.${130 + Math.floor(i / 250) % 10}.${(i % 250) + 1}`;

try {
  const op = await sd.createPrivateDnsNamespace({ Name: NS, Vpc: 'vpc-bench' });
  await until(async () => (await sd.getOperation({ OperationId: op.OperationId })).Operation?.Status === 'SUCCESS');
  const nsId = (await sd.getOperation({ OperationId: op.OperationId })).Operation!.Targets!['NAMESPACE']!;
  const zone = (await sd.getNamespace({ Id: nsId })).Namespace!.Properties!.DnsProperties!.HostedZoneId!;
  const svc = (await sd.createService({ Name: 'web', NamespaceId: nsId, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] } })).Service!.Id!;

  const changeAck: number[] = [];
  const changeDns: number[] = [];
  const registerAck: number[] = [];
  const registerDns: number[] = [];
  let firstQuery = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const ip = address(i);
    let t0 = performance.now();
    await r53.changeResourceRecordSets({
      HostedZoneId: zone,
      ChangeBatch: { Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: `db.${NS}`, Type: 'A', TTL: 10, ResourceRecords: [{ Value: ip }] } }] },
    });
    changeAck.push(performance.now() - t0);
    if ((await ask(`db.${NS}`)).includes(ip)) firstQuery++;
    else await until(async () => (await ask(`db.${NS}`)).includes(ip));
    changeDns.push(performance.now() - t0);

    t0 = performance.now();
    await sd.registerInstance({ ServiceId: svc, InstanceId: `i${i}`, Attributes: { AWS_INSTANCE_IPV4: ip } });
    registerAck.push(performance.now() - t0);
    await until(async () => (await ask(`i${i}.web.${NS}`)).includes(ip));
    registerDns.push(performance.now() - t0);
  }
  console.log(`${ROUNDS} rounds, one after another:`);
  console.log(summary('ChangeResourceRecordSets answered (INSYNC)', changeAck));
  console.log(summary('ChangeResourceRecordSets → record in DNS answer', changeDns));
  console.log(`the first DNS query after INSYNC had the record in ${firstQuery} of ${ROUNDS} rounds`);
  console.log(summary('reference: RegisterInstance acknowledged', registerAck));
  console.log(summary('reference: RegisterInstance → host name in DNS', registerDns));
} finally {
  dnsClient.close();
  r53.destroy();
  sd.destroy();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
