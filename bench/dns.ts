/**
 * DNS throughput: Pharos vs Knot DNS, same records, same dnsperf run.
 *
 *   node --import tsx bench/dns.ts [--seconds 10] [--rounds 2] [--services 1000] [--instances 4] [--pin] [--workers 2]
 *
 * Builds a store with one DNS namespace (`bench.local`) of N services × M instances (A + SRV
 * records, MULTIVALUE), serves it with Pharos in a child process (one Node thread), writes the same
 * records as a zone file for knotd (one UDP worker), and runs dnsperf against each in turn over
 * 127.0.0.1 with a random A/SRV query mix. `--pin` puts the server on CPU 1 and dnsperf on CPU 0.
 * `--workers n` also compares Pharos with n worker processes sharing the socket against knotd with
 * n UDP workers (not pinned).
 * Needs: apt-get install -y dnsperf knot.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { keys, type InstanceRecord, type NamespaceRecord, type ServiceRecord } from '../src/registry/index.ts';
import { SqliteKV } from '../src/store/sqlite.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = flag('seconds', 10);
const ROUNDS = flag('rounds', 2);
const SERVICES = flag('services', 1000);
const INSTANCES = flag('instances', 4);
const PIN = args.includes('--pin');
const WORKERS = flag('workers', 1);
const ZONE = 'bench.local';
const TTL = 60;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

for (const tool of ['dnsperf', 'knotd']) {
  if (spawnSync('which', [tool]).status !== 0) {
    console.error(`${tool} not found: apt-get install -y dnsperf knot`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pharos-dnsbench-'));
const svcName = (s: number) => `svc-${String(s).padStart(4, '0')}`;
const ipOf = (s: number, i: number) => `198.18.${Math.floor((s * INSTANCES + i) / 250)}.${((s * INSTANCES + i) % 250) + 1}`;

async function buildStore(path: string): Promise<void> {
  const kv = await SqliteKV.open(path);
  const ns: NamespaceRecord = { id: 'ns-bench0000000000', arn: 'arn:ns', name: ZONE, type: 'DNS_PRIVATE', httpName: ZONE, soaTtl: TTL, createDate: 0, tags: [] };
  await kv.create(keys.namespace(ns.id), JSON.stringify(ns));
  for (let s = 0; s < SERVICES; s++) {
    const id = `srv-bench${String(s).padStart(9, '0')}`;
    const svc: ServiceRecord = {
      id,
      arn: `arn:svc:${id}`,
      name: svcName(s),
      namespaceId: ns.id,
      type: 'DNS_HTTP',
      dnsConfig: { routingPolicy: 'MULTIVALUE', dnsRecords: [{ type: 'A', ttl: TTL }, { type: 'SRV', ttl: TTL }] },
      createDate: 0,
      tags: [],
      attributes: {},
    };
    const ops = [{ type: 'put' as const, key: keys.service(id), value: JSON.stringify(svc) }];
    for (let i = 0; i < INSTANCES; i++) {
      const inst: InstanceRecord = { id: `i-${i}`, serviceId: id, attributes: { AWS_INSTANCE_IPV4: ipOf(s, i), AWS_INSTANCE_PORT: String(8000 + i) }, registeredAt: 0 };
      ops.push({ type: 'put', key: keys.instance(id, inst.id), value: JSON.stringify(inst) });
    }
    await kv.txn(ops);
  }
  await kv.close();
}

/** The same records as Pharos serves, as a zone file (SOA/NS as Pharos publishes them). */
function zoneFile(): string {
  const lines = [
    `$ORIGIN ${ZONE}.`,
    `@ ${TTL} IN SOA ns.dns hostmaster 1 7200 900 1209600 ${TTL}`,
    `@ ${TTL} IN NS ns.dns`,
    `ns.dns ${TTL} IN A 127.0.0.1`,
  ];
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
    const probe = spawnSync(process.execPath, ['-e', `
      const d=require('dgram').createSocket('udp4'); const n=require('net').createServer();
      d.on('error',()=>process.exit(1)); n.on('error',()=>process.exit(1));
      d.bind(${port},'127.0.0.1',()=>n.listen(${port},'127.0.0.1',()=>{d.close();n.close();}));`]);
    if (probe.status === 0) return port;
  }
  throw new Error('no free port');
}

function pinned(cpu: number, cmd: string, argv: string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv];
}

async function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  const rl = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
    rl.on('line', (line) => {
      const m = pattern.exec(line);
      if (m) resolve(m);
    });
  });
}

async function startPharos(dbPath: string, workers = 1): Promise<{ port: number; child: ChildProcess }> {
  const serverArgs = ['--import', 'tsx', join(ROOT, 'bench/dns-server.ts'), dbPath, '127.0.0.1:0', '8', String(workers)];
  const [cmd, argv] = workers > 1 ? [process.execPath, serverArgs] : pinned(1, process.execPath, serverArgs);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitForLine(child, /^ready (\d+)$/, 'pharos dns');
  return { port: Number(m[1]), child };
}

