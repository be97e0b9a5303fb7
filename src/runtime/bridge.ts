import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Logger } from '../lib/index.ts';
import { SetupFailedError } from './errors.ts';
import { parseIpv4, type IpAllocator } from './ipalloc.ts';
import { runHostCommand } from './spawn.ts';

/** The bridge's alias (`ip link set <bridge> alias`) names the server that created it: only that one deletes it. */
const BRIDGE_ALIAS_PREFIX = 'pharos-owner:';

interface TaskBridgeOptions {
  /** The task addresses: the bridge carries their gateway. */
  ips: IpAllocator;
  /** The server's identity, written in the alias of a bridge it creates. */
  owner: string;
  logger?: Logger;
  /** Absolute path of `ip` once known (the link monitor runs it). */
  ipBinary: () => string;
  /** Kills every process in a task's namespace: a task whose network is gone ends. */
  killInside: (netns: string) => Promise<void>;
}

/**
 * The host bridge every awsvpc task's veth joins, shared with other servers on the machine: made
 * (with our alias) when missing, given the gateway address, followed while open (`ip monitor
 * link`) so a deleted bridge is made again and a deleted veth ends its task, and on close deleted
 * only by the server that created it.
 */
export class TaskBridge {
  /** Host veth of each live task: re-attached when the bridge is re-created; a deleted one ends its task. */
  readonly veths = new Map<string, { taskId: string; netns: string }>();
  /** Bridge checks run one at a time (tasks start concurrently). */
  #lock: Promise<void> = Promise.resolve();
  /** ifindex of the bridge as last set up: a different one means it was deleted (and maybe re-made by someone). */
  #index: number | undefined;
  /** We created the bridge (its alias names our owner): only then does remove() delete it. */
  #mine = false;
  /** Our gateway address was added to a bridge someone else created: remove() removes just that address. */
  #addedAddress = false;
  /** `ip -o monitor link`: a deleted bridge is re-created at once, a deleted task veth ends its task. */
  #monitor: ChildProcess | undefined;
  #closed = false;

  constructor(
    readonly name: string,
    private readonly o: TaskBridgeOptions,
  ) {}

