import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  BadRuntimeConfigError,
  NetnsUnsupportedError,
  NetworkModeUnsupportedError,
  RuntimeAbortedError,
  RuntimeClosedError,
  SetupFailedError,
  TaskExistsError,
} from './errors.ts';
import type { Logger } from '../lib/index.ts';
import { TaskBridge } from './bridge.ts';
import { DEFAULT_TASK_CIDR, IpAllocator } from './ipalloc.ts';
import { observeStart, type RuntimeMetrics } from './metrics.ts';
import { CLOSE_STOP_TIMEOUT_MS } from './process.ts';
import { ETC_NETNS_DIR, removeEtcDir, renderResolvConf, resolvConfPath, writeResolvConf } from './resolv.ts';
import type { NetworkBinding, NetworkMode, Runtime, RunningTask, StopOptions, TaskDnsProvider, TaskSpec } from './runtime.ts';
import { prepareLaunches, validateTaskSpec, type TaskHostOptions } from './spec.ts';
import { DEFAULT_PATH, resolveExecutable, runHostCommand } from './spawn.ts';
import { ProcessTask, type TaskNetwork } from './task.ts';
import { TaskDirs } from './taskdir.ts';

export const DEFAULT_BRIDGE = 'pharos0';
export const DEFAULT_NETNS_PREFIX = 'pharos-';
export const DEFAULT_VETH_PREFIX = 'phv';
/** Probes in one process get distinct names, so concurrent probes do not collide. */
let probeSeq = 0;
/** Where `ip netns add` pins named namespaces (iproute2's NETNS_RUN_DIR); engines join a namespace by this path. */
const NETNS_RUN_DIR = '/run/netns';

/** A task namespace made by NetnsRuntime for another runtime's containers (see `lease()`). */
export interface NetnsLease {
  ipv4: string;
  /** `ip netns` name. */
  netns: string;
  /** The namespace's bind-mount path, e.g. /run/netns/pharos-<taskId>. */
  path: string;
  /** The task's resolv.conf on the host, when tasks have a DNS provider: bind-mount it as /etc/resolv.conf. */
  resolvConf?: string;
  /** Kills what is left inside, deletes the veth and the namespace, frees the address. Idempotent; never rejects. */
  release(): Promise<void>;
}
/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
/** The veth suffix is the task's address offset in base 36: at most 7 characters for any CIDR we accept. */
const VETH_PREFIX_MAX = IFNAME_MAX - 7;

export interface NetnsRuntimeOptions extends TaskHostOptions {
  /** Addresses for tasks; the first usable one is the bridge (gateway). Default 198.18.0.0/16. */
  taskCidr?: string;
  /**
   * Where task addresses in use and resting after release are kept, so a restart does not hand a
   * just-released address to a new task (`IpAllocator`); none = not kept.
   */
  addressFile?: string;
  /** The host bridge every task's veth joins. Default `pharos0`. */
  bridge?: string;
  /**
   * Names of task namespaces: `<prefix><taskId>`. cleanup() removes every namespace with it.
   * Default `pharos-` with the default bridge, else `<bridge>-`; then `<owner>-` when an owner is set.
   */
  netnsPrefix?: string;
  /**
   * Names of host-side veths: `<prefix><address offset>`. cleanup() removes every veth with it.
   * Default `phv` with the default bridge and no owner, else `v` + a 6-character hash of the
   * bridge and owner.
   */
  vethPrefix?: string;
  /** Task working directories (shared with the process runtime by DispatchRuntime). Default over `workRoot`. */
  dirs?: TaskDirs;
  /** Where tasks resolve names: see `setTaskDns`. Default none (tasks see the host's resolv.conf). */
  taskDns?: TaskDnsProvider;
  metrics?: RuntimeMetrics;
  logger?: Logger;
}

