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
import { DEFAULT_TASK_CIDR, IpAllocator, parseIpv4 } from './ipalloc.ts';
import type { Logger } from '../lib/index.ts';
import { observeStart, type RuntimeMetrics } from './metrics.ts';
import { CLOSE_STOP_TIMEOUT_MS } from './process.ts';
import type { NetworkBinding, NetworkMode, Runtime, RunningTask, StopOptions, TaskDnsProvider, TaskResolverConfig, TaskSpec } from './runtime.ts';
import { prepareLaunches, validateTaskSpec } from './spec.ts';
import { DEFAULT_PATH, resolveExecutable, runHostCommand } from './spawn.ts';
import { ProcessTask, type TaskNetwork } from './task.ts';

export const DEFAULT_BRIDGE = 'pharos0';
export const DEFAULT_NETNS_PREFIX = 'pharos-';
export const DEFAULT_VETH_PREFIX = 'phv';
/** Probes in one process get distinct names, so concurrent probes do not collide. */
let probeSeq = 0;
/**
 * Per-namespace files that `ip netns exec` bind-mounts over /etc (iproute2's NETNS_ETC_DIR):
 * `<dir>/<netns>/resolv.conf` becomes /etc/resolv.conf for a task's containers.
 */
export const ETC_NETNS_DIR = '/etc/netns';
/**
 * resolv.conf options for tasks: the nameserver is on the bridge and answers in well under a
 * millisecond, so a lost datagram is better retried after 1 s than glibc's default 5 s.
 */
export const TASK_RESOLV_OPTIONS: readonly string[] = ['timeout:1', 'attempts:3'];
/** glibc reads at most 3 nameservers (MAXNS). */
const MAX_NAMESERVERS = 3;
/** glibc's search list limit (since 2.26: 6 domains of 256 characters for older resolvers). */
const MAX_SEARCH_DOMAINS = 6;
/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
/** The veth suffix is the task's address offset in base 36: at most 7 characters for any CIDR we accept. */
const VETH_PREFIX_MAX = IFNAME_MAX - 7;

export interface NetnsRuntimeOptions {
  /** Addresses for tasks; the first usable one is the bridge (gateway). Default 198.18.0.0/16. */
  taskCidr?: string;
  /** The host bridge every task's veth joins. Default `pharos0`. */
  bridge?: string;
  /**
   * Names of task namespaces: `<prefix><taskId>`. cleanup() removes every namespace with it.
   * Default `pharos-` with the default bridge, else `<bridge>-`.
   */
  netnsPrefix?: string;
  /**
   * Names of host-side veths: `<prefix><address offset>`. cleanup() removes every veth with it.
   * Default `phv` with the default bridge, else `v` + a 4-character hash of the bridge name.
   */
  vethPrefix?: string;
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
  readonly netnsPrefix: string;
  readonly vethPrefix: string;
  readonly #ips: IpAllocator;
  readonly #live = new Map<string, ProcessTask>();
  readonly #starting = new Set<string>();
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #log: Logger | undefined;
  #ready?: Promise<void>;
  /** Absolute path of `ip`: containers are wrapped in it, and their PATH may not find it. */
  #ip = 'ip';
  #taskDns: TaskDnsProvider | undefined;
  /** The resolv.conf text for tasks (undefined: none), asked of #taskDns once the bridge is up. */
  #resolvConf?: Promise<string | undefined>;
  #bridgeUp = false;
  #closed = false;

  constructor(options: NetnsRuntimeOptions = {}) {
    this.#ips = new IpAllocator(options.taskCidr ?? DEFAULT_TASK_CIDR);
    this.#metrics = options.metrics;
    this.#log = options.logger;
    this.#taskDns = options.taskDns;
    this.#metrics?.addresses.set({ state: 'capacity' }, this.#ips.capacity);
    this.bridge = options.bridge ?? DEFAULT_BRIDGE;
    // Names follow the bridge, so two servers on one machine (each with its own bridge and CIDR)
    // never clean up each other's namespaces and veths.
    const isDefault = this.bridge === DEFAULT_BRIDGE;
    this.netnsPrefix = options.netnsPrefix ?? (isDefault ? DEFAULT_NETNS_PREFIX : `${this.bridge}-`);
    this.vethPrefix = options.vethPrefix ?? (isDefault ? DEFAULT_VETH_PREFIX : `v${shortHash(this.bridge)}`);
    if (!/^[A-Za-z0-9_-]{1,15}$/.test(this.bridge)) throw new BadRuntimeConfigError(`bridge name "${this.bridge}" must be 1-${IFNAME_MAX} of [A-Za-z0-9_-]`);
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(this.netnsPrefix)) throw new BadRuntimeConfigError(`netns prefix "${this.netnsPrefix}" is not valid`);
    if (!new RegExp(`^[A-Za-z0-9_-]{1,${VETH_PREFIX_MAX}}$`).test(this.vethPrefix)) {
      throw new BadRuntimeConfigError(`veth prefix "${this.vethPrefix}" must be 1-${VETH_PREFIX_MAX} of [A-Za-z0-9_-]`);
    }
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