  /** Makes sure the bridge exists, is up and has the gateway address; one check at a time. */
  ensure(): Promise<void> {
    const run = this.#lock.then(() => this.#check());
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** Stops following link changes (the runtime is closing: its tasks' veths are about to go). */
  stopWatching(): void {
    this.#closed = true;
    this.#monitor?.kill();
    this.#monitor = undefined;
  }

  /**
   * Removes the bridge if we created it (its alias names our owner) and nothing else is attached
   * to it; on someone else's bridge only our gateway address is removed.
   */
  async remove(): Promise<void> {
    this.stopWatching();
    await this.#lock;
    const link = await this.#link();
    if (link === undefined) return;
    if (this.#mine && link.alias === this.#alias) {
      const ports = await runHostCommand('ip', ['-j', 'link', 'show', 'master', this.name]);
      const attached = parseJson<{ ifname: string }[]>(ports.stdout) ?? [];
      if (attached.length === 0) {
        await runHostCommand('ip', ['link', 'del', this.name]);
        return;
      }
      this.o.logger?.info({ bridge: this.name, attached: attached.map((l) => l.ifname) }, 'bridge kept: other interfaces are attached to it');
    } else if (this.#addedAddress) {
      await runHostCommand('ip', ['addr', 'del', this.#gatewayAddress, 'dev', this.name]);
    }
  }

  /** `pharos-owner:<owner>`: the alias a bridge we create carries. */
  get #alias(): string {
    return `${BRIDGE_ALIAS_PREFIX}${this.o.owner}`;
  }

  get #gatewayAddress(): string {
    return `${this.o.ips.gateway}/${this.o.ips.cidr.prefix}`;
  }

  /** The bridge's ifindex, alias and IPv4 addresses, or undefined when it does not exist. */
  async #link(): Promise<{ index: number; alias: string; up: boolean; addrs: string[] } | undefined> {
    const r = await runHostCommand('ip', ['-j', 'link', 'show', 'dev', this.name]);
    if (r.code !== 0) return undefined;
    const link = parseJson<{ ifindex: number; ifalias?: string; flags?: string[] }[]>(r.stdout)?.[0];
    if (link === undefined) return undefined;
    const a = await runHostCommand('ip', ['-j', 'addr', 'show', 'dev', this.name]);
    return { index: link.ifindex, alias: link.ifalias ?? '', up: link.flags?.includes('UP') ?? false, addrs: parseIpv4Addrs(a.stdout) };
  }

  /**
   * The bridge as the runtime needs it. Missing: created (with our alias, so it is ours to
   * delete) and the veths of live tasks attached again. Ours (our alias): its address corrected
   * when the task CIDR changed. Someone else's: our gateway added next to what it carries, unless
   * another Pharos server's addresses overlap ours (tasks of both would collide).
   */
  async #check(): Promise<void> {
    const link = await this.#link();
    const addr = this.#gatewayAddress;
    if (link !== undefined && link.index === this.#index && link.up && link.addrs.includes(addr)) return;
    const cmds: string[] = [];
    const foreignOwner = link !== undefined && link.alias !== this.#alias && link.alias.startsWith(BRIDGE_ALIAS_PREFIX) ? link.alias.slice(BRIDGE_ALIAS_PREFIX.length) || '(no id)' : undefined;
    const mine = link === undefined || link.alias === this.#alias;
    const clash = await this.#overlappingAddress(mine ? undefined : foreignOwner === undefined ? addr : '');
    if (clash !== undefined) {
      const whose = clash.dev === this.name ? ` (bridge ${this.name} belongs to another Pharos server, ${foreignOwner}); give each server its own --task-cidr, or its own --task-bridge` : '; give each bridge its own CIDR';
      throw new SetupFailedError(`task CIDR ${this.o.ips.cidrText}`, `overlaps ${clash.addr} on ${clash.dev}${whose}`);
    }
    if (link === undefined) {
      // A fixed MAC: a bridge without one takes its lowest port's, so when that task's veth goes
      // the gateway's MAC changes under every other task, whose ARP entries then point nowhere
      // for seconds (rolling deployments lost requests to tasks that were running fine).
      cmds.push(`link add ${this.name} type bridge`, `link set dev ${this.name} address ${bridgeMac(this.name)}`, `link set dev ${this.name} alias ${this.#alias}`, `addr add ${addr} dev ${this.name}`);
    } else if (mine) {
      if (link.addrs.length !== 1 || link.addrs[0] !== addr) cmds.push(`addr flush dev ${this.name}`, `addr add ${addr} dev ${this.name}`);
    } else if (!link.addrs.includes(addr)) {
      cmds.push(`addr add ${addr} dev ${this.name}`);
      this.#addedAddress = true;
    }
    cmds.push(`link set ${this.name} up`);
    // A bridge deleted under live tasks: their veths survived (the namespaces hold the peers); attach them again.
    if (link === undefined) for (const veth of this.veths.keys()) cmds.push(`link set ${veth} master ${this.name} up`);
    const r = await runHostCommand('ip', ['-batch', '-'], cmds.join('\n') + '\n');
    if (r.code !== 0) throw new SetupFailedError(`bridge ${this.name}`, r.stderr.trim());
    if (link === undefined && this.#index !== undefined) {
      this.o.logger?.warn({ bridge: this.name, tasks: this.veths.size }, 'the task bridge was deleted: made it again and re-attached the live tasks');
    }
    this.#mine = mine;
    this.#index = (await this.#link())?.index;
    this.#watchLinks();
  }

  /**
   * Follows link deletions (`ip -o monitor link`) while the runtime is open: a deleted bridge is
   * made again at once (live tasks re-attached); if that fails, or a live task's veth is deleted,
   * the task's processes are killed, so the orchestrator sees its essential container exit and
   * takes it out of DNS at once instead of answering an address nobody can reach.
   */
  #watchLinks(): void {
    if (this.#monitor !== undefined || this.#closed) return;
    const child = spawn(this.o.ipBinary(), ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // A watcher, not work: it must not keep the process alive (stopWatching() kills it).
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    this.#monitor = child;
    const log = this.o.logger;
    child.on('error', (err) => log?.warn({ err }, 'cannot follow link changes (ip monitor)'));
    child.on('exit', () => {
      if (this.#monitor === child) this.#monitor = undefined;
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const name = /^Deleted (?:\d+: )?([^:@\s]+)[:@]/.exec(line)?.[1];
      if (name === undefined || this.#closed) return;
      if (name === this.name) {
        this.ensure().catch((err: unknown) => {
          log?.error({ err, bridge: this.name }, 'the task bridge was deleted and cannot be made again: stopping the tasks on it');
          for (const { netns } of this.veths.values()) void this.o.killInside(netns);
        });
        return;
      }
      const owner = this.veths.get(name);
      if (owner === undefined) return;
      // A port leaving a deleted bridge is reported as "Deleted" too (AF_BRIDGE): only a veth that is really gone ends its task.
      void runHostCommand('ip', ['link', 'show', 'dev', name]).then((r) => {
        if (r.code === 0 || this.#closed || !this.veths.has(name)) return;
        log?.error({ taskId: owner.taskId, veth: name }, "a task's veth was deleted: its network is gone, stopping it");
        return this.o.killInside(owner.netns);
      });
    });
  }

  /**
   * An address whose network overlaps the task CIDR (routing would be ambiguous). Addresses on the
   * bridge are skipped when `onBridge` is undefined (ours: flushed if wrong), else all but `onBridge`.
   */
  async #overlappingAddress(onBridge?: string): Promise<{ dev: string; addr: string } | undefined> {
    const r = await runHostCommand('ip', ['-j', '-4', 'addr', 'show']);
    const links = parseJson<{ ifname: string; addr_info?: { local: string; prefixlen: number }[] }[]>(r.stdout);
    if (links === undefined) return undefined;
    const mine = this.o.ips.cidr;
    for (const l of links) {
      if (l.ifname === this.name && onBridge === undefined) continue;
      for (const a of l.addr_info ?? []) {
        if (l.ifname === this.name && `${a.local}/${a.prefixlen}` === onBridge) continue;
        const n = parseIpv4(a.local);
        if (n === undefined || a.prefixlen === 32 || a.prefixlen === 0) continue;
        const size = 2 ** (32 - a.prefixlen);
        const base = n - (n % size);
        if (base < mine.base + mine.size && mine.base < base + size) return { dev: l.ifname, addr: `${a.local}/${a.prefixlen}` };
      }
    }
    return undefined;
  }
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
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

/** A locally administered unicast MAC derived from the bridge's name: the same on every re-creation. */
function bridgeMac(name: string): string {
  const b = createHash('sha256').update(name).digest().subarray(0, 6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
