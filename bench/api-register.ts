/**
 * RegisterInstance throughput, acknowledged and durable: one client process, N concurrent
 * keep-alive connections (raw node:net HTTP/1.1, AWS JSON 1.1), against `pharos server` as a
 * child process, side by side in one run with
 *   - a bare node:http server on the same port answering the same bytes (the ceiling), and
 *   - with `--base <checkout>`, that checkout's server (e.g. today's main): compare the server
 *     CPU per registration, the figure that holds on a loaded machine.
 * Each server first gets a 2 s untimed warm-up (JIT compilation is then not in the figures).
 * After each Pharos run the server is killed with SIGKILL at once and restarted: every
 * acknowledged registration must be there (operations acknowledged but not yet applied are
 * finished on restart).
 *
 *   node --import tsx bench/api-register.ts [concurrency=32] [seconds=5] [--rounds 2] [--base <checkout>]
 */
import { rmSync } from 'node:fs';
import { ROOT, call, cpuMs, fmt, freeTcpPort, recordReply, runLoad, setupService, startCeiling, startServerProcess, tempDataDir, type LoadResult } from './api-lib.ts';
import { loadAverage } from './procs.ts';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const option = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const concurrency = Number(positional[0] ?? 32);
const seconds = Number(positional[1] ?? 5);
const ROUNDS = Number(option('rounds') ?? 2);
const BASE = option('base');
/** Untimed warm-up, so JIT compilation is not in the figures (as in api-discover.ts); its registrations are checked after the kill too. */
const WARMUP_SECONDS = 2;
const port = await freeTcpPort();
// Quotas raised so a run of tens of thousands of registrations fits in one service.
const serverArgs = (dataDir: string) => ['--data-dir', dataDir, '--log-level', 'warn', '--api-addr', `127.0.0.1:${port}`, '--max-instances-per-service', '10000000', '--max-instances-per-namespace', '10000000'];
const request = (serviceId: string, prefix = 'i') => (i: number) => ({
  operation: 'RegisterInstance',
  body: JSON.stringify({
    ServiceId: serviceId,
    InstanceId: `${prefix}-${i}`,
    Attributes: { AWS_INSTANCE_IPV4: `198.18.${(i >> 8) & 255}.${i & 255}`, AWS_INSTANCE_PORT: '8080', zone: 'a' },
  }),
});

interface Row {
  round: number;
  name: string;
  r: LoadResult;
  acked: number;
  serverCpuUs: number;
  durable: string;
  load: string;
}
const rows: Row[] = [];

/** Registers for `seconds`, SIGKILLs the server, restarts it and counts what survived. */
async function runPharos(round: number, name: string, root: string): Promise<string> {
  const dataDir = tempDataDir();
  const server = await startServerProcess(serverArgs(dataDir), root);
  const serviceId = await setupService(port, 'bench', 'reg');
  const sample = await recordReply(port, 'RegisterInstance', request(serviceId)(1e9).body);
  let warm = 0;
  await runLoad(port, concurrency, WARMUP_SECONDS, request(serviceId, 'w'), () => warm++);
  let acked = 0;
  const cpuBefore = cpuMs(server.child.pid!);
  const r = await runLoad(port, concurrency, seconds, request(serviceId), () => acked++);
  const serverCpuUs = ((cpuMs(server.child.pid!) - cpuBefore) * 1000) / Math.max(1, acked);
  const load = loadAverage();
  acked += warm;
  server.child.kill('SIGKILL');
  await new Promise((resolve) => server.child.once('exit', resolve));
  const restarted = await startServerProcess(serverArgs(dataDir), root);
  const t0 = performance.now();
  let count = 0;
  for (;;) {
    const { Service } = (await call(port, 'GetService', { Id: serviceId })) as { Service: { InstanceCount: number } };
    count = Service.InstanceCount;
    // +1: the sample registration recorded for the ceiling.
    if (count >= acked + 1 || performance.now() - t0 > 30_000) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await restarted.stop();
  rmSync(dataDir, { recursive: true, force: true });
  const durable = `${fmt(count - 1)} of ${fmt(acked)}` + (count - 1 >= acked ? '' : ' — LOST SOME');
  if (count - 1 < acked) process.exitCode = 1;
  rows.push({ round, name, r, acked: acked - warm, serverCpuUs, durable, load });
  console.error(`round ${round} ${name}: ${fmt((acked - warm) / r.seconds)}/s acknowledged, server ${fmt(serverCpuUs, 1)} µs/registration (load ${load})`);
  return sample.body;
}

for (let round = 1; round <= ROUNDS; round++) {
  await runPharos(round, 'pharos', ROOT);
  if (BASE) await runPharos(round, 'pharos (base)', BASE);
  // The ceiling answers what Pharos answers: {"OperationId":"..."} with the same headers.
  const dataDir = tempDataDir();
  const server = await startServerProcess(serverArgs(dataDir), ROOT);
  const serviceId = await setupService(port, 'bench', 'reg');
  const reply = await recordReply(port, 'RegisterInstance', request(serviceId)(0).body);
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  const ceiling = await startCeiling(port, reply);
  await runLoad(port, concurrency, WARMUP_SECONDS, request(serviceId, 'w'));
  let acked = 0;
  const cpuBefore = cpuMs(ceiling.child.pid!);
  const r = await runLoad(port, concurrency, seconds, request(serviceId), () => acked++);
  rows.push({ round, name: 'bare node:http, same bytes', r, acked, serverCpuUs: ((cpuMs(ceiling.child.pid!) - cpuBefore) * 1000) / Math.max(1, acked), durable: '–', load: loadAverage() });
  await ceiling.stop();
}

console.log(`\nRegisterInstance acknowledged and durable, concurrency ${concurrency}, ${seconds} s per measurement after ${WARMUP_SECONDS} s warm-up`);
console.log('| round | server | acknowledged/s | p50 / p99 latency | server CPU / registration | vs base CPU | req/s vs bare node | after SIGKILL + restart | load avg |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const row of rows) {
  const ceiling = rows.find((x) => x.round === row.round && x.name.startsWith('bare'))!;
  const base = rows.find((x) => x.round === row.round && x.name === 'pharos (base)');
  const vsBase = base && row.name === 'pharos' ? `${fmt((100 * row.serverCpuUs) / base.serverCpuUs, 1)} %` : '';
  const ratio = row === ceiling ? '' : `${fmt((100 * row.r.perSecond) / ceiling.r.perSecond, 1)} %`;
  console.log(
    `| ${row.round} | ${row.name} | ${fmt(row.acked / row.r.seconds)} | ${fmt(row.r.p50Ms, 2)} / ${fmt(row.r.p99Ms, 2)} ms | ${fmt(row.serverCpuUs, 1)} µs | ${vsBase} | ${ratio} | ${row.durable} | ${row.load} |`,
  );
  if (row.r.errors > 0) process.exitCode = 1;
}
