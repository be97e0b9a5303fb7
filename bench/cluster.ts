/**
 * Several servers on one etcd cluster (issue 10's figures), all on this machine: a 3-member etcd
 * on loopback (src/store/testkit.ts) and `pharos server` child processes.
 *
 *   1. RegisterInstance acknowledged + durable: one server on etcd vs one on SQLite, same run, each
 *      measured after a 2 s warm-up.
 *   2. Register through server A → the record in DNS on server B (p50/p99).
 *   3. DNS from a client that lists two servers while the first is SIGKILLed: failed queries.
 *   4. Leader SIGKILLed N times while clients register through every server: time until another
 *      server leads, acknowledged registrations lost (each must reach SUCCESS and be listed).
 *   5. dnsperf against one server on etcd and one on SQLite with the same records.
 *
 *   node --import tsx bench/cluster.ts [--kills 20] [--seconds 5] [--concurrency 32] [--only 1,4] [--base <checkout>]
 *
 * `--only` runs just the listed parts (1 and 5 share their servers, as do 2–4). `--base` adds to
 * part 1 that checkout's server on the same etcd (built: `npm ci` there), measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { promises as dnsPromises } from 'node:dns';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EtcdTestCluster } from '../src/store/testkit.ts';
import { call, cpuMs, fmt, runLoad, startServerProcess, tempDataDir, waitOperation, type ChildServer } from './api-lib.ts';

const { values: args } = parseArgs({ options: { kills: { type: 'string', default: '20' }, seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' }, only: { type: 'string', default: '1,2,3,4,5' }, base: { type: 'string' } } });
const KILLS = Number(args.kills);
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
/** Part 1 loads each server this long before it measures (see registerLoad). */
const WARM_UP_SECONDS = 2;
const PARTS = new Set(args.only.split(',').map(Number));
const BIG = ['--max-instances-per-service', '10000000', '--max-instances-per-namespace', '10000000', '--log-level', 'warn'];

const dnsOf = (s: ChildServer): string => `127.0.0.1:${s.dnsPort}`;
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function dnsService(port: number, ns: string): Promise<string> {
  const { OperationId } = (await call(port, 'CreatePrivateDnsNamespace', { Name: ns, Vpc: 'vpc-bench' })) as { OperationId: string };
  const op = await waitOperation(port, OperationId);
  const nsId = (op['Targets'] as Record<string, string>)['NAMESPACE'];
  const { Service } = (await call(port, 'CreateService', { Name: 'web', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } })) as { Service: { Id: string } };
  return Service.Id;
}

/**
 * Registrations acknowledged per second after a warm-up, and CPU per registration of the server
 * and of the etcd members (`etcdPids`).
 */
async function registerLoad(server: ChildServer, label: string, etcdPids: number[] = []): Promise<number> {
  const serviceId = await dnsService(server.port, `load-${label.replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '')}.bench`);
  const body = (prefix: string) => (i: number) => ({ operation: 'RegisterInstance', body: JSON.stringify({ ServiceId: serviceId, InstanceId: `${prefix}-${i}`, Attributes: { AWS_INSTANCE_IPV4: `198.18.${(i >> 8) & 255}.${i & 255}` } }) });
  // Not counted: the server's code paths compiled by V8 and the store's first pages written, so
  // every side is measured in its steady state, not partly in its first second.
  await runLoad(server.port, CONCURRENCY, WARM_UP_SECONDS, body('w'));
  let acked = 0;
  const cpu0 = cpuMs(server.child.pid!);
  const etcdCpu0 = etcdPids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const r = await runLoad(
    server.port,
    CONCURRENCY,
    SECONDS,
    body('i'),
    () => acked++,
  );
  const perOp = (ms: number): string => `${fmt((1000 * ms) / Math.max(1, acked))} µs`;
  const etcdCpu = etcdPids.length > 0 ? `, etcd CPU ${perOp(etcdPids.reduce((sum, pid) => sum + cpuMs(pid), 0) - etcdCpu0)} (3 members)` : '';
  console.log(`  ${label}: ${fmt(acked / r.seconds)}/s acknowledged (p50 ${fmt(r.p50Ms, 1)} ms, p99 ${fmt(r.p99Ms, 1)} ms, errors ${r.errors}); per registration: server CPU ${perOp(cpuMs(server.child.pid!) - cpu0)}${etcdCpu}`);
  return acked / r.seconds;
}