async function startKnot(workers: number): Promise<{ port: number; child: ChildProcess }> {
  const port = freePort();
  const kdir = join(dir, `knot-${workers}`);
  spawnSync('mkdir', ['-p', kdir]);
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
  const [cmd, argv] = workers > 1 ? ['knotd', ['-c', join(kdir, 'knot.conf')]] : pinned(1, 'knotd', ['-c', join(kdir, 'knot.conf')]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  // knotd prints nothing when ready at this log level: poll with dig until the zone answers.
  for (let i = 0; i < 200; i++) {
    const r = spawnSync('dig', ['+short', '+tries=1', '+time=1', '-p', String(port), '@127.0.0.1', `${svcName(0)}.${ZONE}`, 'A']);
    if (r.stdout.toString().trim()) return { port, child };
    await new Promise((res) => setTimeout(res, 50));
  }
  child.kill();
  throw new Error('knotd did not start');
}

interface PerfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  avgLatencyMs: number;
  noerror: number;
}

function dnsperf(port: number, queryFile: string, seconds: number): PerfResult {
  const [cmd, argv] = pinned(0, 'dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(seconds), '-q', '200', '-t', '2']);
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  const out = r.stdout + r.stderr;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    noerror: num(/NOERROR (\d+)/),
  };
}

const dbPath = join(dir, 'pharos.db');
const queryFile = join(dir, 'queries.txt');
try {
  console.error(`building store: ${SERVICES} services × ${INSTANCES} instances`);
  await buildStore(dbPath);
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(`${svcName(Math.floor(Math.random() * SERVICES))}.${ZONE} ${i % 2 === 0 ? 'A' : 'SRV'}`);
  writeFileSync(queryFile, lines.join('\n') + '\n');

  const pharos = await startPharos(dbPath);
  const knot = await startKnot(1);
  const results: { round: number; server: string; r: PerfResult }[] = [];
  try {
    // Warm up both (JIT, answer cache), then alternate so load from others hits both alike.
    dnsperf(pharos.port, queryFile, 2);
    dnsperf(knot.port, queryFile, 2);
    for (let round = 1; round <= ROUNDS; round++) {
      results.push({ round, server: 'pharos', r: dnsperf(pharos.port, queryFile, SECONDS) });
      results.push({ round, server: 'knot (1 udp worker)', r: dnsperf(knot.port, queryFile, SECONDS) });
    }
  } finally {
    pharos.child.kill('SIGTERM');
    knot.child.kill('SIGTERM');
  }
  if (WORKERS > 1) {
    const pharosN = await startPharos(dbPath, WORKERS);
    const knotN = await startKnot(WORKERS);
    try {
      dnsperf(pharosN.port, queryFile, 2);
      dnsperf(knotN.port, queryFile, 2);
      for (let round = 1; round <= ROUNDS; round++) {
        results.push({ round, server: `pharos (${WORKERS} workers)`, r: dnsperf(pharosN.port, queryFile, SECONDS) });
        results.push({ round, server: `knot (${WORKERS} udp workers)`, r: dnsperf(knotN.port, queryFile, SECONDS) });
      }
    } finally {
      pharosN.child.kill('SIGTERM');
      knotN.child.kill('SIGTERM');
    }
  }
  const load = spawnSync('cat', ['/proc/loadavg']).stdout.toString().trim();
  console.log(`\n${SERVICES} services × ${INSTANCES} instances, A/SRV mix, dnsperf -q 200 -l ${SECONDS}${PIN ? ', pinned' : ''}; loadavg after: ${load}\n`);
  console.log('| round | server | qps | lost | loss % | avg latency |');
  console.log('|---|---|---|---|---|---|');
  for (const { round, server, r } of results) {
    console.log(`| ${round} | ${server} | ${Math.round(r.qps)} | ${r.lost} | ${((100 * r.lost) / r.sent).toFixed(3)} | ${r.avgLatencyMs.toFixed(2)} ms |`);
  }
  for (const [pharosName, knotName] of [
    ['pharos', 'knot (1 udp worker)'],
    [`pharos (${WORKERS} workers)`, `knot (${WORKERS} udp workers)`],
  ]) {
    for (let round = 1; round <= ROUNDS; round++) {
      const p = results.find((x) => x.round === round && x.server === pharosName)?.r;
      const k = results.find((x) => x.round === round && x.server === knotName)?.r;
      if (p && k) console.log(`round ${round}: ${pharosName} / ${knotName} = ${((100 * p.qps) / k.qps).toFixed(1)}%`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
