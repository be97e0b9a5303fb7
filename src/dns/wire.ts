/**
 * The DNS wire format on the hot path: a query parser that allocates one string, and a small
 * writer for pre-encoded answer bodies that compresses names against the question (offset 12).
 *
 * Why not `dns-packet` here: its `decode` builds an object graph per query (measured in
 * bench/dns-wire.ts: ~5x slower than this parser), and its encoder never compresses names, so eight
 * SRV records with their additional A records would not fit a 512-byte UDP answer. `dns-packet`
 * remains the oracle in the tests, which decode every answer this file produces.
 * @see RFC 1035 §4 (message format), RFC 6891 (EDNS0), RFC 2782 (SRV targets are never compressed).
 */
import { isIPv6 } from 'node:net';

export const HEADER_LENGTH = 12;
/** Offset of the question name in every message: the target of every compression pointer we write. */
const QUESTION_OFFSET = 12;
const POINTER = 0xc000;
/** A compression pointer holds 14 bits of offset (RFC 1035 §4.1.4): names further in are written in full. */
export const MAX_POINTER_OFFSET = 0x3fff;
/** The largest DNS message: TCP's two-byte length prefix (RFC 1035 §4.2.2); UDP answers are smaller still. */
export const MAX_MESSAGE_LENGTH = 0xffff;
const MAX_NAME_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;
/** EDNS0 OPT pseudo-record length with empty RDATA: root name, type, class, ttl, rdlength. */
export const OPT_LENGTH = 11;

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (EDNS) rcode: upper 8 bits go in the OPT record. */
  BADVERS: 16,
} as const;

export const FLAG = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  CD: 0x0010,
} as const;
const OPCODE_MASK = 0x7800;

/** What the parser learned from a query. */
export interface ParsedQuery {
  id: number;
  /** The query's flag word as received. */
  flags: number;
  opcode: number;
  /**
   * The question name in wire form, ASCII-lowercased, as a latin1 string (label lengths included).
   * It is the cache key: two spellings of one name give the same key.
   */
  key: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question (after QCLASS); `msg[12, questionEnd)` is copied into answers. */
  questionEnd: number;
  /** EDNS0: present when the query carried an OPT record. */
  edns?: { udpSize: number; version: number; dnssecOk: boolean };
}

/** Why a message could not be parsed: 'drop' = do not answer at all, else the rcode to answer with. */
export type ParseFailure = { fail: 'drop' } | { fail: 'formerr' | 'notimp'; id: number; flags: number };

/**
 * Parses a query. Never throws: malformed input yields a `ParseFailure`.
 * Lenient where RFC 1035 allows (trailing bytes, unknown additional records), strict where
 * answering would be wrong (a second OPT, compression in the question, several questions).
 */
export function parseQuery(msg: Buffer): ParsedQuery | ParseFailure {
  const len = msg.length;
  if (len < HEADER_LENGTH) return DROP; // not even a header to answer with
  const id = (msg[0]! << 8) | msg[1]!;
  const flags = (msg[2]! << 8) | msg[3]!;
  if (flags & FLAG.QR) return DROP; // a response: answering would let two servers ping-pong
  const opcode = (flags & OPCODE_MASK) >> 11;
  if (opcode !== 0) return { fail: 'notimp', id, flags };
  const qdcount = (msg[4]! << 8) | msg[5]!;
  const ancount = (msg[6]! << 8) | msg[7]!;
  const nscount = (msg[8]! << 8) | msg[9]!;
  const arcount = (msg[10]! << 8) | msg[11]!;
  if (qdcount !== 1 || ancount !== 0 || nscount !== 0) return { fail: 'formerr', id, flags };

  // Question name: labels only (a pointer here could only point into the header).
  let off = HEADER_LENGTH;
  let upper = false;
  for (;;) {
    if (off >= len) return { fail: 'formerr', id, flags };
    const l = msg[off]!;
    if (l === 0) break;
    if (l > MAX_LABEL_LENGTH) return { fail: 'formerr', id, flags };
    const end = off + 1 + l;
    if (end > len) return { fail: 'formerr', id, flags };
    if (!upper) {
      for (let i = off + 1; i < end; i++) {
        const c = msg[i]!;
        if (c >= 65 && c <= 90) {
          upper = true;
          break;
        }
      }
    }
    off = end;
  }
  const nameEnd = off + 1;
  if (nameEnd - HEADER_LENGTH > MAX_NAME_LENGTH) return { fail: 'formerr', id, flags };
  if (nameEnd + 4 > len) return { fail: 'formerr', id, flags };
  let key = msg.toString('latin1', HEADER_LENGTH, nameEnd);
  if (upper) key = asciiLower(key);
  const qtype = (msg[nameEnd]! << 8) | msg[nameEnd + 1]!;
  const qclass = (msg[nameEnd + 2]! << 8) | msg[nameEnd + 3]!;
  const questionEnd = nameEnd + 4;

  let edns: ParsedQuery['edns'];
  off = questionEnd;
  for (let i = 0; i < arcount; i++) {
    const nameStart = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > len) return { fail: 'formerr', id, flags };
    const type = (msg[off]! << 8) | msg[off + 1]!;
    const rdlength = (msg[off + 8]! << 8) | msg[off + 9]!;
    if (off + 10 + rdlength > len) return { fail: 'formerr', id, flags };
    if (type === TYPE.OPT) {
      // RFC 6891 §6.1.1: one OPT, owned by the root.
      if (edns !== undefined || msg[nameStart] !== 0) return { fail: 'formerr', id, flags };
      if (malformedOptions(msg, off + 10, off + 10 + rdlength)) return { fail: 'formerr', id, flags };
      edns = {
        udpSize: (msg[off + 2]! << 8) | msg[off + 3]!,
        version: msg[off + 5]!,
        dnssecOk: (msg[off + 6]! & 0x80) !== 0,
      };
    }
    off += 10 + rdlength;
  }
  return { id, flags, opcode, key, qtype, qclass, questionEnd, edns };
}

