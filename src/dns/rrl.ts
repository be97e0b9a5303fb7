import net from 'node:net';
import { Counter, type Registry as MetricsRegistry } from '../lib/index.ts';
import { HEADER_LENGTH, RCODE } from './wire.ts';

/**
 * Response-rate limiting (RRL), as in BIND 9 and Knot DNS: a UDP query's source address can be
 * forged, so an authoritative server can be made to send large answers to a victim. RRL counts
 * the answers going to one client network for one kind of answer (the same name and type; every
 * NXDOMAIN or error of the network lumped together, so random names do not escape it) in a token
 * bucket. Past the rate, answers are dropped, except every `slip`-th, which goes out truncated
 * (TC=1, no records: no bigger than the query) so a real client behind a forged flood retries
 * over TCP, which cannot be spoofed. TCP is never limited.
 * @see https://kb.isc.org/docs/aa-00994 (BIND RRL) and Knot DNS `rrl` module (rate-limit, slip)
 */
export interface RrlOptions {
  /** Answers per second for one (client network, answer kind); also the burst. Knot's default rate-limit is 20. */
  responsesPerSecond: number;
  /** Every slip-th limited answer is sent truncated instead of dropped; 0 drops all. Knot and BIND default 2. */
  slip: number;
}

export const DEFAULT_RRL: RrlOptions = { responsesPerSecond: 20, slip: 2 };
/** Clients are grouped by network, as BIND does: IPv4 /24, IPv6 /64 (BIND: 56; a /64 is one site's LAN). */
const IPV4_PREFIX_BYTES = 3;
const IPV6_PREFIX_GROUPS = 4;
/** Buckets kept; the oldest are forgotten first. Bounds memory under a flood from many forged networks. */
const MAX_BUCKETS = 100_000;

type RrlAction = 'send' | 'drop' | 'slip';

interface Bucket {
  tokens: number;
  at: number;
  limited: number;
}

export class ResponseRateLimiter {
  readonly #rate: number;
  readonly #slip: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #counter: Counter<'action'> | undefined;

  constructor(options: RrlOptions, now: () => number, metrics?: MetricsRegistry) {
    this.#rate = options.responsesPerSecond;
    this.#slip = options.slip;
    this.#now = now;
    if (metrics !== undefined) {
      this.#counter = new Counter({ name: 'pharos_dns_rrl_total', help: 'UDP answers held back by response-rate limiting: dropped, or slipped (sent truncated).', labelNames: ['action'], registers: [metrics] });
      this.#counter.inc({ action: 'dropped' }, 0);
      this.#counter.inc({ action: 'slipped' }, 0);
    }
  }

  /** What to do with `response` for a query from `address`. */
  check(address: string, response: Buffer): RrlAction {
    const key = `${networkOf(address)}|${kindOf(response)}`;
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.#rate, at: now, limited: 0 };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#rate, b.tokens + ((now - b.at) / 1000) * this.#rate);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'send';
    }
    b.limited++;
    if (this.#slip > 0 && b.limited % this.#slip === 0) {
      this.#counter?.inc({ action: 'slipped' });
      return 'slip';
    }
    this.#counter?.inc({ action: 'dropped' });
    return 'drop';
  }
}

/** The answer cut to its header and question, with TC set and no records: the client retries over TCP. */
export function truncated(response: Buffer): Buffer {
  const qdcount = response.readUInt16BE(4);
  const end = qdcount === 1 ? questionEnd(response) : HEADER_LENGTH;
  const out = Buffer.from(response.subarray(0, end));
  out[2] = out[2]! | 0x02; // TC
  out.writeUInt16BE(end === HEADER_LENGTH ? 0 : 1, 4);
  out.fill(0, 6, 12); // ANCOUNT, NSCOUNT, ARCOUNT
  return out;
}

/** Where the (single) question ends: after its name and 4 bytes of type and class; the header's end if malformed. */
function questionEnd(msg: Buffer): number {
  let i = HEADER_LENGTH;
  while (i < msg.length) {
    const len = msg[i]!;
    if (len === 0) return i + 5 <= msg.length ? i + 5 : HEADER_LENGTH;
    if (len >= 0xc0) return HEADER_LENGTH; // a question name is never compressed
    i += len + 1;
  }
  return HEADER_LENGTH;
}

/** The answer kind: name and type for answers with data, the rcode alone for errors and NXDOMAIN. */
function kindOf(response: Buffer): string {
  if (response.length < HEADER_LENGTH) return 'short';
  const rcode = response[3]! & 0x0f;
  if (rcode !== RCODE.NOERROR) return `rcode${rcode}`;
  const end = questionEnd(response);
  // Names are case-insensitive: lower-case so 0x20-randomized queries share a bucket.
  return end === HEADER_LENGTH ? 'noquestion' : response.toString('latin1', HEADER_LENGTH, end).toLowerCase();
}

function networkOf(address: string): string {
  if (net.isIPv4(address)) return address.split('.').slice(0, IPV4_PREFIX_BYTES).join('.');
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return networkOf(v4[1]!);
  return expandV6(address).slice(0, IPV6_PREFIX_GROUPS).join(':') + '::/64';
}

function expandV6(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  return [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
}
