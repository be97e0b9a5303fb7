import { isIPv4, isIPv6 } from 'node:net';
import type { ZoneRecordType } from './model.ts';

/**
 * Route 53's text forms of record data (the `Value` of a `ResourceRecord`), parsed once for both
 * sides that need them: the Route 53 API checks a value with `parseRdata` before storing it, and
 * DNS encodes the same parse, so nothing stored can fail to be served.
 * @see docs/route53.md (value formats)
 */
export type Rdata =
  | { type: 'A' | 'AAAA'; address: string }
  | { type: 'CNAME' | 'PTR'; target: string[] }
  | { type: 'MX'; preference: number; exchange: string[] }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string[] }
  | { type: 'TXT'; strings: Buffer[] }
  | { type: 'CAA'; flags: number; tag: string; value: Buffer };

/** A TXT character-string holds at most 255 bytes (RFC 1035 3.3). */
const MAX_CHARACTER_STRING = 255;
/** Route 53's limit on one value (TXT values may hold several strings up to this in total). */
export const MAX_VALUE_LENGTH = 4000;
const LABEL = /^[a-z0-9_-]{1,63}$/;
const U16 = /^\d{1,5}$/;

/** Parses one value of a record of `type`; a string is the reason it is not valid. */
export function parseRdata(type: ZoneRecordType, text: string): Rdata | string {
  if (text.length > MAX_VALUE_LENGTH) return `value is longer than ${MAX_VALUE_LENGTH} characters`;
  const fields = text.trim().split(/\s+/);
  switch (type) {
    case 'A':
      return isIPv4(text) ? { type, address: text } : `${JSON.stringify(text)} is not a valid IPv4 address`;
    case 'AAAA':
      return isIPv6(text) && !text.includes('%') ? { type, address: text } : `${JSON.stringify(text)} is not a valid IPv6 address`;
    case 'CNAME':
    case 'PTR': {
      const target = domainName(text.trim());
      return typeof target === 'string' ? target : { type, target };
    }
    case 'MX': {
      if (fields.length !== 2 || !U16.test(fields[0]!) || Number(fields[0]) > 65535) return `MX value must be "<preference 0-65535> <mail server name>", not ${JSON.stringify(text)}`;
      const exchange = domainName(fields[1]!);
      return typeof exchange === 'string' ? exchange : { type, preference: Number(fields[0]), exchange };
    }
    case 'SRV': {
      const nums = fields.slice(0, 3);
      if (fields.length !== 4 || !nums.every((f) => U16.test(f) && Number(f) <= 65535)) {
        return `SRV value must be "<priority> <weight> <port> <target name>" with numbers 0-65535, not ${JSON.stringify(text)}`;
      }
      const target = domainName(fields[3]!);
      return typeof target === 'string' ? target : { type, priority: Number(fields[0]), weight: Number(fields[1]), port: Number(fields[2]), target };
    }
    case 'TXT': {
      const strings = characterStrings(text);
      return typeof strings === 'string' ? strings : { type, strings };
    }
    case 'CAA': {
      const m = /^(\d{1,3})\s+([A-Za-z0-9]{1,15})\s+(.+)$/.exec(text.trim());
      if (!m || Number(m[1]) > 255) return `CAA value must be "<flags 0-255> <tag> \\"<value>\\"", not ${JSON.stringify(text)}`;
      const value = characterStrings(m[3]!);
      if (typeof value === 'string') return value;
      if (value.length !== 1) return `CAA value must be one quoted string, not ${JSON.stringify(m[3])}`;
      return { type, flags: Number(m[1]), tag: m[2]!, value: value[0]! };
    }
  }
}

/**
 * A domain name as labels (lowercase): letters, digits, `-` and `_`, at most 63 bytes a label and
 * 255 in all, the final dot optional. A string is the reason it is not valid.
 */
export function domainName(text: string): string[] | string {
  const labels = text.toLowerCase().replace(/\.$/, '').split('.');
  if (text === '' || text === '.' || !labels.every((l) => LABEL.test(l))) {
    return `${JSON.stringify(text)} is not a domain name of letters, digits, hyphens and underscores`;
  }
  if (labels.reduce((n, l) => n + l.length + 1, 1) > 255) return `${JSON.stringify(text)} is longer than 255 bytes`;
  return labels;
}

/**
 * Whether labels make a name DNS can encode: no empty label, labels ≤ 63 bytes, name ≤ 255 bytes.
 * (Cloud Map names may hold characters `domainName` refuses, e.g. instance ids with `:`; DNS
 * serves them as they are, and Route 53 lists them escaped.)
 */
export function isDnsName(labels: readonly string[]): boolean {
  let length = 1;
  for (const label of labels) {
    const n = Buffer.byteLength(label, 'latin1');
    if (n === 0 || n > 63) return false;
    length += n + 1;
  }
  return length <= 255;
}

/**
 * TXT data: one or more double-quoted strings (`"a" "b"`; `\"`, `\\` and `\DDD` escapes inside),
 * or, unquoted, the whole value as one string, as Route 53 takes them.
 */
function characterStrings(text: string): Buffer[] | string {
  const t = text.trim();
  if (!t.startsWith('"')) return checkLengths([Buffer.from(t, 'latin1')], t);
  const out: Buffer[] = [];
  let i = 0;
  while (i < t.length) {
    if (t[i] !== '"') return `TXT data must be quoted strings separated by spaces: ${JSON.stringify(text)}`;
    const bytes: number[] = [];
    i++;
    for (;;) {
      if (i >= t.length) return `TXT data has an unterminated string: ${JSON.stringify(text)}`;
      const c = t[i]!;
      if (c === '"') break;
      if (c === '\\') {
        const d = /^\d{3}/.exec(t.slice(i + 1, i + 4));
        if (d) {
          if (Number(d[0]) > 255) return `TXT escape \\${d[0]} is not a byte`;
          bytes.push(Number(d[0]));
          i += 4;
          continue;
        }
        if (i + 1 >= t.length) return `TXT data ends in a backslash: ${JSON.stringify(text)}`;
        bytes.push(t.charCodeAt(i + 1) & 0xff);
        i += 2;
        continue;
      }
      const code = t.charCodeAt(i);
      if (code > 0xff) bytes.push(...Buffer.from(c, 'utf8'));
      else bytes.push(code);
      i++;
    }
    out.push(Buffer.from(bytes));
    i++;
    while (t[i] === ' ' || t[i] === '\t') i++;
  }
  return checkLengths(out, text);
}

function checkLengths(strings: Buffer[], text: string): Buffer[] | string {
  for (const s of strings) if (s.length > MAX_CHARACTER_STRING) return `a TXT string is longer than ${MAX_CHARACTER_STRING} bytes (split it into several quoted strings): ${JSON.stringify(text.slice(0, 40))}...`;
  return strings;
}
