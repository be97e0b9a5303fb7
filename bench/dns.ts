/**
 * DNS throughput of the `pharos server` users run, against Knot DNS serving the same records, in
 * the same run.
 *
 *   node --import tsx bench/dns.ts [--seconds 8] [--rounds 3] [--services 1000] [--instances 4]
 *                                  [--workers 2] [--base <checkout>] [--profile <dir>] [--dgram]
 *
 * - Pharos is `bin/pharos.js server` (as the README starts it), populated through its API: one
 *   private DNS namespace `bench.local`, N services × M instances (A + SRV records, MULTIVALUE).
 *   `--base <checkout>` also runs another checkout's server (e.g. today's main) in the same rounds.
 * - Knot (`knotd`) serves the same records from a zone file with one UDP worker.
 * - One core each: every thread of every server (`taskset -a -p -c 1` after start, since knotd
 *   moves its own UDP worker otherwise) on CPU 1, dnsperf on CPU 0. The per-thread placement and
 *   CPU use of each server are printed after each measurement.
 * - Then `--workers n`: `pharos server --dns-workers n` against knotd with n UDP workers, neither
 *   pinned (dnsperf neither).
 * - dnsperf (-q 200, 20,000-line random A/SRV mix) runs each server in turn, rounds alternating
 *   so load from others hits all alike; a probe query every millisecond alongside gives latency
 *   percentiles under that load; the server's CPU per answered query is the steadiest figure.
 * - `--profile <dir>`: the first Pharos server runs with `--cpu-prof` into that directory.
 * - `--dgram`: also `pharos server --dns-io dgram` (node's dgram, one system call per datagram)
 *   beside the default batched UDP I/O, in the same rounds, on one core.
 * - `--component`: also the DNS component alone (`bench/dns-server.ts`: store → snapshot → DNS
 *   server, no API, health, scheduler or metrics endpoint) over the first server's store, to
 *   show what the rest of the server adds to a query.
 * Needs: apt-get install -y dnsperf knot dnsutils.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT, call, startServerProcess, waitOperation, type ChildServer } from './api-lib.ts';
import { loadAverage, pinAll, placement, threads, treeCpuMs } from './procs.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const text = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const SECONDS = flag('seconds', 8);
const ROUNDS = flag('rounds', 3);
const SERVICES = flag('services', 1000);
const INSTANCES = flag('instances', 4);
const WORKERS = flag('workers', 2);
const BASE = text('base');
const PROFILE = text('profile');
const COMPONENT = args.includes('--component');
const DGRAM = args.includes('--dgram');
const ZONE = 'bench.local';
const TTL = 60;
/** dnsperf's outstanding-query window: enough to keep one fast server core busy. */
const OUTSTANDING = 200;
/** The CPU the servers are pinned to in the one-core comparison; dnsperf gets the other. */
const SERVER_CPU = '1';
const CLIENT_CPU = '0';
const REGISTER_CONCURRENCY = 32;

