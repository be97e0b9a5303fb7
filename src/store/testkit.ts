/**
 * A real etcd cluster for tests: N members on loopback with free ports and their own data dirs,
 * stopped (and the dirs removed) by `stop()`. Members can be killed and restarted to test failover.
 * Not part of the store's public surface; tests import it directly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../lib/index.ts';

/** Raft tick for tests: fast enough that a killed member's leadership moves in about a second. */
const TEST_HEARTBEAT_MS = 100;
const TEST_ELECTION_MS = 1000;
/** A 3-member cluster on a loaded 2-core machine takes a few seconds to elect its first leader. */
const START_TIMEOUT_MS = 30_000;

/** Why etcd tests cannot run here, or undefined when the `etcd` binary is installed. */
function etcdSkipReason(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'etcd is not installed (Debian: apt-get install etcd-server etcd-client)';
  const ctl = spawnSync('etcdctl', ['version'], { encoding: 'utf8' });
  if (ctl.error || ctl.status !== 0) return 'etcdctl is not installed (Debian: apt-get install etcd-client)';
  return undefined;
}

/**
 * The `skip` option for a suite that needs etcd: false when it can run, else the reason. With
 * CI=true a missing etcd is a failure, not a skip.
 */
export function etcdSkip(): false | string {
  const reason = etcdSkipReason();
  if (reason === undefined) return false;
  if (process.env['CI'] === 'true') throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** Ports the kernel says are free on 127.0.0.1 (bound to port 0, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc?: ChildProcess;
  /** Log output kept for failure messages. */
  log: string[];
}

/** PEM files for a TLS etcd: its certificate and key, and the CA its clients' certificates must chain to. */
interface EtcdTestTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export class EtcdTestCluster {
  private constructor(
    private readonly members: Member[],
    private readonly root: string,
    private readonly initialCluster: string,
    private readonly tls?: EtcdTestTls,
  ) {}

  /**
   * Starts `size` members and resolves once every one of them reports healthy. With `tls` the client
   * URLs are https and clients must present a certificate signed by its CA (`--client-cert-auth`).
   */
  static async start(size = 3, options: { tls?: EtcdTestTls } = {}): Promise<EtcdTestCluster> {
    const root = mkdtempSync(join(tmpdir(), 'pharos-i10-etcd-'));
    const ports = await freePorts(size * 2);
    const scheme = options.tls ? 'https' : 'http';
    const members: Member[] = Array.from({ length: size }, (_, i) => ({
      name: `m${i}`,
      clientUrl: `${scheme}://127.0.0.1:${ports[2 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: join(root, `m${i}`),
      log: [],
    }));
    const cluster = new EtcdTestCluster(members, root, members.map((m) => `${m.name}=${m.peerUrl}`).join(','), options.tls);
    try {
      for (let i = 0; i < size; i++) cluster.spawnMember(i);
      await Promise.all(members.map((_, i) => cluster.waitHealthy(i)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** `host:port` of each member's client URL. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl.replace(/^https?:\/\//, ''));
  }

  /** Process ids of the running members (for CPU figures in benchmarks). */
  get pids(): number[] {
    return this.members.flatMap((m) => (m.proc?.pid === undefined ? [] : [m.proc.pid]));
  }

  /** A store URL over every member, with an optional key prefix (`/pharos` when omitted). */
  url(prefix?: string): string {
    return `${this.tls ? 'etcds' : 'etcd'}://${this.endpoints.join(',')}${prefix ?? ''}`;
  }

  /** Runs `etcdctl` against every member (as an operator would), e.g. `ctl('del', key)`; resolves with its stdout. */
  async ctl(...args: string[]): Promise<string> {
    if (this.tls) throw new Error('ctl: not for a TLS cluster');
    const proc = spawn('etcdctl', ['--endpoints', this.members.map((m) => m.clientUrl).join(','), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve, reject) => proc.once('error', reject).once('close', resolve));
    if (code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${code}: ${err.trim()}`);
    return out;
  }

  /** SIGKILLs member `i` (its data dir stays, so `restart(i)` brings it back with its data). */
  async kill(i: number): Promise<void> {
    const m = this.members[i]!;
    const proc = m.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    m.proc = undefined;
  }

  /** Starts a killed member again on the same ports and data dir. */
  async restart(i: number): Promise<void> {
    this.spawnMember(i);
    await this.waitHealthy(i);
  }

  /** Kills every member and removes their data dirs. Safe to call more than once. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
    rmSync(this.root, { recursive: true, force: true });
  }

  private spawnMember(i: number): void {
    const m = this.members[i]!;
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', this.initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `pharos-test-${process.pid}`,
      '--heartbeat-interval', String(TEST_HEARTBEAT_MS),
      '--election-timeout', String(TEST_ELECTION_MS),
      '--logger', 'zap',
      '--log-level', 'error',
      ...(this.tls ? ['--cert-file', this.tls.certFile, '--key-file', this.tls.keyFile, '--trusted-ca-file', this.tls.caFile, '--client-cert-auth'] : []),
    ];
    const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      m.log.push(chunk);
      if (m.log.length > 50) m.log.shift();
    });
    proc.on('error', (err) => m.log.push(String(err)));
    m.proc = proc;
  }

  /** GET over http, or https with the test certificates (etcd then wants a client certificate too). */
  private async get(url: string): Promise<string> {
    const tls = this.tls;
    if (!tls) return (await fetch(url, { signal: AbortSignal.timeout(1000) })).text();
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), timeout: 1000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body)).on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  private async waitHealthy(i: number): Promise<void> {
    const m = this.members[i]!;
    await eventually(
      async () => {
        if (!m.proc || m.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${m.log.join('')}`);
        const body = JSON.parse(await this.get(`${m.clientUrl}/health`)) as { health?: string };
        return body.health === 'true';
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 100, message: `etcd member ${m.name} healthy` },
    );
  }
}

/**
 * A TCP forwarder on loopback in front of one etcd member, which a test can cut (every connection
 * through it reset, new ones refused) and heal: a server behind gates is cut off from etcd
 * while others go on writing, as in a network partition.
 */
export class TcpGate {
  private readonly sockets = new Set<Socket>();
  private cut = false;

  private constructor(private readonly server: Server) {}

  /** Listens on a free loopback port and forwards each connection to `target` (`host:port`). */
  static async open(target: string): Promise<TcpGate> {
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    const server = createServer();
    const gate = new TcpGate(server);
    server.on('connection', (client) => {
      if (gate.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(port, host);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        gate.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          gate.sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return gate;
  }

  /** `host:port` to connect to instead of the member. */
  get address(): string {
    return `127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Resets every connection through the gate and refuses new ones until `heal()`. */
  partition(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.cut = false;
  }

  async stop(): Promise<void> {
    this.partition();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