function dnsperf(dns: string, name: string): number {
  const [host, port] = [dns.slice(0, dns.lastIndexOf(':')), dns.slice(dns.lastIndexOf(':') + 1)];
  const file = join(tempDataDir(), 'queries');
  writeFileSync(file, `${name} A\n`);
  const r = spawnSync('dnsperf', ['-s', host, '-p', port, '-d', file, '-l', String(SECONDS), '-c', '4', '-Q', '200000'], { encoding: 'utf8' });
  return Number(/Queries per second:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
}

async function leaderOf(servers: ChildServer[]): Promise<{ id: string; index: number } | undefined> {
  for (const s of servers) {
    try {
      const st = (await (await fetch(`${s.url}/cluster`, { signal: AbortSignal.timeout(1000) })).json()) as { leader?: { id: string }; members: { id: string; apiUrl: string }[] };
      if (!st.leader) continue;
      const leaderUrl = st.members.find((m) => m.id === st.leader!.id)?.apiUrl;
      const index = servers.findIndex((x) => x.url === leaderUrl);
      if (index >= 0) return { id: st.leader.id, index };
    } catch {
      // that one is down
    }
  }
  return undefined;
}

const etcd = await EtcdTestCluster.start(3);
const url = etcd.url('/bench');
console.log(`etcd: 3 members on ${etcd.endpoints.join(', ')}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
try {
  if (PARTS.has(1) || PARTS.has(5)) {
    // 1 + 5: one server per backend, same run.
    const sqlite = await startServerProcess(['--data-dir', tempDataDir(), ...BIG]);
    const onEtcd = await startServerProcess(['--data-dir', tempDataDir(), '--store', etcd.url('/bench-load'), ...BIG]);
    if (PARTS.has(1)) {
      console.log(`\n1. RegisterInstance, concurrency ${CONCURRENCY}, ${SECONDS} s`);
      const sqliteRate = await registerLoad(sqlite, 'sqlite');
      const etcdRate = await registerLoad(onEtcd, 'etcd (3 members)', etcd.pids);
      console.log(`  etcd / sqlite = ${fmt((100 * etcdRate) / sqliteRate, 1)} %`);
      if (args.base) {
        const base = await startServerProcess(['--data-dir', tempDataDir(), '--store', etcd.url('/bench-base'), ...BIG], args.base);
        const baseRate = await registerLoad(base, `etcd, base ${args.base}`, etcd.pids);
        await base.stop();
        console.log(`  etcd / etcd base = ${fmt((100 * etcdRate) / baseRate, 1)} %`);
      }
    }

    if (PARTS.has(5)) {
      console.log(`\n5. dnsperf, 1 name (A, 1 record), ${SECONDS} s each`);
      for (const [label, s] of [['sqlite', sqlite], ['etcd', onEtcd]] as const) {
        const svc = await dnsService(s.port, `qps-${label}.bench`);
        await waitOperation(s.port, ((await call(s.port, 'RegisterInstance', { ServiceId: svc, InstanceId: 'a', Attributes: { AWS_INSTANCE_IPV4: '198.18.100.1' } })) as { OperationId: string }).OperationId);
    }
    const qSqlite = dnsperf(dnsOf(sqlite), 'web.qps-sqlite.bench');
    const qEtcd = dnsperf(dnsOf(onEtcd), 'web.qps-etcd.bench');
    console.log(`  sqlite ${fmt(qSqlite)} qps, etcd ${fmt(qEtcd)} qps → etcd / sqlite = ${fmt((100 * qEtcd) / qSqlite, 1)} %`);
    }
    await Promise.all([sqlite.stop(), onEtcd.stop()]);
  }

  if (PARTS.has(2) || PARTS.has(3) || PARTS.has(4)) {
    // 2: three servers on one etcd.
    const servers: ChildServer[] = [];
    for (let i = 0; i < 3; i++) servers.push(await startServerProcess(['--data-dir', tempDataDir(), '--store', url, ...BIG]));
    const [a, b] = servers as [ChildServer, ChildServer];
    const svc = await dnsService(a.port, 'prop.bench');
    if (PARTS.has(2)) {
      const resolver = new dnsPromises.Resolver({ timeout: 500, tries: 1 });
      resolver.setServers([dnsOf(b)]);
      const lat: number[] = [];
      for (let i = 0; i < 200; i++) {
        const ip = `198.18.${10 + (i >> 8)}.${i & 255}`;
        const t0 = performance.now();
        await call(a.port, 'RegisterInstance', { ServiceId: svc, InstanceId: `p-${i}`, Attributes: { AWS_INSTANCE_IPV4: ip } });
        for (;;) {
          const got = await resolver.resolve4('web.prop.bench').catch(() => [] as string[]);
          if (got.includes(ip)) break;
        }
        lat.push(performance.now() - t0);
    }
    console.log(`\n2. register through A → in DNS on B, 200 rounds: p50 ${fmt(pct(lat, 50), 1)} ms, p99 ${fmt(pct(lat, 99), 1)} ms, max ${fmt(Math.max(...lat), 1)} ms`);
    }

    // 3: a client listing two servers, the first killed mid-run.
    if (PARTS.has(3)) {
      const two = new dnsPromises.Resolver({ timeout: 300, tries: 2 });
      const victim = servers[2]!;
      two.setServers([dnsOf(victim), dnsOf(b)]);
      let ok = 0;
      let failed = 0;
      const until = performance.now() + 4000;
      setTimeout(() => victim.child.kill('SIGKILL'), 1000);
      while (performance.now() < until) {
        await two.resolve4('web.prop.bench').then(() => ok++, () => failed++);
    }
    console.log(`\n3. DNS, client lists [killed, live] servers, 4 s with a SIGKILL at 1 s: ${fmt(ok)} answered, ${failed} failed`);
    servers[2] = await startServerProcess(['--data-dir', tempDataDir(), '--store', url, ...BIG]);
    }

    // 4: leader kills while clients register through every server.
    if (PARTS.has(4)) {
      const regSvc = await dnsService(a.port, 'kill.bench');
      const acked: string[] = [];
      let seq = 0;
      let stop = false;
      const clients = Array.from({ length: 6 }, async (_, c) => {
        while (!stop) {
          const s = servers[(c + seq) % 3]!;
          const id = `k-${seq++}`;
          try {
            const out = (await call(s.port, 'RegisterInstance', { ServiceId: regSvc, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: '198.18.50.1' } })) as { OperationId?: string };
            if (out.OperationId) acked.push(out.OperationId);
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      });
      const takeovers: number[] = [];
      for (let k = 0; k < KILLS; k++) {
        const leader = await leaderOf(servers);
        if (!leader) throw new Error('no leader');
        const killedAt = performance.now();
        servers[leader.index]!.child.kill('SIGKILL');
        const survivors = servers.filter((_, i) => i !== leader.index);
        for (;;) {
          const next = await leaderOf(survivors);
          if (next && next.id !== leader.id) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        takeovers.push(performance.now() - killedAt);
        servers[leader.index] = await startServerProcess(['--data-dir', tempDataDir(), '--store', url, ...BIG]);
    }
    stop = true;
    await Promise.all(clients);
    let lost = 0;
    for (const op of acked) {
      const done = await Promise.race([waitOperation(servers[0]!.port, op), new Promise<undefined>((resolve) => setTimeout(resolve, 30_000))]);
      if (!done || done['Status'] !== 'SUCCESS') lost++;
    }
    console.log(`\n4. ${KILLS} leader kills (default --lease-ttl): new leader after p50 ${fmt(pct(takeovers, 50))} ms, max ${fmt(Math.max(...takeovers))} ms; ${fmt(acked.length)} acknowledged registrations, ${lost} not at SUCCESS`);
    }
    await Promise.all(servers.map((s) => s.stop()));
  }
} finally {
  await etcd.stop();
}