for (const tool of ['dnsperf', 'knotd', 'dig', 'taskset']) {
  if (spawnSync('which', [tool]).status !== 0) {
    console.error(`${tool} not found: apt-get install -y dnsperf knot dnsutils util-linux`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pharos-dnsbench-'));
const svcName = (s: number) => `svc-${String(s).padStart(4, '0')}`;
const ipOf = (s: number, i: number) => `198.18.${Math.floor((s * INSTANCES + i) / 250)}.${((s * INSTANCES + i) % 250) + 1}`;

interface Server {
  name: string;
  pid: number;
  port: number;
  stop(): Promise<unknown>;
}

/** Starts `pharos server` and fills it through the API, as a user would. */
async function startPharos(name: string, extra: string[], root = ROOT, profile?: string): Promise<Server & { db: string }> {
  const dataDir = join(dir, `data-${name.replace(/\W+/g, '-')}`);
  const quota = String(SERVICES * INSTANCES + 1000);
  const server: ChildServer = await startServerProcess(
    ['--data-dir', dataDir, '--log-level', 'warn', '--max-instances-per-namespace', quota, ...extra],
    root,
    profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [],
  );
  const t0 = performance.now();
  const { OperationId } = (await call(server.port, 'CreatePrivateDnsNamespace', { Name: ZONE, Vpc: 'vpc-bench' })) as { OperationId: string };
  const op = await waitOperation(server.port, OperationId);
  const namespaceId = (op['Targets'] as Record<string, string>)['NAMESPACE'];
  const jobs: (() => Promise<unknown>)[] = [];
  const serviceIds: string[] = [];
  for (let s = 0; s < SERVICES; s++) {
    jobs.push(async () => {
      const { Service } = (await call(server.port, 'CreateService', {
        Name: svcName(s),
        NamespaceId: namespaceId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL }, { Type: 'SRV', TTL }] },
      })) as { Service: { Id: string } };
      serviceIds[s] = Service.Id;
    });
  }
  await pool(jobs);
  const ops: string[] = [];
  jobs.length = 0;
  for (let s = 0; s < SERVICES; s++) {
    for (let i = 0; i < INSTANCES; i++) {
      jobs.push(async () => {
        const r = (await call(server.port, 'RegisterInstance', {
          ServiceId: serviceIds[s],
          InstanceId: `i-${i}`,
          Attributes: { AWS_INSTANCE_IPV4: ipOf(s, i), AWS_INSTANCE_PORT: String(8000 + i) },
        })) as { OperationId: string };
        ops.push(r.OperationId);
      });
    }
  }
  await pool(jobs);
  await pool(ops.map((id) => () => waitOperation(server.port, id)));
  // The last service must answer all its records over DNS before measuring.
  await waitForDns(server.dnsPort, `${svcName(SERVICES - 1)}.${ZONE}`, INSTANCES);
  console.error(`${name}: populated through the API in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { name, pid: server.child.pid!, port: server.dnsPort, stop: () => server.stop(), db: join(dataDir, 'pharos.db') };
}

/** The DNS component alone (store → snapshot → DNS server, `bench/dns-server.ts`) over a populated server's store. */
async function startComponent(db: string): Promise<Server> {
  // A copy (SQLite's online backup): the server holds its store open for writing.
  const copy = join(dir, 'component.db');
  const source = new Database(db, { readonly: true });
  await source.backup(copy);
  source.close();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/dns-server.ts'), copy, '127.0.0.1:0', '8'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^ready (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`dns-server exited (${code})`)));
  });
  return {
    name: 'DNS component alone',
    pid: child.pid!,
    port,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function pool(jobs: (() => Promise<unknown>)[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: REGISTER_CONCURRENCY }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}

async function waitForDns(port: number, name: string, records: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = spawnSync('dig', ['+short', '+tries=1', '+time=1', '-p', String(port), '@127.0.0.1', name, 'A'], { encoding: 'utf8' });
    if (r.stdout.trim().split('\n').filter(Boolean).length === records) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`${name} did not answer ${records} records on port ${port}`);
}

/** The same records as Pharos serves, as a zone file (SOA/NS as Pharos publishes them). */
function zoneFile(): string {
  const lines = [`$ORIGIN ${ZONE}.`, `@ ${TTL} IN SOA ns.dns hostmaster 1 7200 900 1209600 ${TTL}`, `@ ${TTL} IN NS ns.dns`, `ns.dns ${TTL} IN A 127.0.0.1`];
  for (let s = 0; s < SERVICES; s++) {
    for (let i = 0; i < INSTANCES; i++) {
      lines.push(`${svcName(s)} ${TTL} IN A ${ipOf(s, i)}`);
      lines.push(`${svcName(s)} ${TTL} IN SRV 1 1 ${8000 + i} i-${i}.${svcName(s)}`);
      lines.push(`i-${i}.${svcName(s)} ${TTL} IN A ${ipOf(s, i)}`);
    }
  }
  return lines.join('\n') + '\n';
}

function freePort(): number {
  // A port in a quiet range, checked free for UDP and TCP by binding in a child.
  for (let tries = 0; tries < 50; tries++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const probe = spawnSync(process.execPath, [
      '-e',
      `const d=require('dgram').createSocket('udp4'); const n=require('net').createServer();
      d.on('error',()=>process.exit(1)); n.on('error',()=>process.exit(1));
      d.bind(${port},'127.0.0.1',()=>n.listen(${port},'127.0.0.1',()=>{d.close();n.close();}));`,
    ]);
    if (probe.status === 0) return port;
  }
  throw new Error('no free port');
}

async function startKnot(workers: number): Promise<Server> {
  const port = freePort();
  const kdir = join(dir, `knot-${workers}`);
  mkdirSync(kdir, { recursive: true });
  writeFileSync(join(kdir, `${ZONE}.zone`), zoneFile());
  writeFileSync(
    join(kdir, 'knot.conf'),
    [
      'server:',
      `    rundir: "${kdir}"`,
      `    listen: 127.0.0.1@${port}`,
      `    udp-workers: ${workers}`,
      '    tcp-workers: 1',
      '    background-workers: 1',
      'database:',
      `    storage: "${kdir}"`,
      'log:',
      '  - target: stderr',
      '    any: error',
      'template:',
      '  - id: default',
      `    storage: "${kdir}"`,
      '    semantic-checks: off',
      'zone:',
      `  - domain: ${ZONE}`,
      `    file: "${ZONE}.zone"`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('knotd', ['-c', join(kdir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitForDns(port, `${svcName(SERVICES - 1)}.${ZONE}`, INSTANCES);
  return {
    name: `knot (${workers} UDP worker${workers > 1 ? 's' : ''})`,
    pid: child.pid!,
    port,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

interface PerfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  /** dnsperf's own average over all its queries. */
  avgMs: number;
  /** The latency probe's percentiles (see `probe`). */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  probeLost: number;
  /** CPU the server's threads used per answered query, µs: steadier than qps on a shared machine. */
  cpuUsPerQuery: number;
}

/** One probe query per millisecond rides along with dnsperf: its round trips give latency percentiles under that load. */
const PROBE_INTERVAL_MS = 1;
const PROBE_TIMEOUT_MS = 2000;

/**
 * Measures latency while dnsperf saturates the server (dnsperf 2.10 reports only an average; its
 * per-query `-v` log costs it so much CPU that it, not the server, would set the rate).
 */
function probe(port: number, name: string): { stop(): Promise<{ latencies: number[]; lost: number }> } {
  const socket = dgram.createSocket('udp4');
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let id = 0;
  let lost = 0;
  socket.on('message', (msg) => {
    const t = sentAt.get(msg.readUInt16BE(0));
    if (t === undefined) return;
    sentAt.delete(msg.readUInt16BE(0));
    latencies.push(performance.now() - t);
  });
  const timer = setInterval(() => {
    id = (id + 1) & 0xffff;
    const now = performance.now();
    for (const [qid, t] of sentAt) if (now - t > PROBE_TIMEOUT_MS) (sentAt.delete(qid), lost++);
    sentAt.set(id, now);
    socket.send(encodeQuery(id, name), port, '127.0.0.1');
  }, PROBE_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await new Promise((res) => setTimeout(res, 200));
      socket.close();
      return { latencies, lost: lost + sentAt.size };
    },
  };
}

function encodeQuery(id: number, name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]); // root, type A, class IN
}

async function dnsperf(server: Server, queryFile: string, seconds: number, cpu?: string): Promise<PerfResult> {
  const argv = ['-s', '127.0.0.1', '-p', String(server.port), '-d', queryFile, '-l', String(seconds), '-q', String(OUTSTANDING), '-t', '2'];
  const [cmd, full] = cpu ? ['taskset', ['-c', cpu, 'dnsperf', ...argv]] : ['dnsperf', argv];
  const cpuBefore = treeCpuMs(server.pid);
  const p = probe(server.port, `${svcName(0)}.${ZONE}`);
  const child = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((res) => child.once('exit', res));
  const cpuMs = treeCpuMs(server.pid) - cpuBefore;
  const { latencies, lost: probeLost } = await p.stop();
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN;
  const completed = num(/Queries completed:\s+(\d+)/);
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed,
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    p999Ms: pct(0.999),
    probeLost,
    cpuUsPerQuery: (cpuMs * 1000) / (completed + latencies.length),
  };
}

interface Row {
  phase: string;
  round: number;
  server: string;
  r: PerfResult;
  placement: string;
}

/** Alternates the servers for ROUNDS rounds after a warm-up of each. */
async function measure(phase: string, servers: Server[], queryFile: string, cpu: string | undefined, rows: Row[]): Promise<void> {
  for (const s of servers) await dnsperf(s, queryFile, 2, cpu);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of servers) {
      const before = threads(s.pid);
      const r = await dnsperf(s, queryFile, SECONDS, cpu);
      rows.push({ phase, round, server: s.name, r, placement: placement(s.pid, before) });
      console.error(`${phase} round ${round} ${s.name}: ${Math.round(r.qps)} qps, ${r.cpuUsPerQuery.toFixed(2)} µs CPU/query (load ${loadAverage()})`);
    }
  }
}

const queryFile = join(dir, 'queries.txt');
const rows: Row[] = [];
const loadBefore = loadAverage();
try {
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(`${svcName(Math.floor(Math.random() * SERVICES))}.${ZONE} ${i % 2 === 0 ? 'A' : 'SRV'}`);
  writeFileSync(queryFile, lines.join('\n') + '\n');

  // ---- one core each ----
  const pharos = await startPharos('pharos', [], ROOT, PROFILE);
  const one: Server[] = [pharos];
  if (COMPONENT) one.push(await startComponent(pharos.db));
  if (DGRAM) one.push(await startPharos('pharos server --dns-io dgram', ['--dns-io', 'dgram']));
  if (BASE) one.push(await startPharos('pharos (base)', [], BASE));
  one.push(await startKnot(1));
  try {
    for (const s of one) pinAll(s.pid, SERVER_CPU);
    await measure('one core', one, queryFile, CLIENT_CPU, rows);
  } finally {
    await Promise.all(one.map((s) => s.stop()));
  }

  // ---- n workers, unpinned ----
  if (WORKERS > 1) {
    const many = [await startPharos(`pharos --dns-workers ${WORKERS}`, ['--dns-workers', String(WORKERS)]), await startKnot(WORKERS)];
    try {
      await measure(`${WORKERS} workers`, many, queryFile, undefined, rows);
    } finally {
      await Promise.all(many.map((s) => s.stop()));
    }
  }

  console.log(
    `\n${SERVICES} services × ${INSTANCES} instances (A + SRV, MULTIVALUE), random A/SRV mix, dnsperf -q ${OUTSTANDING} -l ${SECONDS}; ` +
      `load average before ${loadBefore}, after ${loadAverage()}\n`,
  );
  console.log('| phase | round | server | qps | lost | probe latency p50 / p99 / p99.9 (lost) | dnsperf avg | server CPU per query | qps vs knot | CPU/query: knot ÷ this |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const knot = rows.find((x) => x.phase === row.phase && x.round === row.round && x.server.startsWith('knot'));
    const ratio = knot && knot !== row ? `${((100 * row.r.qps) / knot.r.qps).toFixed(1)} %` : '';
    const cpuRatio = knot && knot !== row ? `${((100 * knot.r.cpuUsPerQuery) / row.r.cpuUsPerQuery).toFixed(1)} %` : '';
    const lost = `${row.r.lost} (${((100 * row.r.lost) / row.r.sent).toFixed(3)} %)`;
    const lat = `${row.r.p50Ms.toFixed(2)} / ${row.r.p99Ms.toFixed(2)} / ${row.r.p999Ms.toFixed(2)} ms (${row.r.probeLost})`;
    console.log(
      `| ${row.phase} | ${row.round} | ${row.server} | ${Math.round(row.r.qps)} | ${lost} | ${lat} | ${row.r.avgMs.toFixed(2)} ms | ${row.r.cpuUsPerQuery.toFixed(2)} µs | ${ratio} | ${cpuRatio} |`,
    );
  }
  console.log('\nThread placement during each measurement (allowed CPUs, last CPU, CPU used):');
  for (const row of rows) console.log(`- ${row.phase} r${row.round} ${row.server}: ${row.placement}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
