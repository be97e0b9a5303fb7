import { BodyWriter, MAX_MESSAGE_LENGTH, MAX_POINTER_OFFSET, OPT_LENGTH, TYPE } from './wire.ts';

/**
 * Pre-encoded answers: what the registry handler caches per (name, type), and how a body
 * (answer + authority + additional sections) is built from records once, so that answering a
 * query only copies bytes.
 */

/** A record as the registry handler produces it, before encoding. */
export type Rr =
  | { type: typeof TYPE.A | typeof TYPE.AAAA; owner: readonly string[]; ttl: number; ip: Buffer }
  | {
      type: typeof TYPE.SRV;
      owner: readonly string[];
      ttl: number;
      port: number;
      target: readonly string[];
      /** Cloud Map's SRV records have priority and weight 1; users' records (Route 53) their own. */
      priority?: number;
      weight?: number;
      /** The target's address records (additional section). */
      extras: { type: typeof TYPE.A | typeof TYPE.AAAA; ttl: number; ip: Buffer }[];
    }
  | { type: typeof TYPE.CNAME | typeof TYPE.NS | typeof TYPE.PTR; owner: readonly string[]; ttl: number; target: readonly string[] }
  | { type: typeof TYPE.MX; owner: readonly string[]; ttl: number; preference: number; target: readonly string[] }
  | { type: typeof TYPE.TXT; owner: readonly string[]; ttl: number; strings: readonly Buffer[] }
  | { type: typeof TYPE.CAA; owner: readonly string[]; ttl: number; flags: number; tag: string; value: Buffer }
  | {
      type: typeof TYPE.SOA;
      owner: readonly string[];
      ttl: number;
      mname: readonly string[];
      rname: readonly string[];
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

/** One encoded body: the bytes after the question. */
interface Body {
  bytes: Buffer;
  an: number;
  ns: number;
  ar: number;
  /** Length of `bytes` without the additional section (dropped first when a UDP answer is too big). */
  lengthWithoutAdditional: number;
}

/** What a (name, type) answers with. */
export interface AnswerEntry {
  rcode: number;
  /** Authoritative (AA set). */
  authoritative: boolean;
  /** Bodies to choose from uniformly at random (rotations or single picks); empty when `pool` is set. */
  variants: Body[];
  /** More candidates than may be returned: a random subset of `pick` is encoded per query. */
  pool?: { candidates: Rr[]; pick: number; authority: Rr[]; question: readonly string[]; base: number };
}

/**
 * Encodes a body. Owner names compress against the question; SRV targets are written in full
 * (RFC 2782) and their additional records point at them. The body always fits a 65,535-byte
 * message with an OPT record: answer records past that are left out (the first ones in `answers`
 * order are kept, so the cut is deterministic), then additional records (RFC 2181 §9). UDP's
 * smaller limits are applied per query (server.ts `encodeEntry`, with TC).
 * @param question labels of the question name (lowercase)
 * @param base absolute offset of the body in the message (12 + question length)
 */
export function encodeBody(question: readonly string[], base: number, answers: readonly Rr[], authority: readonly Rr[] = []): Body {
  const w = new BodyWriter(question, base);
  const budget = MAX_MESSAGE_LENGTH - base - OPT_LENGTH;
  const targets: (number | undefined)[] = [];
  const an = writeWithin(w, budget, answers, targets);
  const ns = writeWithin(w, budget, authority);
  const lengthWithoutAdditional = w.length;
  let ar = 0;
  extras: for (let i = 0; i < an; i++) {
    const rr = answers[i]!;
    const at = targets[i];
    if (rr.type !== TYPE.SRV || at === undefined) continue;
    for (const extra of rr.extras) {
      const start = w.length;
      // A target beyond a pointer's reach (a big TCP answer) is written again in full.
      if (at <= MAX_POINTER_OFFSET) w.pointer(at);
      else w.name(rr.target, false);
      const rd = w.rrHeader(extra.type, extra.ttl);
      w.bytes(extra.ip);
      w.endRdata(rd);
      if (w.length > budget) {
        w.rewind(start);
        break extras;
      }
      ar++;
    }
  }
  return { bytes: w.done(), an, ns, ar, lengthWithoutAdditional };
}

/**
 * Writes records in order until one would pass `budget` bytes; returns how many were written.
 * With `targets`, each written record's SRV target offset (else undefined) is pushed to it.
 */
function writeWithin(w: BodyWriter, budget: number, records: readonly Rr[], targets?: (number | undefined)[]): number {
  let count = 0;
  for (const rr of records) {
    const start = w.length;
    const targetAt = writeRr(w, rr);
    if (w.length > budget) {
      w.rewind(start);
      break;
    }
    targets?.push(targetAt);
    count++;
  }
  return count;
}

/** Writes one record; for SRV returns the absolute offset of its target name. */
function writeRr(w: BodyWriter, rr: Rr): number | undefined {
  w.name(rr.owner);
  const rd = w.rrHeader(rr.type, rr.ttl);
  let targetAt: number | undefined;
  switch (rr.type) {
    case TYPE.A:
    case TYPE.AAAA:
      w.bytes(rr.ip);
      break;
    case TYPE.SRV:
      w.u16(rr.priority ?? 1); // Cloud Map: fixed at 1 (docs/compatibility.md#dns-answers)
      w.u16(rr.weight ?? 1);
      w.u16(rr.port);
      targetAt = w.position;
      w.name(rr.target, false);
      break;
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      w.name(rr.target);
      break;
    case TYPE.MX:
      w.u16(rr.preference);
      w.name(rr.target);
      break;
    case TYPE.TXT:
      for (const s of rr.strings) {
        w.u8(s.length);
        w.bytes(s);
      }
      break;
    case TYPE.CAA:
      w.u8(rr.flags);
      w.u8(rr.tag.length);
      w.bytes(Buffer.from(rr.tag, 'latin1'));
      w.bytes(rr.value);
      break;
    case TYPE.SOA:
      w.name(rr.mname);
      w.name(rr.rname);
      w.u32(rr.serial);
      w.u32(rr.refresh);
      w.u32(rr.retry);
      w.u32(rr.expire);
      w.u32(rr.minimum);
      break;
  }
  w.endRdata(rd);
  return targetAt;
}

/**
 * Rotations of `answers` (each record leads equally often), at most `max` of them, evenly spaced;
 * the one body when there is one record.
 */
export function rotations(question: readonly string[], base: number, answers: readonly Rr[], max = 16): Body[] {
  if (answers.length <= 1) return [encodeBody(question, base, answers)];
  const count = Math.min(answers.length, max);
  const out: Body[] = [];
  for (let r = 0; r < count; r++) {
    const k = Math.floor((r * answers.length) / count);
    out.push(encodeBody(question, base, [...answers.slice(k), ...answers.slice(0, k)]));
  }
  return out;
}

/** One body per record (WEIGHTED routing answers with one record chosen at random). */
export function singles(question: readonly string[], base: number, answers: readonly Rr[]): Body[] {
  return answers.map((rr) => encodeBody(question, base, [rr]));
}

const scratch = new Uint32Array(1024);

/** Encodes a random subset of `pick` candidates (partial Fisher-Yates over indices). */
export function randomSubset(pool: NonNullable<AnswerEntry['pool']>): Body {
  const n = pool.candidates.length;
  const idx = n <= scratch.length ? scratch : new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const chosen: Rr[] = [];
  for (let i = 0; i < pool.pick && i < n; i++) {
    const j = i + Math.floor(Math.random() * (n - i));
    const t = idx[j]!;
    idx[j] = idx[i]!;
    idx[i] = t;
    chosen.push(pool.candidates[t]!);
  }
  return encodeBody(pool.question, pool.base, chosen, pool.authority);
}
