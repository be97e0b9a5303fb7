/**
 * Real endpoints for health tests and benchmarks: servers on 127.0.0.1 that can be turned on and
 * off, and that misbehave in the ways the issue lists. Not part of the public surface (index.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A server the test can stop and start again on the same port. */
export interface Endpoint {
  readonly port: number;
  /** Requests (HTTP) or connections (TCP) seen. */
  readonly hits: number;
  readonly lastPath: string | undefined;
  /** Connections accepted and not yet closed (the probe must close every one). */
  openConnections(): number;
  /** Changes the status code HTTP endpoints answer with. */
  setStatus(code: number): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

type Kind = 'http' | 'https' | 'tcp' | 'reset' | 'silent' | 'garbage' | 'hangup' | 'endless' | 'interim';

export interface TlsMaterial {
  key: string;
  cert: string;
}

/** Starts a misbehaving or well-behaved server on 127.0.0.1 (or another loopback `host`; port 0 unless given). */
export async function startEndpoint(kind: Kind, options: { host?: string; port?: number; tls?: TlsMaterial; status?: number } = {}): Promise<Endpoint> {
  const host = options.host ?? '127.0.0.1';
  let status = options.status ?? 200;
  let hits = 0;
  let lastPath: string | undefined;
  const sockets = new Set<net.Socket>();

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    hits++;
    lastPath = req.url;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('ok\n');
  };
  const onSocket = (socket: net.Socket): void => {
    hits++;
    socket.on('error', () => {});
    // Drain what the client sends, so its FIN is seen and the connection can close.
    socket.resume();
    switch (kind) {
      case 'reset':
        socket.resetAndDestroy();
        break;
      case 'silent':
        break; // accepts, reads, never answers
      case 'garbage':
        socket.end('SSH-2.0-OpenSSH_9.6\r\nthis is not http\r\n');
        break;
      case 'hangup':
        socket.end();
        break;
      case 'endless': {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = (): void => {
          while (!socket.destroyed && socket.write(chunk));
          if (!socket.destroyed) socket.once('drain', pump);
        };
        pump();
        break;
      }
      case 'interim':
        socket.once('data', () => socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
        break;
      default:
        break;
    }
  };

  const make = (): net.Server => {
    let server: net.Server;
    if (kind === 'http') server = http.createServer({ keepAlive: false }, onRequest);
    else if (kind === 'https') server = https.createServer({ ...options.tls! }, onRequest);
    else server = net.createServer(onSocket);
    server.on('connection', (s: net.Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    });
    server.on('tlsClientError', () => {});
    return server;
  };

  let server: net.Server | undefined;
  let port = options.port ?? 0;
  const listen = async (): Promise<void> => {
    const s = make();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => resolve());
    });
    port = (s.address() as net.AddressInfo).port;
    server = s;
  };
  const shut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();

  return {
    get port() {
      return port;
    },
    get hits() {
      return hits;
    },
    get lastPath() {
      return lastPath;
    },
    openConnections: () => sockets.size,
    setStatus: (code) => void (status = code),
    down: shut,
    up: listen,
    close: shut,
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * A throw-away self-signed certificate made with the `openssl` CLI in a temp dir; undefined when
 * openssl is not installed.
 */
export async function selfSignedCert(): Promise<TlsMaterial | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pharos-health-tls-'));
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=pharos-health-test',
    ]);
    return { key: await readFile(path.join(dir, 'key.pem'), 'utf8'), cert: await readFile(path.join(dir, 'cert.pem'), 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Counts of active handles by kind (`TCPSocketWrap`, `Timeout`, …) for leak checks. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** A network namespace a test made (and must destroy); only loopback is up unless the test adds more. */
export interface TestNetns {
  readonly name: string;
  /** Runs `ip <args>` inside the namespace (`ip -n <name> …`). */
  ip(...args: string[]): Promise<void>;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(argv: string[], options?: { timeoutMs?: number }): Promise<string>;
  destroy(): Promise<void>;
}

let netnsSeq = 0;

/**
 * Creates `phhc-<pid>-<n>`; resolves with the reason instead when namespaces are not available (not
 * root, no `ip`). Not `pharos-…`: a task runtime's cleanup() removes every namespace with its
 * prefix (default `pharos-`), and another test's server would kill what runs in ours.
 */
export async function createNetns(): Promise<TestNetns | string> {
  const name = `phhc-${process.pid}-${netnsSeq++}`;
  try {
    await run('ip', ['netns', 'add', name]);
  } catch (err) {
    return `cannot create a network namespace (${(err as Error).message.split('\n')[0]})`;
  }
  const ns: TestNetns = {
    name,
    async ip(...args) {
      await run('ip', ['-n', name, ...args]);
    },
    async exec(argv, options = {}) {
      try {
        const { stdout } = await run('ip', ['netns', 'exec', name, ...argv], { timeout: options.timeoutMs ?? 20_000 });
        return stdout;
      } catch (err) {
        const e = err as Error & { stderr?: string; code?: unknown; signal?: unknown };
        throw new Error(`in netns ${name}: exit ${String(e.code)} signal ${String(e.signal)}: ${e.stderr?.trim() || e.message}`, { cause: err });
      }
    },
    async destroy() {
      await run('ip', ['netns', 'del', name]).catch(() => {});
    },
  };
  await ns.ip('link', 'set', 'lo', 'up');
  return ns;
}
