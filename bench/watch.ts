/**
 * The watch API (`GET /v1/namespaces/{ns}/services/{svc}/instances?index=&wait=`) against a real
 * `pharos server` child process.
 *
 *   node --import tsx bench/watch.ts [--rounds 200] [--services 100] [--per-service 100] [--idle-seconds 10]
 *
 * 1. Latency, `--rounds` times for each registrar: a blocking watch waits on a service (the
 *    server's `pharos_watch_waiters` gauge says so), then RegisterInstance is sent, alternately
 *    through the AWS SDK and as a plain HTTP POST; times from just before the call to the watch's
 *    answer, next to the call's own acknowledgement and, as the reference, a client polling
 *    DiscoverInstancesRevision every 10 ms in the same rounds.
 * 2. Idle scale: `--services` × `--per-service` blocking watches (raw TCP, `wait=5m`), the server's
 *    resident memory before and after, its CPU over `--idle-seconds` of idling (from
 *    /proc/<pid>/stat), then one registration in one service: how many watches answer (only that
 *    service's), and how fast.
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const ROUNDS = arg('--rounds', 200);
const SERVICES = arg('--services', 100);
const PER_SERVICE = arg('--per-service', 100);
const IDLE_SECONDS = arg('--idle-seconds', 10);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NS = 'watchbench';
/** Linux clock ticks per second for /proc/<pid>/stat utime and stime. */
const CLK_TCK = 100;

const dir = mkdtempSync(join(tmpdir(), 'pharos-watchbench-'));
const child = spawn(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', '--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dir, '--log-level', 'info', '--max-instances-per-namespace', '100000',
  // Every watch is a connection: the default cap (4096) would refuse most of the 10,000.
  '--http-max-connections', String(SERVICES * PER_SERVICE + 1000),
  // ...and all of them come from this one address: past the per-client watch cap (1024) too.
  '--watch-max-per-client', String(SERVICES * PER_SERVICE + 1000)], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'pipe'],
});
const apiUrl = await new Promise<string>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      const rec = JSON.parse(line) as { apiUrl?: string };
      if (rec.apiUrl) resolve(rec.apiUrl);
    } catch {
      /* not a log line */
    }
  });
});
const port = Number(new URL(apiUrl).port);
const sd = new ServiceDiscovery({ endpoint: apiUrl, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, disableHostPrefix: true, maxAttempts: 1 });
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function get(path: string): Promise<{ status: number; body: string; index: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, index: Number(res.headers['x-pharos-index']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One Cloud Map call as a plain JSON POST (no SDK), over the same keep-alive agent. */
function call(target: string, input: object): Promise<string> {
  const body = JSON.stringify(input);
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `Route53AutoNaming_v20170314.${target}`, 'content-length': Buffer.byteLength(body) };
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${target}: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waiters(): Promise<number> {
  const m = /^pharos_watch_waiters (\d+)/m.exec((await get('/metrics')).body);
  return Number(m?.[1] ?? -1);
}

async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function waitOp(id: string | undefined): Promise<void> {
  await until(async () => (await sd.getOperation({ OperationId: id })).Operation?.Status === 'SUCCESS');
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const ms = (x: number) => `${x.toFixed(2)} ms`;
function summary(name: string, xs: number[]): string {
  return `${name.padEnd(44)} p50 ${ms(pct(xs, 50))}  p90 ${ms(pct(xs, 90))}  p99 ${ms(pct(xs, 99))}  max ${ms(Math.max(...xs))}`;
}

function rssMiB(pid = child.pid): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}
const serverRssMiB = () => rssMiB();

/** The histogram's upper bucket bound under which `q` of the observations fall. */
async function bucketQuantile(q: number): Promise<string> {
  const text = (await get('/metrics')).body;
  const buckets = [...text.matchAll(/^pharos_watch_wake_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])] as const);
  const count = buckets.at(-1)?.[1] ?? 0;
  return buckets.find(([, n]) => n >= q * count)?.[0] ?? '?';
}