/**
 * awsvpc-style runtime: each task gets a Linux network namespace with `eth0` (one end of a veth
 * pair whose other end is on the bridge), an address from the task CIDR, loopback up and a default
 * route via the bridge. The host and other tasks reach the task's IP over the bridge; containers
 * of one task share the namespace and reach each other on localhost. Containers are entered with
 * `ip netns exec` (a private mount namespace per process with the namespace's /sys and
 * /etc/netns/<netns>/* over /etc: the task's resolv.conf; otherwise the host's files). Needs
 * Linux, root and iproute2's `ip`. IP forwarding and NAT are not touched: tasks reach the host
 * and each other, not the outside world.
 *
 * Setup is two `ip -batch` runs per task (host side, then inside the namespace), and independent
 * tasks are set up concurrently.
 */
export class NetnsRuntime implements Runtime {
  readonly networkModes: readonly NetworkMode[] = ['awsvpc'];
  readonly bridge: string;
  readonly #bridge: TaskBridge;
  readonly netnsPrefix: string;
  readonly vethPrefix: string;
  readonly #ips: IpAllocator;
  readonly #live = new Map<string, ProcessTask>();
  readonly #starting = new Set<string>();
  /** Namespaces lent to another runtime (`lease()`): netns name → task address. */
  readonly #leased = new Map<string, string>();
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #log: Logger | undefined;
  readonly #host: TaskHostOptions;
  readonly #dirs: TaskDirs;
  #ready?: Promise<void>;
  /** Absolute path of `ip`: containers are wrapped in it, and their PATH may not find it. */
  #ip = 'ip';
  #taskDns: TaskDnsProvider | undefined;
  /** The resolv.conf text for tasks (undefined: none), asked of #taskDns once the bridge is up. */
  #resolvConf?: Promise<string | undefined>;
  #closed = false;

