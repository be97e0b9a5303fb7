/**
 * Test support (not part of the runtime's surface): a private Podman for one test file — its own
 * storage, network configuration and API socket under a temp dir, an image built offline from
 * busybox-static, and a bridge network in the caller's CIDR. One per file, shared by its tests,
 * because starting the service and importing an image are the slow parts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../lib/index.ts';
import { Engine } from './engine.ts';
import { buildTestImage, busyboxMissing, run } from './testimage.ts';

/**
 * The settings this machine needs (see src/runtime/README.md): runc (crun refuses the hybrid
 * cgroup layout), the cgroupfs manager (no systemd), explicit nofile/nproc ulimits (runc cannot
 * raise them to the defaults Podman asks for here), vfs storage (no fuse/overlay needed).
 */
function containersConf(dir: string): string {
  return [
    '[containers]',
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    'log_driver = "k8s-file"',
    '[network]',
    `network_config_dir = "${dir}/cni"`,
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${dir}/events.log"`,
    `tmp_dir = "${dir}/tmp"`,
    '',
  ].join('\n');
}

function storageConf(dir: string): string {
  return ['[storage]', 'driver = "vfs"', `graphroot = "${dir}/root"`, `runroot = "${dir}/run"`, ''].join('\n');
}

/** Why Podman cannot be used by tests here, or undefined. */
export async function podmanUnsupportedReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not running as root';
  if ((await run('podman', ['--version'], {}).catch(() => undefined)) === undefined) return 'podman is not installed';
  return busyboxMissing();
}

export interface PodmanKit {
  kind: 'podman';
  dir: string;
  /** `unix://…` of the API socket. */
  url: string;
  engine: Engine;
  /** Environment for `podman` commands against this kit's storage and configuration. */
  env: NodeJS.ProcessEnv;
  /** The bridge network created for this kit (when asked for). */
  network?: string;
  /** Runs `podman args…` with this kit's configuration; resolves with stdout. */
  podman(...args: string[]): Promise<string>;
  /** Imports the test image `ref` (testimage.ts). */
  buildImage(ref: string): Promise<void>;
  close(): Promise<void>;
}

export async function startPodman(options: { name: string; subnet?: string }): Promise<PodmanKit> {
  const dir = mkdtempSync(path.join(tmpdir(), `${options.name}-podman-`));
  await fs.mkdir(path.join(dir, 'cni'), { recursive: true });
  await fs.mkdir(path.join(dir, 'tmp'), { recursive: true });
  await fs.writeFile(path.join(dir, 'containers.conf'), containersConf(dir));
  await fs.writeFile(path.join(dir, 'storage.conf'), storageConf(dir));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
  };
  const socket = path.join(dir, 'podman.sock');
  const url = `unix://${socket}`;
  const service: ChildProcess = spawn('podman', ['system', 'service', '--time=0', url], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  service.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const engine = new Engine({ socketPath: socket });
  const podman = (...args: string[]) => run('podman', args, env);
  let network: string | undefined;
  const kit: PodmanKit = {
    kind: 'podman',
    dir,
    url,
    engine,
    env,
    podman,
    buildImage: (ref) => buildTestImage(engine, dir, ref),
    async close() {
      await podman('rm', '--all', '--force', '--time', '0').catch(() => undefined);
      if (network !== undefined) await podman('network', 'rm', '--force', network).catch(() => undefined);
      service.kill('SIGTERM');
      if (service.exitCode === null) await new Promise((resolve) => service.once('exit', resolve));
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  try {
    // The socket appears when the service listens; its first answer may take a while (storage init).
    await eventually(() => existsSync(socket) || service.exitCode !== null, { timeoutMs: 15_000 });
    await engine.probe(15_000);
    if (options.subnet !== undefined) {
      network = `${options.name}net`;
      await podman('network', 'create', '--subnet', options.subnet, network);
      kit.network = network;
    }
  } catch (err) {
    await kit.close();
    throw new Error(`podman service did not start: ${(err as Error).message} (${String((err as Error).cause)}); stderr: ${stderr}`);
  }
  return kit;
}
