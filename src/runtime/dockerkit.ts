/**
 * Test support (not part of the runtime's surface): a private Docker Engine for one test file —
 * its own `dockerd` (and the containerd it starts) with socket, data, state and pid file under a
 * temp dir, an image built offline from busybox-static, and a bridge network in the caller's
 * CIDR. One per file, shared by its tests. Stopped (its containers removed first) by close().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../lib/index.ts';
import { Engine, removeContainer } from './engine.ts';
import { buildTestImage, busyboxMissing, run } from './testimage.ts';

/** dockerd and the containerd it starts get this long to stop before they are SIGKILLed. */
const DOCKERD_STOP_TIMEOUT_MS = 15_000;
/**
 * The pool dockerd takes subnets from when a network is created without one (this kit always
 * names one): inside issue 12's block of the benchmarking range, instead of Docker's defaults in
 * 172.17.0.0/16 and 192.168.0.0/16, which this project's hosts must not use.
 */
const ADDRESS_POOL = 'base=198.18.129.0/24,size=24';

/**
 * What dockerd needs on this machine (see src/runtime/README.md, "Setting up Docker Engine"):
 * no default bridge (`--bridge=none`: Docker's 172.17.0.0/16 is not allowed here, and awsvpc
 * tasks use Pharos's own bridge), no iptables, NAT or ip_forward changes on the host, the
 * cgroupfs driver (no systemd), vfs storage (works on any root fs), runc, and nofile/nproc
 * ulimits under the host's hard limits (runc: "error setting rlimit type 7").
 */
function dockerdArgs(dir: string): string[] {
  return [
    `--host=unix://${path.join(dir, 'docker.sock')}`,
    `--data-root=${path.join(dir, 'data')}`,
    `--exec-root=${path.join(dir, 'exec')}`,
    `--pidfile=${path.join(dir, 'docker.pid')}`,
    '--bridge=none',
    '--iptables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    `--default-address-pool=${ADDRESS_POOL}`,
    '--exec-opt=native.cgroupdriver=cgroupfs',
    '--storage-driver=vfs',
    '--default-runtime=runc',
    '--default-ulimit=nofile=1024:1024',
    '--default-ulimit=nproc=1024:1024',
  ];
}

/** Why a private dockerd cannot be used by tests here, or undefined. */
export async function dockerUnsupportedReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not running as root';
  if ((await run('dockerd', ['--version'], process.env).catch(() => undefined)) === undefined) return 'dockerd is not installed (Debian: docker.io)';
  return busyboxMissing();
}

export interface DockerKit {
  kind: 'docker';
  dir: string;
  /** `unix://…` of the API socket. */
  url: string;
  engine: Engine;
  /** The bridge network created for this kit (when asked for). */
  network?: string;
  /** Imports the test image `ref` (testimage.ts). */
  buildImage(ref: string): Promise<void>;
  close(): Promise<void>;
}

export async function startDocker(options: { name: string; subnet?: string }): Promise<DockerKit> {
  const dir = mkdtempSync(path.join(tmpdir(), `${options.name}-docker-`));
  const socket = path.join(dir, 'docker.sock');
  const daemon: ChildProcess = spawn('dockerd', dockerdArgs(dir), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  const engine = new Engine({ socketPath: socket });
  const kit: DockerKit = {
    kind: 'docker',
    dir,
    url: `unix://${socket}`,
    engine,
    buildImage: (ref) => buildTestImage(engine, dir, ref),
    async close() {
      if (daemon.exitCode === null) {
        const left = await engine.docker.listContainers({ all: true }).catch(() => []);
        await Promise.all(left.map((c) => removeContainer(engine.docker.getContainer(c.Id)).catch(() => undefined)));
        if (kit.network !== undefined) await engine.docker.getNetwork(kit.network).remove().catch(() => undefined);
        daemon.kill('SIGTERM');
        const timer = setTimeout(() => daemon.kill('SIGKILL'), DOCKERD_STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  try {
    await eventually(() => existsSync(socket) || daemon.exitCode !== null, { timeoutMs: 30_000 });
    if (daemon.exitCode !== null) throw new Error(`dockerd exited with ${daemon.exitCode}`);
    await engine.probe(15_000);
    if (options.subnet !== undefined) {
      const network = `${options.name}net`;
      await engine.docker.createNetwork({ Name: network, Driver: 'bridge', IPAM: { Config: [{ Subnet: options.subnet }] } });
      kit.network = network;
    }
  } catch (err) {
    await kit.close();
    throw new Error(`dockerd did not start: ${(err as Error).message}; stderr: ${stderr}`);
  }
  return kit;
}