  constructor(options: NetnsRuntimeOptions = {}) {
    this.#metrics = options.metrics;
    this.#log = options.logger;
    this.#ips = new IpAllocator(options.taskCidr ?? DEFAULT_TASK_CIDR, {
      file: options.addressFile,
      onSaveError: (err) => this.#log?.warn({ err, file: options.addressFile }, 'cannot save the task addresses: after a restart, just-released ones may be reused at once'),
    });
    this.#taskDns = options.taskDns;
    this.#host = { owner: options.owner, workRoot: options.workRoot, taskUser: options.taskUser };
    this.#dirs = options.dirs ?? new TaskDirs(options.workRoot);
    this.#metrics?.addresses.set({ state: 'capacity' }, this.#ips.capacity);
    this.bridge = options.bridge ?? DEFAULT_BRIDGE;
    const owner = options.owner ?? '';
    if (!/^[a-z0-9]{0,16}$/.test(owner)) throw new BadRuntimeConfigError(`owner "${owner}" must be up to 16 lower-case letters or digits`);
    // Names follow the bridge and the owner (the server's identity), so two servers on one machine
    // never clean up each other's namespaces and veths, whatever bridge they use.
    const isDefault = this.bridge === DEFAULT_BRIDGE;
    const ownerPart = owner === '' ? '' : `${owner}-`;
    this.netnsPrefix = options.netnsPrefix ?? (isDefault ? `${DEFAULT_NETNS_PREFIX}${ownerPart}` : `${this.bridge}-${ownerPart}`);
    this.vethPrefix = options.vethPrefix ?? (isDefault && owner === '' ? DEFAULT_VETH_PREFIX : `v${shortHash(`${this.bridge}/${owner}`)}`);
    if (!/^[A-Za-z0-9_-]{1,15}$/.test(this.bridge)) throw new BadRuntimeConfigError(`bridge name "${this.bridge}" must be 1-${IFNAME_MAX} of [A-Za-z0-9_-]`);
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(this.netnsPrefix)) throw new BadRuntimeConfigError(`netns prefix "${this.netnsPrefix}" is not valid`);
    if (!new RegExp(`^[A-Za-z0-9_-]{1,${VETH_PREFIX_MAX}}$`).test(this.vethPrefix)) {
      throw new BadRuntimeConfigError(`veth prefix "${this.vethPrefix}" must be 1-${VETH_PREFIX_MAX} of [A-Za-z0-9_-]`);
    }
    this.#bridge = new TaskBridge(this.bridge, { ips: this.#ips, owner, logger: this.#log, ipBinary: () => this.#ip, killInside: (netns) => this.#killInside(netns) });
  }

  /** The bridge's address: every task's default gateway. */
  get gateway(): string {
    return this.#ips.gateway;
  }

  /**
   * Where tasks resolve names. The provider is called once, when the bridge is up (before the
   * first task), with the gateway address; what it returns is written as
   * `/etc/netns/<netns>/resolv.conf` for every task, which `ip netns exec` shows its containers
   * (and health checks) as /etc/resolv.conf. A provider that fails is logged and tasks keep the
   * host's resolv.conf. Tasks already running keep what they got.
   */
  setTaskDns(provider: TaskDnsProvider | undefined): void {
    this.#taskDns = provider;
    this.#resolvConf = undefined;
  }

  /** Addresses in use / usable, for metrics. */
  get addresses(): { inUse: number; capacity: number } {
    return { inUse: this.#ips.inUse, capacity: this.#ips.capacity };
  }

  /**
   * Why network namespaces cannot be used here, or undefined when they can. Creates and deletes a
   * throwaway namespace, since being root is not enough inside some containers.
   */
  static async unsupportedReason(probePrefix = DEFAULT_NETNS_PREFIX): Promise<string | undefined> {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    if (process.getuid?.() !== 0) return 'not running as root';
    if ((await runHostCommand('ip', ['-V'])).code !== 0) return '`ip` (iproute2) is not installed';
    const name = `${probePrefix}probe-${process.pid}-${++probeSeq}`;
    const add = await runHostCommand('ip', ['netns', 'add', name]);
    if (add.code !== 0) return `cannot create network namespaces: ${add.stderr.trim()}`;
    // Containers enter through `ip netns exec`, which also needs a mount namespace and sysfs.
    const enter = await runHostCommand('ip', ['netns', 'exec', name, 'ip', '-V']);
    await runHostCommand('ip', ['netns', 'del', name]);
    if (enter.code !== 0) return `cannot enter network namespaces with \`ip netns exec\`: ${enter.stderr.trim()}`;
    return undefined;
  }

  startTask(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    return observeStart(this.#metrics, 'netns', () => this.#start(spec, signal));
  }

  /**
   * Makes a task's namespace (veth on the bridge, address, default route, resolv.conf) for
   * containers that another runtime starts: they join it by path, or — with `pid`, a pause
   * container's process — the namespace is that process's (`ip netns attach`) and the others join
   * the pause container. The namespace counts as live for cleanup() until `release()`.
   */
  async lease(taskId: string, signal?: AbortSignal, options: { pid?: number } = {}): Promise<NetnsLease> {
    if (this.#closed) throw new RuntimeClosedError();
    const { ipv4, netns, resolvConf, release } = await this.#openNetwork(taskId, signal, { leased: true, ...options });
    return leaseOf(ipv4, netns, resolvConf !== undefined, release);
  }

  /**
   * After a restart: the namespace a previous run of this server leased for `taskId` (still pinned
   * under /run/netns, its veth on the bridge) leased again with the address it has, or undefined
   * when it is gone or its address is not free. The task DNS is brought up as for a new task
   * (its resolv.conf names the gateway listener).
   */
  async adoptLease(taskId: string): Promise<NetnsLease | undefined> {
    if (this.#closed) throw new RuntimeClosedError();
    await this.#ensureReady();
    await this.#bridge.ensure();
    const resolvConf = await this.#taskResolvConf();
    const netns = `${this.netnsPrefix}${taskId}`;
    const r = await runHostCommand('ip', ['-n', netns, '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
    const ipv4 = r.code === 0 ? firstAddress(r.stdout) : undefined;
    if (ipv4 === undefined || !this.#ips.reserve(ipv4)) return undefined;
    this.#metrics?.addresses.set({ state: 'in_use' }, this.#ips.inUse);
    const veth = this.#vethOf(ipv4);
    this.#leased.set(netns, ipv4);
    this.#bridge.veths.set(veth, { taskId, netns });
    return leaseOf(ipv4, netns, resolvConf !== undefined, this.#releaser(netns, veth, ipv4, { leased: true }));
  }

  /**
   * Everything a task's network needs: support probed, the bridge up, an address, the namespace
   * (made, or attached from `pid`) with its veth and resolv.conf. `release()` undoes it all once
   * (then `cleanUp`); a failed setup is released before it throws. A leased namespace counts as
   * live for cleanup() until released.
   */
  async #openNetwork(
    taskId: string,
    signal: AbortSignal | undefined,
    o: { leased?: boolean; pid?: number; cleanUp?: () => Promise<void> },
  ): Promise<{ ipv4: string; netns: string; resolvConf: string | undefined; release: () => Promise<void> }> {
    await this.#ensureReady();
    // Every task: a bridge deleted since the last one (by another server, by hand) is made again.
    await this.#bridge.ensure();
    const resolvConf = await this.#taskResolvConf();
    if (signal?.aborted) throw new RuntimeAbortedError(taskId);
    const ipv4 = this.#ips.allocate();
    this.#metrics?.addresses.set({ state: 'in_use' }, this.#ips.inUse);
    const netns = `${this.netnsPrefix}${taskId}`;
    const veth = this.#vethOf(ipv4);
    if (o.leased) this.#leased.set(netns, ipv4);
    const release = this.#releaser(netns, veth, ipv4, o);
    try {
      await this.#setup(netns, veth, ipv4, resolvConf, o.pid);
      this.#bridge.veths.set(veth, { taskId, netns });
    } catch (err) {
      await release();
      throw err;
    }
    return { ipv4, netns, resolvConf, release };
  }

  /** Tears the task's network down once (however often it is called) and frees its address. */
  #releaser(netns: string, veth: string, ipv4: string, o: { leased?: boolean; cleanUp?: () => Promise<void> }): () => Promise<void> {
    let released: Promise<void> | undefined;
    return () =>
      (released ??= (async () => {
        this.#bridge.veths.delete(veth);
        await this.#teardown(netns, veth);
        await o.cleanUp?.();
      })().finally(() => {
        if (o.leased) this.#leased.delete(netns);
        this.#ips.release(ipv4);
        this.#metrics?.addresses.set({ state: 'in_use' }, this.#ips.inUse);
      }));
  }

  /** The host-side veth name of the task at `ipv4`: its address offset in base 36. */
  #vethOf(ipv4: string): string {
    return `${this.vethPrefix}${this.#ips.offsetOf(ipv4)!.toString(36)}`;
  }

  async #start(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    if (this.#closed) throw new RuntimeClosedError();
    validateTaskSpec(spec);
    if (!this.networkModes.includes(spec.networkMode)) throw new NetworkModeUnsupportedError(spec.networkMode, this.networkModes);
    if (this.#live.has(spec.taskId) || this.#starting.has(spec.taskId)) throw new TaskExistsError(spec.taskId);
    this.#starting.add(spec.taskId);
    try {
      const launches = await prepareLaunches(spec, this.#host, this.#dirs.path(spec.taskId));
      const { ipv4, netns, release } = await this.#openNetwork(spec.taskId, signal, { cleanUp: () => this.#dirs.remove(spec.taskId) });
      const bindings: NetworkBinding[] = spec.containers.flatMap((c) =>
        (c.portMappings ?? []).map((pm) => ({ containerName: c.name, bindIP: ipv4, containerPort: pm.containerPort, hostPort: pm.containerPort, protocol: pm.protocol })),
      );
      try {
        await this.#dirs.create(spec.taskId, launches);
      } catch (err) {
        await release();
        throw err;
      }
      const network: TaskNetwork = {
        ipv4,
        netns,
        bindings,
        wrap: (file, args) => ({ file: this.#ip, args: ['netns', 'exec', netns, file, ...args] }),
        release,
      };
      const task = await ProcessTask.start(spec.taskId, spec.networkMode, launches, network, () => this.#live.delete(spec.taskId), signal);
      if (this.#closed) {
        await task.stop({ timeoutMs: 0 });
        throw new RuntimeClosedError();
      }
      if (!task.isFinal) this.#live.set(spec.taskId, task);
      return task;
    } finally {
      this.#starting.delete(spec.taskId);
    }
  }

  tasks(): RunningTask[] {
    return [...this.#live.values()];
  }

  /**
   * Removes namespaces and veths with this runtime's prefixes that no live task owns (the
   * processes still inside are killed first). The bridge is kept; the first task corrects its
   * address if the task CIDR changed since the last run.
   */
  async cleanup(): Promise<void> {
    if ((await NetnsRuntime.unsupportedReason(this.netnsPrefix)) !== undefined) return;
    const ownedNs = new Set<string | undefined>([...this.tasks().map((t) => t.netns), ...this.#leased.keys()]);
    const list = await runHostCommand('ip', ['netns', 'list']);
    const namespaces = list.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.startsWith(this.netnsPrefix) && !ownedNs.has(n));
    const ownedVeth = new Set([...[...this.#live.values()].map((t) => t.ipv4), ...this.#leased.values()].map((ip) => this.#vethOf(ip)));
    const links = await runHostCommand('ip', ['-o', 'link', 'show', 'type', 'veth']);
    const veths = links.stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
      .filter((n) => n.startsWith(this.vethPrefix) && !ownedVeth.has(n));
    // resolv.conf directories of namespaces no live task owns (also those whose namespace is gone).
    const etcDirs = (await fs.readdir(ETC_NETNS_DIR).catch(() => [] as string[])).filter((n) => n.startsWith(this.netnsPrefix) && !ownedNs.has(n));
    await Promise.all(namespaces.map((n) => this.#killInside(n)));
    const cmds = [...veths.map((v) => `link del ${v}`), ...namespaces.map((n) => `netns del ${n}`)];
    if (cmds.length > 0) await runHostCommand('ip', ['-force', '-batch', '-'], cmds.join('\n') + '\n');
    await Promise.all(etcDirs.map((n) => removeEtcDir(n)));
    if (cmds.length === 0 && etcDirs.length === 0) return;
    this.#metrics?.cleanedUp.inc({ kind: 'netns' }, namespaces.length);
    this.#metrics?.cleanedUp.inc({ kind: 'veth' }, veths.length);
    this.#metrics?.cleanedUp.inc({ kind: 'etc_netns' }, etcDirs.length);
    this.#log?.info({ namespaces, veths, etcNetns: etcDirs }, 'removed network namespaces, veths and their /etc/netns files left by a previous run');
  }

  /**
   * Stops every live task, then removes the bridge if this runtime created it (its alias names
   * our owner) and nothing else is attached to it; on someone else's bridge only our gateway
   * address is removed.
   */
  async close(options: Partial<StopOptions> = {}): Promise<void> {
    this.#closed = true;
    this.#bridge.stopWatching();
    const timeoutMs = options.timeoutMs ?? CLOSE_STOP_TIMEOUT_MS;
    await Promise.all(this.tasks().map((t) => t.stop({ timeoutMs })));
    await this.#bridge.remove();
  }

  /** Probes support, once. */
  #ensureReady(): Promise<void> {
    this.#ready ??= (async () => {
      const reason = await NetnsRuntime.unsupportedReason(this.netnsPrefix);
      if (reason !== undefined) throw new NetnsUnsupportedError(reason);
      const ip = await resolveExecutable('ip', process.env['PATH'] || DEFAULT_PATH, '/');
      if (ip.ok) this.#ip = ip.file;
    })();
    // A failed probe is retried by the next task (e.g. after the operator loads a module).
    this.#ready.catch(() => (this.#ready = undefined));
    return this.#ready;
  }

  /** The resolv.conf for tasks, asked of the provider once (after the bridge is up: it may listen on the gateway). */
  #taskResolvConf(): Promise<string | undefined> {
    const provider = this.#taskDns;
    if (provider === undefined) return Promise.resolve(undefined);
    this.#resolvConf ??= (async () => {
      try {
        const config = await provider(this.#ips.gateway);
        if (config === undefined) return undefined;
        const text = renderResolvConf(config);
        await fs.mkdir(ETC_NETNS_DIR, { recursive: true });
        this.#log?.info({ nameservers: config.nameservers }, `awsvpc tasks resolve names through ${config.nameservers.join(', ')}`);
        return text;
      } catch (err) {
        // Not fatal: tasks still run and reach each other by address; the operator sees why names do not resolve.
        this.#log?.warn({ err }, 'no DNS for awsvpc tasks: they keep the host resolv.conf');
        return undefined;
      }
    })();
    return this.#resolvConf;
  }

  async #setup(netns: string, veth: string, ipv4: string, resolvConf: string | undefined, pid?: number): Promise<void> {
    // `attach` names the namespace of a running process (a pause container's) as `add` names a new one.
    const host = [
      pid === undefined ? `netns add ${netns}` : `netns attach ${netns} ${pid}`,
      `link add ${veth} type veth peer name eth0 netns ${netns}`,
      `link set ${veth} master ${this.bridge} up`,
      // The host may still hold the MAC of the address's last task (a previous run's, before a
      // restart): until that entry expires (~30 s) its packets would go nowhere.
      `neigh flush to ${ipv4}`,
    ];
    const r1 = await runHostCommand('ip', ['-batch', '-'], host.join('\n') + '\n');
    if (r1.code !== 0) throw new SetupFailedError(`network namespace ${netns}`, r1.stderr.trim());
    const inside = ['link set lo up', `addr add ${ipv4}/${this.#ips.cidr.prefix} dev eth0`, 'link set eth0 up', `route add default via ${this.#ips.gateway}`];
    const r2 = await runHostCommand('ip', ['-n', netns, '-batch', '-'], inside.join('\n') + '\n');
    if (r2.code !== 0) throw new SetupFailedError(`network namespace ${netns}`, r2.stderr.trim());
    if (resolvConf !== undefined) {
      try {
        await writeResolvConf(netns, resolvConf);
      } catch (err) {
        throw new SetupFailedError(`resolv.conf of ${netns}`, (err as Error).message);
      }
    }
  }

  /** Kills every process left in the namespace, deletes the veth (synchronously: namespace teardown is lazy) and the namespace. */
  async #teardown(netns: string, veth: string): Promise<void> {
    await this.#killInside(netns);
    await runHostCommand('ip', ['-force', '-batch', '-'], `link del ${veth}\nnetns del ${netns}\n`);
    await removeEtcDir(netns);
  }

  async #killInside(netns: string): Promise<void> {
    const pids = await runHostCommand('ip', ['netns', 'pids', netns]);
    for (const p of pids.stdout.split(/\s+/)) {
      const pid = Number(p);
      if (Number.isInteger(pid) && pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** The first address in `ip -j addr show` output. */
function firstAddress(json: string): string | undefined {
  try {
    return (JSON.parse(json) as { addr_info?: { local?: string }[] }[])[0]?.addr_info?.[0]?.local;
  } catch {
    return undefined;
  }
}

function leaseOf(ipv4: string, netns: string, withResolvConf: boolean, release: () => Promise<void>): NetnsLease {
  return { ipv4, netns, path: path.join(NETNS_RUN_DIR, netns), ...(withResolvConf ? { resolvConf: resolvConfPath(netns) } : {}), release };
}

/** 6 base-36 characters (FNV-1a) of a name: short enough for interface names, distinct enough per bridge and owner. */
function shortHash(name: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 36 ** 6).toString(36).padStart(6, '0');
}