/** EDNS option code of DNS cookies (RFC 7873). */
const EDNS_COOKIE = 10;

/**
 * Whether an OPT's RDATA is not a well-formed option list (RFC 6891 §6.1.2: code, length, data,
 * filling it exactly), or holds a COOKIE of a length RFC 7873 §5.2.2 answers with FORMERR: a
 * client cookie alone is 8 bytes, with a server cookie 16 to 40.
 */
function malformedOptions(msg: Buffer, start: number, end: number): boolean {
  let o = start;
  while (o < end) {
    if (o + 4 > end) return true;
    const code = (msg[o]! << 8) | msg[o + 1]!;
    const length = (msg[o + 2]! << 8) | msg[o + 3]!;
    o += 4 + length;
    if (o > end) return true;
    if (code === EDNS_COOKIE && length !== 8 && (length < 16 || length > 40)) return true;
  }
  return false;
}

const DROP: ParseFailure = { fail: 'drop' };

export function isParseFailure(p: ParsedQuery | ParseFailure): p is ParseFailure {
  return (p as ParseFailure).fail !== undefined;
}

function asciiLower(s: string): string {
  // Only A-Z: DNS names compare case-insensitively in ASCII only (RFC 4343).
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Skips a possibly compressed name; returns the offset after it, or -1 if malformed. */
function skipName(msg: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= msg.length) return -1;
    const l = msg[off]!;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= msg.length ? off + 2 : -1;
    if (l > MAX_LABEL_LENGTH) return -1;
    off += 1 + l;
  }
  return -1;
}

/**
 * Labels of a wire key (see `ParsedQuery.key`), lowercase. A `.` or `\` inside a label is escaped
 * so that such a label can never equal a registry name.
 */
export function labelsOfKey(key: string): string[] {
  const labels: string[] = [];
  let off = 0;
  while (off < key.length) {
    const l = key.charCodeAt(off);
    if (l === 0) break;
    let label = key.slice(off + 1, off + 1 + l);
    if (label.includes('.') || label.includes('\\')) label = label.replace(/[.\\]/g, (c) => '\\' + c);
    labels.push(label);
    off += 1 + l;
  }
  return labels;
}

/** A label as it is on the wire (undoes the escaping of `labelsOfKey`). */
function unescapeLabel(label: string): string {
  return label.includes('\\') ? label.replace(/\\(.)/g, '$1') : label;
}

function wireLength(label: string): number {
  return Buffer.byteLength(unescapeLabel(label), 'latin1');
}

/** Lowercase labels of a dotted name, without the root. */
export function splitName(name: string): string[] {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n === '' ? [] : n.split('.');
}

/**
 * Writes the records of one answer body (everything after the question), compressing owner names
 * against the question name. Offsets are absolute in the final message: the question name starts
 * at 12 and the body at `base`.
 */
export class BodyWriter {
  private buf: Buffer;
  private off = 0;

