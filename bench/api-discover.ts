/**
 * DiscoverInstances throughput and latency on a service with 100 instances (custom health, all
 * HEALTHY, so the HEALTHY filter runs), against `pharos server` as a child process. Clients use
 * raw keep-alive HTTP/1.1 connections speaking AWS JSON 1.1; each response (~100 instances) is
 * checked for status 200 and its size.
 *
 *   node --import tsx bench/api-discover.ts [concurrency=16] [seconds=10]
 */
import { rmSync } from 'node:fs';
import { call, cpuMs, fmt, runLoad, setupService, startServerProcess, tempDataDir, waitOperation } from './api-lib.ts';

const concurrency = Number(process.argv[2] ?? 16);
const seconds = Number(process.argv[3] ?? 10);
const INSTANCES = 100;
/** Untimed warm-up, so JIT compilation is not in the figures. */
const WARMUP_SECONDS = 2;

const dataDir = tempDataDir();
const server = await startServerProcess(['--data-dir', dataDir, '--log-level', 'warn']);
const serviceId = await setupService(server.port, 'bench', 'web', { HealthCheckCustomConfig: { FailureThreshold: 1 } });
const ops: string[] = [];
for (let i = 0; i < INSTANCES; i++) {
  const { OperationId } = (await call(server.port, 'RegisterInstance', {
    ServiceId: serviceId,
    InstanceId: `web-${i}`,
    Attributes: { AWS_INSTANCE_IPV4: `198.18.0.${i + 1}`, AWS_INSTANCE_PORT: '8080', AVAILABILITY_ZONE: 'us-east-1a', version: 'v1' },
  })) as { OperationId: string };
  ops.push(OperationId);
}
for (const op of ops) await waitOperation(server.port, op);

const body = JSON.stringify({ NamespaceName: 'bench', ServiceName: 'web', HealthStatus: 'HEALTHY' });
const check = (reply: { bytes: Buffer; body: string }) => {
  // Cheap sanity check on every response: 100 instances are about 15 KB of JSON.
  if (reply.bytes.length < INSTANCES * 100) throw new Error(`short response: ${reply.body.slice(0, 200)}`);
};
const first = (await call(server.port, 'DiscoverInstances', JSON.parse(body))) as { Instances: unknown[] };
if (first.Instances.length !== INSTANCES) throw new Error(`expected ${INSTANCES} instances, got ${first.Instances.length}`);

await runLoad(server.port, concurrency, WARMUP_SECONDS, () => ({ operation: 'DiscoverInstances', body }), check);
const cpuBefore = cpuMs(server.child.pid!);
const clientBefore = process.cpuUsage();
const r = await runLoad(server.port, concurrency, seconds, () => ({ operation: 'DiscoverInstances', body }), check);
const serverCpuUs = ((cpuMs(server.child.pid!) - cpuBefore) * 1000) / r.requests;
const clientUsage = process.cpuUsage(clientBefore);
const clientCpuUs = (clientUsage.user + clientUsage.system) / r.requests;
console.log(`DiscoverInstances, ${INSTANCES} instances, concurrency ${concurrency}, ${fmt(r.seconds, 1)} s`);
console.log(`  ${fmt(r.perSecond)} req/s, errors ${r.errors}`);
console.log(`  server CPU ${fmt(serverCpuUs, 1)} µs per request (one free core: ~${fmt(1e6 / serverCpuUs)} req/s)`);
console.log(`  client CPU ${fmt(clientCpuUs, 1)} µs per request`);
console.log(`  latency p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, max ${fmt(r.maxMs, 1)} ms`);
await server.stop();
rmSync(dataDir, { recursive: true, force: true });
