/**
 * RegisterInstance throughput, acknowledged and durable: one client process, N concurrent
 * keep-alive connections (raw node:net HTTP/1.1, AWS JSON 1.1), against `pharos server` as a
 * child process. After the run the server is killed with SIGKILL at once and restarted: every
 * acknowledged registration must be there (operations acknowledged but not yet applied are
 * finished on restart).
 *
 *   node --import tsx bench/api-register.ts [concurrency=32] [seconds=5]
 */
import { rmSync } from 'node:fs';
import { call, cpuMs, fmt, runLoad, setupService, startServerProcess, tempDataDir } from './api-lib.ts';

const concurrency = Number(process.argv[2] ?? 32);
const seconds = Number(process.argv[3] ?? 5);
const dataDir = tempDataDir();
// Quotas raised so a run of tens of thousands of registrations fits in one service.
const args = ['--data-dir', dataDir, '--log-level', 'warn', '--max-instances-per-service', '10000000', '--max-instances-per-namespace', '10000000'];

const server = await startServerProcess(args);
const serviceId = await setupService(server.port, 'bench', 'reg');
let acked = 0;
const cpuBefore = cpuMs(server.child.pid!);
const result = await runLoad(
  server.port,
  concurrency,
  seconds,
  (i) => ({
    operation: 'RegisterInstance',
    body: JSON.stringify({
      ServiceId: serviceId,
      InstanceId: `i-${i}`,
      Attributes: { AWS_INSTANCE_IPV4: `198.18.${(i >> 8) & 255}.${i & 255}`, AWS_INSTANCE_PORT: '8080', zone: 'a' },
    }),
  }),
  () => acked++,
);
const serverCpuUs = ((cpuMs(server.child.pid!) - cpuBefore) * 1000) / Math.max(1, acked);
server.child.kill('SIGKILL');
await new Promise((resolve) => server.child.once('exit', resolve));

console.log(`RegisterInstance, concurrency ${concurrency}, ${fmt(result.seconds, 1)} s`);
console.log(`  acknowledged: ${fmt(acked)} (${fmt(acked / result.seconds)}/s), errors ${result.errors}`);
console.log(`  server CPU ${fmt(serverCpuUs, 1)} µs per registration`);
console.log(`  latency p50 ${fmt(result.p50Ms, 2)} ms, p99 ${fmt(result.p99Ms, 2)} ms, max ${fmt(result.maxMs, 1)} ms`);

const restarted = await startServerProcess(args);
const t0 = performance.now();
let count = 0;
for (;;) {
  const { Service } = (await call(restarted.port, 'GetService', { Id: serviceId })) as { Service: { InstanceCount: number } };
  count = Service.InstanceCount;
  if (count >= acked || performance.now() - t0 > 30_000) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log(`  after SIGKILL + restart (ready in ${fmt(restarted.readyMs)} ms): ${fmt(count)} of ${fmt(acked)} acknowledged registrations present` + (count >= acked ? ' — none lost' : ' — LOST SOME'));
await restarted.stop();
rmSync(dataDir, { recursive: true, force: true });
if (count < acked) process.exitCode = 1;
