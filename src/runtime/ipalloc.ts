import { BadRuntimeConfigError, TaskCidrExhaustedError } from './errors.ts';

/** The default task CIDR: RFC 2544 benchmarking space, never routed on real networks. */
export const DEFAULT_TASK_CIDR = '198.18.0.0/16';
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
 * Hands out task addresses from a CIDR. The first usable address is the gateway (the bridge's
 * own address); network and broadcast addresses are never used. Allocation is next-fit (it
 * continues after the last address handed out), so a just-released address is not reused at
 * once: resolvers and clients may still hold it from a DNS answer.
 *
 * Nothing is persisted: after a restart the caller tells it what is in use with `reserve()`.
 */
export class IpAllocator {
  readonly cidr: Cidr;
  readonly gateway: string;
  readonly #used = new Set<number>();
  #cursor: number;

  constructor(readonly cidrText: string) {
    this.cidr = parseCidr(cidrText);
    this.gateway = formatIpv4(this.cidr.base + 1);
    this.#cursor = 2;
  }

  /** Usable task addresses (excludes network, gateway, broadcast). */
  get capacity(): number {
    return this.cidr.size - 3;
  }

  get inUse(): number {
    return this.#used.size;
  }

  allocate(): string {
    const { size, base } = this.cidr;
    for (let i = 0; i < size; i++) {
      const off = this.#cursor;
      this.#cursor = this.#cursor + 1 >= size - 1 ? 2 : this.#cursor + 1;
      if (off >= 2 && off < size - 1 && !this.#used.has(off)) {
        this.#used.add(off);
        return formatIpv4(base + off);
      }
    }
    throw new TaskCidrExhaustedError(this.cidrText);
  }

  /** Marks an address as taken (e.g. a task adopted after a restart). False if outside the range or taken. */
  reserve(ip: string): boolean {
    const off = this.#offset(ip);
    if (off === undefined || this.#used.has(off)) return false;
    this.#used.add(off);
    return true;
  }

  release(ip: string): void {
    const off = this.#offset(ip);
    if (off !== undefined) this.#used.delete(off);
  }

  /** Position of `ip` in the CIDR (also used to name a task's veth). */
  offsetOf(ip: string): number | undefined {
    return this.#offset(ip);
  }

  #offset(ip: string): number | undefined {
    const n = parseIpv4(ip);
    if (n === undefined) return undefined;
    const off = n - this.cidr.base;
    return off >= 2 && off < this.cidr.size - 1 ? off : undefined;
  }
}
