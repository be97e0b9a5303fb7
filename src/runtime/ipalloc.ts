import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { systemClock, type Clock } from '../lib/index.ts';
import { BadRuntimeConfigError, TaskCidrExhaustedError } from './errors.ts';

/** The default task CIDR: RFC 2544 benchmarking space, never routed on real networks. */
export const DEFAULT_TASK_CIDR = '198.18.0.0/16';
/**
 * How long a released task address rests before it is handed out again while any other is free.
 * Resolvers and clients keep a DNS answer for its TTL, and a stopping task leaves DNS only its
 * drain delay (its records' largest TTL + 1 s) before it stops, so a new task given the address at
 * once would get requests meant for the old one. 10 minutes outlasts the TTLs services use (ECS
 * and Cloud Map examples use 10-300 s) and neighbour caches (Linux: gc_stale_time 60 s).
 */
export const ADDRESS_QUARANTINE_MS = 10 * 60_000;
/** A task network needs a gateway and at least one task address. */
const MAX_PREFIX = 30;

interface Cidr {
  /** Network address as a 32-bit unsigned integer. */
  base: number;
  prefix: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(s: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  const addr = m ? parseIpv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefix >= 1 && prefix <= MAX_PREFIX)) {
    throw new BadRuntimeConfigError(`task CIDR "${s}" must be an IPv4 CIDR with a prefix of 1-${MAX_PREFIX}`);
  }
  const size = 2 ** (32 - prefix);
  const base = (addr - (addr % size)) >>> 0;
  return { base, prefix, size };
}

/**
 * What an allocator with a `file` keeps there across restarts: the addresses in use, and the
 * released ones still resting (address, release time in ms).
 */
interface SavedAddresses {
  inUse: string[];
  released: [string, number][];
}

interface IpAllocatorOptions {
  clock?: Clock;
  /** Where the addresses in use and resting are kept across restarts; none = not kept. */
  file?: string;
  /** Told when the file cannot be written (allocation goes on; only the rest after a restart is lost). */
  onSaveError?: (err: unknown) => void;
}

/**
 * Hands out task addresses from a CIDR. The first usable address is the gateway (the bridge's
 * own address); network and broadcast addresses are never used.
 *
 * A released address rests for `ADDRESS_QUARANTINE_MS`: never-used (or rested) addresses are
 * handed out first, next-fit; only when none is left does the longest-resting one go, so a
 * just-released address is reused last. With a `file` this holds across restarts too: the
 * addresses released before it rest on, and those in use when the server stopped count as
 * released at the restart (their tasks are gone, unless `reserve()` adopts them again).
 */
export class IpAllocator {
  readonly cidr: Cidr;
  readonly gateway: string;
  readonly #used = new Set<number>();
  /** Resting offsets → release time, oldest first (Map order: an offset is re-inserted on release). */
  readonly #resting = new Map<number, number>();
  readonly #clock: Clock;
  readonly #file: string | undefined;
  readonly #onSaveError: ((err: unknown) => void) | undefined;
  #cursor: number;

  constructor(
    readonly cidrText: string,
    options: IpAllocatorOptions = {},
  ) {
    this.cidr = parseCidr(cidrText);
    this.gateway = formatIpv4(this.cidr.base + 1);
    this.#cursor = 2;
    this.#clock = options.clock ?? systemClock;
    this.#file = options.file;
    this.#onSaveError = options.onSaveError;
    if (this.#file !== undefined) this.#load(this.#file);
  }

  /** Usable task addresses (excludes network, gateway, broadcast). */
  get capacity(): number {
    return this.cidr.size - 3;
  }

  get inUse(): number {
    return this.#used.size;
  }

  allocate(): string {
    this.#expire();
    const off = this.capacity - this.#used.size - this.#resting.size > 0 ? this.#nextFresh() : this.#resting.keys().next().value;
    if (off === undefined) throw new TaskCidrExhaustedError(this.cidrText);
    this.#resting.delete(off);
    this.#used.add(off);
    this.#save();
    return formatIpv4(this.cidr.base + off);
  }

  /** Marks an address as taken (e.g. a task adopted after a restart). False if outside the range or taken. */
  reserve(ip: string): boolean {
    const off = this.#offset(ip);
    if (off === undefined || this.#used.has(off)) return false;
    this.#resting.delete(off);
    this.#used.add(off);
    this.#save();
    return true;
  }

  release(ip: string): void {
    const off = this.#offset(ip);
    if (off === undefined || !this.#used.delete(off)) return;
    this.#resting.set(off, this.#clock.now());
    this.#save();
  }

  /** Position of `ip` in the CIDR (also used to name a task's veth). */
  offsetOf(ip: string): number | undefined {
    return this.#offset(ip);
  }

  /** Next-fit over the addresses neither in use nor resting (the caller checked one exists). */
  #nextFresh(): number | undefined {
    const { size } = this.cidr;
    for (let i = 0; i < size; i++) {
      const off = this.#cursor;
      this.#cursor = this.#cursor + 1 >= size - 1 ? 2 : this.#cursor + 1;
      if (off >= 2 && off < size - 1 && !this.#used.has(off) && !this.#resting.has(off)) return off;
    }
    return undefined;
  }

  /** Addresses that rested long enough are fresh again. */
  #expire(): void {
    const limit = this.#clock.now() - ADDRESS_QUARANTINE_MS;
    for (const [off, at] of this.#resting) {
      if (at > limit) break;
      this.#resting.delete(off);
    }
  }

  #load(file: string): void {
    let saved: SavedAddresses;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as SavedAddresses;
    } catch {
      return; // none yet (or unreadable: addresses then start fresh, as before this file existed)
    }
    const now = this.#clock.now();
    const released = (Array.isArray(saved?.released) ? saved.released : []).filter((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number');
    for (const [ip, at] of released.sort((a, b) => a[1] - b[1])) {
      const off = this.#offset(ip);
      if (off !== undefined) this.#resting.set(off, Math.min(at, now));
    }
    // In use when the last run ended: those tasks are gone now (or adopted again with reserve()).
    for (const ip of Array.isArray(saved?.inUse) ? saved.inUse : []) {
      const off = typeof ip === 'string' ? this.#offset(ip) : undefined;
      if (off !== undefined) (this.#resting.delete(off), this.#resting.set(off, now));
    }
    this.#expire();
  }

  #save(): void {
    if (this.#file === undefined) return;
    const saved: SavedAddresses = {
      inUse: [...this.#used].map((off) => formatIpv4(this.cidr.base + off)),
      released: [...this.#resting].map(([off, at]) => [formatIpv4(this.cidr.base + off), at]),
    };
    try {
      // Whole or not at all: a crash mid-write must not leave half a file.
      writeFileSync(`${this.#file}.tmp`, JSON.stringify(saved), { mode: 0o600 });
      renameSync(`${this.#file}.tmp`, this.#file);
    } catch (err) {
      this.#onSaveError?.(err);
    }
  }

  #offset(ip: string): number | undefined {
    const n = parseIpv4(ip);
    if (n === undefined) return undefined;
    const off = n - this.cidr.base;
    return off >= 2 && off < this.cidr.size - 1 ? off : undefined;
  }
}