  /**
   * @param question labels of the question name (lowercase), used for compression
   * @param base absolute offset where the body starts (12 + question length)
   */
  constructor(
    private readonly question: readonly string[],
    private readonly base: number,
    capacity = 512,
  ) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.off;
  }
  /** Absolute offset of the next byte written. */
  get position(): number {
    return this.base + this.off;
  }

  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.off++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.off);
    this.off += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.off);
    this.off += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** Drops what was written after `length` (a record that would not fit the message). */
  rewind(length: number): void {
    this.off = Math.min(this.off, length);
  }

  /** Writes a pointer to an absolute offset (an earlier occurrence of a name); offsets past 14 bits cannot be pointed at. */
  pointer(to: number): void {
    if (to > MAX_POINTER_OFFSET) throw new RangeError(`compression pointer to offset ${to}`);
    this.u16(POINTER | to);
  }

  /**
   * Writes a name, replacing its longest suffix shared with the question by a pointer.
   * `compress: false` writes it in full (SRV targets, RFC 2782).
   */
  name(labels: readonly string[], compress = true): void {
    const q = this.question;
    let shared = 0;
    if (compress) {
      while (shared < labels.length && shared < q.length && labels[labels.length - 1 - shared] === q[q.length - 1 - shared]) shared++;
    }
    const own = labels.length - shared;
    for (let i = 0; i < own; i++) {
      const b = Buffer.from(unescapeLabel(labels[i]!), 'latin1');
      this.u8(b.length);
      this.bytes(b);
    }
    if (shared === 0) {
      this.u8(0);
      return;
    }
    // Offset of the shared suffix inside the question name.
    let at = QUESTION_OFFSET;
    for (let i = 0; i < q.length - shared; i++) at += 1 + wireLength(q[i]!);
    this.pointer(at);
  }

  /** Type, class IN, TTL; returns the offset of RDLENGTH, to be filled by `endRdata`. */
  rrHeader(type: number, ttl: number): number {
    this.u16(type);
    this.u16(CLASS_IN);
    this.u32(ttl);
    const at = this.off;
    this.u16(0);
    return at;
  }
  endRdata(rdlengthAt: number): void {
    this.buf.writeUInt16BE(this.off - rdlengthAt - 2, rdlengthAt);
  }

  /** The bytes written so far (a copy, safe to keep). */
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.off));
  }
}

/** IPv4 dotted quad → 4 bytes, or undefined if it is not one. */
export function ipv4Bytes(s: string): Buffer | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = Buffer.allocUnsafe(4);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255) return undefined;
    b[i] = v;
  }
  return b;
}

/** IPv6 text → 16 bytes, or undefined. Accepts `::` shorthand and a trailing dotted quad. */
export function ipv6Bytes(s: string): Buffer | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4Bytes(v4[1]!);
    if (!b) return undefined;
    text = text.slice(0, -v4[1]!.length) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [l, r] = text.split('::') as [string, string | undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = r === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  const out = Buffer.allocUnsafe(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i]!, 16), i * 2);
  return out;
}

/** Writes the 12-byte header of a reply into `out`. */
export function writeHeader(out: Buffer, id: number, flags: number, qd: number, an: number, ns: number, ar: number, at = 0): void {
  out[at] = id >> 8;
  out[at + 1] = id & 0xff;
  out[at + 2] = flags >> 8;
  out[at + 3] = flags & 0xff;
  out[at + 4] = qd >> 8;
  out[at + 5] = qd & 0xff;
  out[at + 6] = an >> 8;
  out[at + 7] = an & 0xff;
  out[at + 8] = ns >> 8;
  out[at + 9] = ns & 0xff;
  out[at + 10] = ar >> 8;
  out[at + 11] = ar & 0xff;
}

/** Writes an OPT record (RFC 6891) advertising `udpSize`, carrying the upper 8 bits of an extended `rcode`. */
export function writeOpt(out: Buffer, off: number, udpSize: number, rcode = 0): void {
  out[off] = 0; // root
  out.writeUInt16BE(TYPE.OPT, off + 1);
  out.writeUInt16BE(udpSize, off + 3);
  out[off + 5] = (rcode >> 4) & 0xff;
  out[off + 6] = 0; // version 0
  out[off + 7] = 0; // flags (DO clear: we do not sign)
  out[off + 8] = 0;
  out.writeUInt16BE(0, off + 9); // no options
}

/** Reply flags for a query: QR, the query's opcode, RD and CD echoed, plus `set` and the rcode's low 4 bits. */
export function replyFlags(queryFlags: number, set: number, rcode: number): number {
  return FLAG.QR | (queryFlags & (OPCODE_MASK | FLAG.RD | FLAG.CD)) | set | (rcode & 0xf);
}