/** RSS growth of a bare node:http server that holds `n` such requests without answering: node's own cost per connection. */
async function bareHttpFloor(n: number): Promise<number> {
  const bare = spawn(process.execPath, ['-e', "const held=[];const s=require('http').createServer((q,r)=>held.push(r));s.listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const bport = await new Promise<number>((resolve) => bare.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssMiB(bare.pid);
  const socks: net.Socket[] = [];
  for (let k = 0; k < n; k += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, n - k) }, () =>
        new Promise<void>((resolve) => {
          const sock = net.connect(bport, '127.0.0.1', () => {
            sock.write(`GET /v1/namespaces/${NS}/services/s0/instances?index=0&wait=5m HTTP/1.1\r\nHost: localhost\r\n\r\n`);
            resolve();
          });
          socks.push(sock);
        }),
      ),
    );
  }
  await new Promise((r) => setTimeout(r, 3000));
  const grown = rssMiB(bare.pid) - before;
  for (const sock of socks) sock.destroy();
  bare.kill();
  return grown;
}
function serverCpuSeconds(): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
}

try {
  const op = await sd.createHttpNamespace({ Name: NS });
  await waitOp(op.OperationId);
  const nsId = (await sd.listNamespaces({})).Namespaces!.find((n) => n.Name === NS)!.Id!;

  // ---- 1. latency -------------------------------------------------------------------------
  const svc = (await sd.createService({ Name: 'latency', NamespaceId: nsId })).Service!.Id!;
  const path = `/v1/namespaces/${NS}/services/latency/instances`;
  // Two registrars, alternating round by round so both see the same conditions: the AWS SDK (what
  // users run; its own client-side work is part of the figure) and a plain HTTP POST of the same
  // JSON (Pharos's part alone). The watcher and the polling reference use plain HTTP, so neither
  // steals the registrar's event loop.
  const series = { sdk: { ack: [] as number[], watch: [] as number[], poll: [] as number[] }, http: { ack: [] as number[], watch: [] as number[], poll: [] as number[] } };
  for (let i = 0; i < 2 * ROUNDS; i++) {
    const via = i % 2 === 0 ? 'sdk' : 'http';
    const { index } = await get(path);
    const watched = get(`${path}?index=${index}&wait=30s`).then(() => performance.now());
    await until(async () => (await waiters()) === 1);
    // The reference: a client polling DiscoverInstancesRevision every 10 ms.
    let polling = true;
    const polled = (async () => {
      while (polling) {
        const r = (JSON.parse(await call('DiscoverInstancesRevision', { NamespaceName: NS, ServiceName: 'latency' })) as { InstancesRevision: number }).InstancesRevision;
        if (r !== index) return performance.now();
        await new Promise((res) => setTimeout(res, 10));
      }
      return NaN;
    })();
    // Let the poller start its cycle at a random phase, as a real one would be.
    await new Promise((res) => setTimeout(res, Math.random() * 10));
    const input = { ServiceId: svc, InstanceId: `i-${i}`, Attributes: { AWS_INSTANCE_IPV4: '198.18.130.1' } };
    const t0 = performance.now();
    if (via === 'sdk') await sd.registerInstance(input);
    else await call('RegisterInstance', input);
    const s = series[via];
    s.ack.push(performance.now() - t0);
    s.watch.push((await watched) - t0);
    s.poll.push((await polled) - t0);
    polling = false;
  }
  for (const via of ['sdk', 'http'] as const) {
    const s = series[via];
    console.log(`latency, ${ROUNDS} rounds registered through ${via === 'sdk' ? 'the AWS SDK' : 'plain HTTP'} (register → the change seen):`);
    console.log(summary('RegisterInstance acknowledged', s.ack));
    console.log(summary('waiting watch answered', s.watch));
    console.log(summary('  … after the acknowledgement', s.watch.map((w, k) => w - s.ack[k]!)));
    console.log(summary('reference: DiscoverInstancesRevision poll/10ms', s.poll));
  }
  console.log(`server-side, store commit → watch answered (pharos_watch_wake_delay_seconds): p50 ≤ ${await bucketQuantile(0.5)} s, p99 ≤ ${await bucketQuantile(0.99)} s`);

  // ---- 2. idle scale ----------------------------------------------------------------------
  const names: string[] = [];
  for (let s = 0; s < SERVICES; s++) {
    await sd.createService({ Name: `s${s}`, NamespaceId: nsId });
    names.push(`s${s}`);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const rssBefore = serverRssMiB();
  // The server's own idle work (timers, compaction), without watches: the baseline.
  const base0 = serverCpuSeconds();
  const baseWall0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const cpuBaseline = ((serverCpuSeconds() - base0) / ((performance.now() - baseWall0) / 1000)) * 100;
  const sockets: net.Socket[] = [];
  const answered = new Map<net.Socket, number>();
  let t0 = 0;
  const open = (service: string) =>
    new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.write(`GET /v1/namespaces/${NS}/services/${service}/instances?index=0&wait=5m HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        resolve();
      });
      sock.setNoDelay(true);
      sock.once('data', () => answered.set(sock, performance.now() - t0));
      sock.on('error', reject);
      sockets.push(sock);
    });
  const total = SERVICES * PER_SERVICE;
  const openStarted = performance.now();
  for (let k = 0; k < total; k += 500) {
    await Promise.all(Array.from({ length: Math.min(500, total - k) }, (_, j) => open(names[(k + j) % SERVICES]!)));
  }
  await until(async () => (await waiters()) === total, 120_000);
  const openMs = performance.now() - openStarted;
  await new Promise((r) => setTimeout(r, 2000));
  const rssWaiting = serverRssMiB();
  const cpu0 = serverCpuSeconds();
  const wall0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const cpuIdle = ((serverCpuSeconds() - cpu0) / ((performance.now() - wall0) / 1000)) * 100;
  const rssIdle = serverRssMiB();
  console.log(`\nidle scale: ${total} blocking watches over ${SERVICES} services (${PER_SERVICE} each), opened in ${(openMs / 1000).toFixed(1)} s`);
  console.log(`server RSS: ${rssBefore.toFixed(1)} MiB before, ${rssWaiting.toFixed(1)} MiB with all waiting, ${rssIdle.toFixed(1)} MiB after ${IDLE_SECONDS} s idle → +${(rssIdle - rssBefore).toFixed(1)} MiB (${(((rssIdle - rssBefore) * 1024) / total).toFixed(1)} KiB per watch)`);
  console.log(`server CPU while idle: ${cpuIdle.toFixed(2)} % of one core over ${IDLE_SECONDS} s with the watches, ${cpuBaseline.toFixed(2)} % without (baseline, same length)`);


  // One change to one service: only its watches answer.
  const target = (await sd.listServices({})).Services!.find((s) => s.Name === 's0')!.Id!;
  t0 = performance.now();
  await sd.registerInstance({ ServiceId: target, InstanceId: 'one', Attributes: { AWS_INSTANCE_IPV4: '198.18.130.2' } });
  await until(async () => answered.size >= PER_SERVICE, 10_000);
  await new Promise((r) => setTimeout(r, 1000)); // anything else woken would have answered by now
  const left = await waiters();
  console.log(`one registration in s0: ${answered.size} watches answered (s0 has ${PER_SERVICE}), ${left} still waiting; all of s0's answered within ${ms(Math.max(...answered.values()))} (p50 ${ms(pct([...answered.values()], 50))})`);
  for (const sock of sockets) sock.destroy();
  // After closing ours: the reference opens as many again (file descriptors are bounded).
  const floor = await bareHttpFloor(total);
  console.log(`reference: a bare node:http server holding the same ${total} requests unanswered: +${floor.toFixed(1)} MiB (${((floor * 1024) / total).toFixed(1)} KiB per request)`);
} finally {
  agent.destroy();
  sd.destroy();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
