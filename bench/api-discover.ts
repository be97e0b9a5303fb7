/**
 * DiscoverInstances throughput, latency and server CPU on a service with 100 instances (custom
 * health, all HEALTHY, so the HEALTHY filter runs), against `pharos server` as a child process,
 * side by side in one run with
 *   - a bare node:http server on the same port answering the same bytes (the ceiling:
 *     bench/http-ceiling.ts), and
 *   - with `--base <checkout>`, that checkout's server (e.g. today's main).
 * Clients use raw keep-alive HTTP/1.1 connections speaking AWS JSON 1.1; each response (~15 KB)
 * is checked for status 200 and its size. Rounds alternate the servers.
 *
 *   node --import tsx bench/api-discover.ts [concurrency=16] [seconds=8] [--rounds 2] [--base <checkout>]
 */
import { rmSync } from 'node:fs';
import { ROOT, call, cpuMs, fmt, freeTcpPort, recordReply, runLoad, setupService, startCeiling, startServerProcess, tempDataDir, waitOperation, type LoadResult } from './api-lib.ts';
import { loadAverage } from './procs.ts';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const option = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const concurrency = Number(positional[0] ?? 16);
const seconds = Number(positional[1] ?? 8);
const ROUNDS = Number(option('rounds') ?? 2);
const BASE = option('base');
const INSTANCES = 100;
/** Untimed warm-up, so JIT compilation is not in the figures. */
const WARMUP_SECONDS = 2;
const body = JSON.stringify({ NamespaceName: 'bench', ServiceName: 'web', HealthStatus: 'HEALTHY' });
const check = (reply: { bytes: Buffer; body: string }) => {
  // Cheap sanity check on every response: 100 instances are about 15 KB of JSON.
  if (reply.bytes.length < INSTANCES * 100) throw new Error(`short response: ${reply.body.slice(0, 200)}`);
};
const port = await freeTcpPort();

interface Target {
  name: string;
  pid: number;
  stop(): Promise<unknown>;
}

/** A Pharos server on `port` with the 100 instances registered and applied. */
async function startPharos(name: string, root: string): Promise<Target & { dataDir: string }> {
  const dataDir = tempDataDir();
  const server = await startServerProcess(['--data-dir', dataDir, '--log-level', 'warn', '--api-addr', `127.0.0.1:${port}`], root);
  const serviceId = await setupService(port, 'bench', 'web', { HealthCheckCustomConfig: { FailureThreshold: 1 } });
  const ops: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const { OperationId } = (await call(port, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: `web-${i}`,
      Attributes: { AWS_INSTANCE_IPV4: `198.18.0.${i + 1}`, AWS_INSTANCE_PORT: '8080', AVAILABILITY_ZONE: 'us-east-1a', version: 'v1' },
    })) as { OperationId: string };
    ops.push(OperationId);
  }
  for (const op of ops) await waitOperation(port, op);
  const first = (await call(port, 'DiscoverInstances', JSON.parse(body))) as { Instances: unknown[] };
  if (first.Instances.length !== INSTANCES) throw new Error(`expected ${INSTANCES} instances, got ${first.Instances.length}`);
  return { name, pid: server.child.pid!, dataDir, stop: () => server.stop() };
}

async function measure(target: Target): Promise<LoadResult & { serverCpuUs: number; clientCpuUs: number }> {
  await runLoad(port, concurrency, WARMUP_SECONDS, () => ({ operation: 'DiscoverInstances', body }), check);
  const cpuBefore = cpuMs(target.pid);
  const clientBefore = process.cpuUsage();
  const r = await runLoad(port, concurrency, seconds, () => ({ operation: 'DiscoverInstances', body }), check);
  const client = process.cpuUsage(clientBefore);
  return { ...r, serverCpuUs: ((cpuMs(target.pid) - cpuBefore) * 1000) / r.requests, clientCpuUs: (client.user + client.system) / r.requests };
}

const rows: { round: number; name: string; r: Awaited<ReturnType<typeof measure>>; load: string }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const pharos = await startPharos('pharos', ROOT);
  const reply = await recordReply(port, 'DiscoverInstances', body);
  rows.push({ round, name: 'pharos', r: await measure(pharos), load: loadAverage() });
  await pharos.stop();
  rmSync(pharos.dataDir, { recursive: true, force: true });
  if (BASE) {
    const base = await startPharos('pharos (base)', BASE);
    rows.push({ round, name: 'pharos (base)', r: await measure(base), load: loadAverage() });
    await base.stop();
    rmSync(base.dataDir, { recursive: true, force: true });
  }
  const ceiling = await startCeiling(port, reply);
  rows.push({ round, name: 'bare node:http, same bytes', r: await measure({ name: 'ceiling', pid: ceiling.child.pid!, stop: ceiling.stop }), load: loadAverage() });
  await ceiling.stop();
  for (const row of rows.filter((x) => x.round === round)) console.error(`round ${round} ${row.name}: ${fmt(row.r.perSecond)} req/s, server ${fmt(row.r.serverCpuUs, 1)} µs/request (load ${row.load})`);
}

console.log(`\nDiscoverInstances, ${INSTANCES} instances (~15 KB answers), concurrency ${concurrency}, ${seconds} s per measurement after ${WARMUP_SECONDS} s warm-up`);
console.log('| round | server | req/s | p50 / p99 latency | server CPU / request | client CPU / request | req/s vs bare node | load avg |');
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) {
  const ceiling = rows.find((x) => x.round === row.round && x.name.startsWith('bare'))!;
  const ratio = row === ceiling ? '' : `${fmt((100 * row.r.perSecond) / ceiling.r.perSecond, 1)} %`;
  console.log(
    `| ${row.round} | ${row.name} | ${fmt(row.r.perSecond)} | ${fmt(row.r.p50Ms, 2)} / ${fmt(row.r.p99Ms, 2)} ms | ${fmt(row.r.serverCpuUs, 1)} µs | ${fmt(row.r.clientCpuUs, 1)} µs | ${ratio} | ${row.load} |`,
  );
  if (row.r.errors > 0) process.exitCode = 1;
}
