/**
 * Shared pieces of the API benchmarks: the server as a separate child process (honest numbers:
 * client and server do not share an event loop), and a lean keep-alive HTTP/1.1 client speaking
 * AWS JSON 1.1 over raw sockets, so the client costs as little CPU as possible on a 2-core box.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PREFIX = 'Route53AutoNaming_v20170314';

export interface ChildServer {
  child: ChildProcess;
  url: string;
  port: number;
  /** The DNS server's UDP/TCP port. */
  dnsPort: number;
  /** Milliseconds from spawn to the first 200 on /ping. */
  readyMs: number;
  stop(): Promise<number | string>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'pharos-bench-'));
}

/**
 * Spawns `bin/pharos.js server` (of the checkout at `root`, default this one: another one, e.g.
 * today's main, compares in the same run) and resolves once /ping answers 200. `--api-addr` and
 * `--dns-addr` default to port 0; later flags in `args` override them.
 */
export async function startServerProcess(args: string[], root = ROOT, nodeArgs: string[] = []): Promise<ChildServer> {
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []), join(root, 'bin/pharos.js'), 'server', '--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const [url, dnsPort] = await new Promise<[string, number]>((resolve, reject) => {
    const lines: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
    // main prints `pharos listening: api <url> dns <host:port>` on stdout whatever the log level.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^pharos listening: api (\S+)(?: dns \S+:(\d+))?/.exec(line);
      if (m) resolve([m[1]!, Number(m[2] ?? NaN)]);
    });
    void exited.then((code) => reject(new Error(`server exited (${code}):\n${lines.join('\n')}`)));
  });
  const port = Number(new URL(url).port);
  for (;;) {
    try {
      const r = await fetch(`${url}/ping`);
      if (r.status === 200) break;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const readyMs = performance.now() - started;
  return {
    child,
    url,
    port,
    dnsPort,
    readyMs,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc (10 ms ticks). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces): utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const CLOCK_TICKS_PER_SECOND = 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * With `PHAROS_CREDENTIALS=<id>:<secret>[,...]` in the environment, the spawned server (which
 * inherits it) checks SigV4 and every benchmark request is signed with the first pair, so the
 * same benchmarks measure the cost of authentication.
 */
const BENCH_KEY = (() => {
  const first = process.env.PHAROS_CREDENTIALS?.split(',')[0];
  const colon = first?.indexOf(':') ?? -1;
  return first && colon > 0 ? { id: first.slice(0, colon), secret: first.slice(colon + 1) } : undefined;
})();

let signingDay = '';
let signingKey: Buffer = Buffer.alloc(0);

/** SigV4 header lines (`Name: value\r\n`) for a POST / with these headers, or '' without credentials. */
function authHeaders(host: string, target: string, body: string): string {
  if (!BENCH_KEY) return '';
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  if (day !== signingDay) {
    signingKey = h(h(h(h(`AWS4${BENCH_KEY.secret}`, day), 'us-east-1'), 'servicediscovery'), 'aws4_request');
    signingDay = day;
  }
  const payloadHash = createHash('sha256').update(body).digest('hex');
  const canonical = `POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:${host}\nx-amz-date:${amzDate}\nx-amz-target:${target}\n\ncontent-type;host;x-amz-date;x-amz-target\n${payloadHash}`;
  const scope = `${day}/us-east-1/servicediscovery/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  return `X-Amz-Date: ${amzDate}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=${BENCH_KEY.id}/${scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${signature}\r\n`;
}

export interface Reply {
  status: number;
  /** Raw body bytes: decoding 20 KB of JSON per response would cost the client more than the check needs. */
  bytes: Buffer;
  readonly body: string;
}

function reply(status: number, bytes: Buffer): Reply {
  return {
    status,
    bytes,
    get body() {
      return bytes.toString('utf8');
    },
  };
}

/**
 * One keep-alive HTTP/1.1 connection, one request at a time. Parses just enough of the response
 * (status line, Content-Length) to hand back the body.
 */
export class Connection {
  private readonly socket: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending?: { resolve: (r: Reply) => void; reject: (e: Error) => void };
  private readonly ready: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = connect(port, host);
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', (err) => this.pending?.reject(err));
    this.socket.on('close', () => this.pending?.reject(new Error('connection closed')));
  }

  async call(operation: string, body: string): Promise<Reply> {
    await this.ready;
    const head =
      `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n` +
      `X-Amz-Target: ${PREFIX}.${operation}\r\n${authHeaders('127.0.0.1', `${PREFIX}.${operation}`, body)}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(head + body);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buffer.toString('latin1', 0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < headEnd + 4 + length) return;
    const status = Number(head.slice(9, 12));
    const bytes = this.buffer.subarray(headEnd + 4, headEnd + 4 + length);
    this.buffer = this.buffer.subarray(headEnd + 4 + length);
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(reply(status, bytes));
  }
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Runs `concurrency` workers, each on its own connection, issuing requests back to back for
 * `seconds` or until `done()`. `next(i)` gives the i-th request; a non-200 counts as an error.
 */
export async function runLoad(
  port: number,
  concurrency: number,
  seconds: number,
  next: (i: number) => { operation: string; body: string },
  check?: (reply: Reply) => void,
  done?: () => boolean,
): Promise<LoadResult> {
  const conns = Array.from({ length: concurrency }, () => new Connection(port));
  const latencies: number[] = [];
  let i = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    conns.map(async (conn) => {
      while (performance.now() < deadline && !done?.()) {
        const req = next(i++);
        const t0 = performance.now();
        const reply = await conn.call(req.operation, req.body);
        latencies.push(performance.now() - t0);
        if (reply.status !== 200) {
          errors++;
          firstError ??= `${reply.status} ${reply.body}`;
        } else check?.(reply);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  for (const c of conns) c.close();
  if (firstError) console.error(`first error: ${firstError}`);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return {
    requests: latencies.length,
    errors,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
  };
}

/** One request on a fresh connection (setup calls). Throws on a non-200. */
export async function call(port: number, operation: string, input: unknown): Promise<Record<string, unknown>> {
  const conn = new Connection(port);
  try {
    const r = await conn.call(operation, JSON.stringify(input));
    if (r.status !== 200) throw new Error(`${operation}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  } finally {
    conn.close();
  }
}

/** Polls GetOperation until SUCCESS. */
export async function waitOperation(port: number, operationId: string): Promise<Record<string, unknown>> {
  for (;;) {
    const { Operation } = (await call(port, 'GetOperation', { OperationId: operationId })) as { Operation: Record<string, unknown> };
    if (Operation['Status'] === 'SUCCESS') return Operation;
    if (Operation['Status'] === 'FAIL') throw new Error(`operation ${operationId} failed: ${JSON.stringify(Operation)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Creates an HTTP namespace and a service in it; returns the service id. */
export async function setupService(port: number, namespace: string, service: string, extra: Record<string, unknown> = {}): Promise<string> {
  const { OperationId } = (await call(port, 'CreateHttpNamespace', { Name: namespace })) as { OperationId: string };
  const op = await waitOperation(port, OperationId);
  const nsId = (op['Targets'] as Record<string, string>)['NAMESPACE'];
  const { Service } = (await call(port, 'CreateService', { Name: service, NamespaceId: nsId, ...extra })) as { Service: { Id: string } };
  return Service.Id;
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A reply as the ceiling server replays it (bench/http-ceiling.ts). */
export interface RecordedReply {
  status: number;
  headers: Record<string, string>;
  /** base64 */
  body: string;
}

/** Sends one request and records status, headers (but the per-response ones) and body. */
export function recordReply(port: number, operation: string, body: string): Promise<RecordedReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `${PREFIX}.${operation}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            const name = res.rawHeaders[i]!;
            if (!/^(date|connection|keep-alive|content-length)$/i.test(name)) headers[name] = res.rawHeaders[i + 1]!;
          }
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('base64') });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the bare-Node ceiling server (bench/http-ceiling.ts) on `port`, replaying `reply`. */
export async function startCeiling(port: number, reply: RecordedReply): Promise<{ child: ChildProcess; stop(): Promise<unknown> }> {
  const file = join(mkdtempSync(join(tmpdir(), 'pharos-ceiling-')), 'reply.json');
  writeFileSync(file, JSON.stringify(reply));
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/http-ceiling.ts'), String(port), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('ready') && resolve());
    void exited.then((code) => reject(new Error(`ceiling server exited (${code})`)));
  });
  return {
    child,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A TCP port free right now on 127.0.0.1 (the servers compared in one run take turns on it). */
export async function freeTcpPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