  async #start(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    if (this.#closed) throw new RuntimeClosedError();
    validateTaskSpec(spec);
    if (!this.networkModes.includes(spec.networkMode)) throw new NetworkModeUnsupportedError(spec.networkMode, this.networkModes);
    if (this.#live.has(spec.taskId) || this.#starting.has(spec.taskId)) throw new TaskExistsError(spec.taskId);
    this.#starting.add(spec.taskId);
    try {
      const launches = await prepareLaunches(spec);
      await this.#ensureReady();
      const resolvConf = await this.#taskResolvConf();
      if (signal?.aborted) throw new RuntimeAbortedError(spec.taskId);
      const ipv4 = this.#ips.allocate();
      this.#metrics?.addresses.set({ state: 'in_use' }, this.#ips.inUse);
      const netns = `${this.netnsPrefix}${spec.taskId}`;
      const veth = `${this.vethPrefix}${this.#ips.offsetOf(ipv4)!.toString(36)}`;
      const bindings: NetworkBinding[] = spec.containers.flatMap((c) =>
        (c.portMappings ?? []).map((pm) => ({ containerName: c.name, bindIP: ipv4, containerPort: pm.containerPort, hostPort: pm.containerPort, protocol: pm.protocol })),
      );
      let released: Promise<void> | undefined;
      const release = () =>
        (released ??= this.#teardown(netns, veth).finally(() => {
          this.#ips.release(ipv4);
          this.#metrics?.addresses.set({ state: 'in_use' }, this.#ips.inUse);
        }));
      try {
        await this.#setup(netns, veth, ipv4, resolvConf);
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
    const ownedNs = new Set(this.tasks().map((t) => t.netns));
    const list = await runHostCommand('ip', ['netns', 'list']);
    const namespaces = list.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.startsWith(this.netnsPrefix) && !ownedNs.has(n));
    const ownedVeth = new Set([...this.#live.values()].map((t) => `${this.vethPrefix}${this.#ips.offsetOf(t.ipv4)!.toString(36)}`));
    const links = await runHostCommand('ip', ['-o', 'link', 'show', 'type', 'veth']);
    const veths = links.stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
      .filter((n) => n.startsWith(this.vethPrefix) && !ownedVeth.has(n));
    // resolv.conf directories of namespaces no live task owns (also those whose namespace is gone).
    const etcDirs = (await fs.readdir(ETC_NETNS_DIR).catch(() => [] as string[])).filter((n) => n.startsWith(this.netnsPrefix) && !ownedNs.has(n));
    await Promise.all(namespaces.map((n) => this.#killInside(n)));
    // A bridge left by the last run is adopted: kept for the next task, removed by close().
    if ((await runHostCommand('ip', ['link', 'show', this.bridge])).code === 0) this.#bridgeUp = true;
    const cmds = [...veths.map((v) => `link del ${v}`), ...namespaces.map((n) => `netns del ${n}`)];
    if (cmds.length > 0) await runHostCommand('ip', ['-force', '-batch', '-'], cmds.join('\n') + '\n');
    await Promise.all(etcDirs.map((n) => removeEtcDir(n)));
    if (cmds.length === 0 && etcDirs.length === 0) return;
    this.#metrics?.cleanedUp.inc({ kind: 'netns' }, namespaces.length);
    this.#metrics?.cleanedUp.inc({ kind: 'veth' }, veths.length);
    this.#metrics?.cleanedUp.inc({ kind: 'etc_netns' }, etcDirs.length);
    this.#log?.info({ namespaces, veths, etcNetns: etcDirs }, 'removed network namespaces, veths and their /etc/netns files left by a previous run');
  }

  /** Stops every live task, then removes the bridge. */
  async close(options: Partial<StopOptions> = {}): Promise<void> {
    this.#closed = true;
    const timeoutMs = options.timeoutMs ?? CLOSE_STOP_TIMEOUT_MS;
    await Promise.all(this.tasks().map((t) => t.stop({ timeoutMs })));
    if (this.#bridgeUp) {
      this.#bridgeUp = false;
      await runHostCommand('ip', ['link', 'del', this.bridge]);
    }
  }

  /** Probes support and brings the bridge up with the gateway address, once. */
  #ensureReady(): Promise<void> {
    this.#ready ??= (async () => {
      const reason = await NetnsRuntime.unsupportedReason(this.netnsPrefix);
      if (reason !== undefined) throw new NetnsUnsupportedError(reason);
      const ip = await resolveExecutable('ip', process.env['PATH'] || DEFAULT_PATH, '/');
      if (ip.ok) this.#ip = ip.file;
      const addr = `${this.#ips.gateway}/${this.#ips.cidr.prefix}`;
      const clash = await this.#overlappingAddress();
      if (clash !== undefined) {
        throw new SetupFailedError(`task CIDR ${this.#ips.cidrText}`, `overlaps ${clash.addr} on ${clash.dev}; give each bridge its own CIDR`);
      }
      const show = await runHostCommand('ip', ['-j', 'addr', 'show', 'dev', this.bridge]);
      const cmds: string[] = [];
      if (show.code !== 0) {
        cmds.push(`link add ${this.bridge} type bridge`, `addr add ${addr} dev ${this.bridge}`);
      } else {
        const current = parseIpv4Addrs(show.stdout);
        if (current.length !== 1 || current[0] !== addr) cmds.push(`addr flush dev ${this.bridge}`, `addr add ${addr} dev ${this.bridge}`);
      }
      cmds.push(`link set ${this.bridge} up`);
      const r = await runHostCommand('ip', ['-batch', '-'], cmds.join('\n') + '\n');
      if (r.code !== 0) throw new SetupFailedError(`bridge ${this.bridge}`, r.stderr.trim());
      this.#bridgeUp = true;
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

  /** An address on another interface whose network overlaps the task CIDR (routing would be ambiguous). */
  async #overlappingAddress(): Promise<{ dev: string; addr: string } | undefined> {
    const r = await runHostCommand('ip', ['-j', '-4', 'addr', 'show']);
    let links: { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
    try {
      links = JSON.parse(r.stdout);
    } catch {
      return undefined;
    }
    const mine = this.#ips.cidr;
    for (const l of links) {
      if (l.ifname === this.bridge) continue;
      for (const a of l.addr_info ?? []) {
        const n = parseIpv4(a.local);
        if (n === undefined || a.prefixlen === 32 || a.prefixlen === 0) continue;
        const size = 2 ** (32 - a.prefixlen);
        const base = n - (n % size);
        if (base < mine.base + mine.size && mine.base < base + size) return { dev: l.ifname, addr: `${a.local}/${a.prefixlen}` };
      }
    }
    return undefined;
  }

  async #setup(netns: string, veth: string, ipv4: string, resolvConf: string | undefined): Promise<void> {
    const host = [`netns add ${netns}`, `link add ${veth} type veth peer name eth0 netns ${netns}`, `link set ${veth} master ${this.bridge} up`];
    const r1 = await runHostCommand('ip', ['-batch', '-'], host.join('\n') + '\n');
    if (r1.code !== 0) throw new SetupFailedError(`network namespace ${netns}`, r1.stderr.trim());
    const inside = ['link set lo up', `addr add ${ipv4}/${this.#ips.cidr.prefix} dev eth0`, 'link set eth0 up', `route add default via ${this.#ips.gateway}`];
    const r2 = await runHostCommand('ip', ['-n', netns, '-batch', '-'], inside.join('\n') + '\n');
    if (r2.code !== 0) throw new SetupFailedError(`network namespace ${netns}`, r2.stderr.trim());
    if (resolvConf !== undefined) {
      try {
        await fs.mkdir(path.join(ETC_NETNS_DIR, netns), { recursive: true });
        await fs.writeFile(path.join(ETC_NETNS_DIR, netns, 'resolv.conf'), resolvConf, { mode: 0o644 });
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

/** Removes `/etc/netns/<netns>` (the task's resolv.conf); never rejects. */
async function removeEtcDir(netns: string): Promise<void> {
  await fs.rm(path.join(ETC_NETNS_DIR, netns), { recursive: true, force: true }).catch(() => undefined);
}

/** resolv.conf(5) text; refuses what would be a broken or injected file. */
export function renderResolvConf(config: TaskResolverConfig): string {
  const { nameservers, search = [], options = TASK_RESOLV_OPTIONS } = config;
  if (!Array.isArray(nameservers) || nameservers.length === 0 || nameservers.length > MAX_NAMESERVERS || !nameservers.every((n) => parseIpv4(n) !== undefined)) {
    throw new BadRuntimeConfigError(`task nameservers must be 1-${MAX_NAMESERVERS} IPv4 addresses, got ${JSON.stringify(nameservers)}`);
  }
  if (search.length > MAX_SEARCH_DOMAINS || !search.every((d) => /^[A-Za-z0-9_.-]{1,253}$/.test(d))) {
    throw new BadRuntimeConfigError(`task search domains must be at most ${MAX_SEARCH_DOMAINS} domain names, got ${JSON.stringify(search)}`);
  }
  if (!options.every((o) => /^[A-Za-z0-9_:.-]{1,64}$/.test(o))) throw new BadRuntimeConfigError(`bad resolv.conf options ${JSON.stringify(options)}`);
  const lines = ['# Written by Pharos for this task (removed with its network namespace)', ...nameservers.map((n) => `nameserver ${n}`)];
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** IPv4 `addr/prefix` strings from `ip -j addr show` output. */
function parseIpv4Addrs(json: string): string[] {
  try {
    const links = JSON.parse(json) as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
  } catch {
    return [];
  }
}

/** 4 base-36 characters (FNV-1a) of a name: short enough for interface names, distinct enough per bridge. */
function shortHash(name: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 36 ** 4).toString(36).padStart(4, '0');
}
