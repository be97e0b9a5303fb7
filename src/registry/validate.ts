import { isIPv4, isIPv6 } from 'node:net';
import { invalidInput } from './errors.ts';

/**
 * Reading untrusted request bodies. Every constraint of the service model is checked here, because
 * neither SDK v3 nor the CLI checks max lengths, patterns or enums (docs/compatibility.md#validation). A failure is
 * `InvalidInput` with a message that starts with the member's path, e.g. `Name: must match ...`.
 */

/** The model's patterns (docs/compatibility.md#validation). */
export const P1 = /^(?!arn:)[!-~]{1,1024}$/;
export const P2 = /^(?!arn:)[!-~]{1,253}$/;
export const P3 = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
export const P4 =
  /((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$)/;
export const P5 = /^[!-~]{1,1024}$/;
export const P6 = /^[a-zA-Z0-9!-~]+$/;
export const P7 = /^([a-zA-Z0-9!-~][ \ta-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$/;
export const P8 = /^[0-9a-zA-Z_/:.@-]+$/;

/** The model's largest `long`, also the largest integer JSON.parse keeps exact (docs/compatibility.md#wire-protocol). */
const MAX_LONG = 2147483647;

interface StrRule {
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** Shown instead of the raw regex in the error message. */
  patternName?: string;
}

interface IntRule {
  min: number;
  max: number;
}

type Json = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/**
 * A typed view over one JSON object of the request. Paths compose (`DnsConfig.DnsRecords[0].TTL`),
 * so every error names exactly the member that is wrong.
 */
export class Input {
  private constructor(
    private readonly body: Json,
    private readonly path: string,
  ) {}

  /** The request body: must be a JSON object (an operation without input sends `{}`). */
  static of(body: unknown): Input {
    if (body === undefined || body === null) return new Input({}, '');
    if (typeof body !== 'object' || Array.isArray(body)) throw invalidInput('the request body must be a JSON object');
    return new Input(body as Json, '');
  }

  name(member: string): string {
    return this.path ? `${this.path}.${member}` : member;
  }

  has(member: string): boolean {
    const v = this.body[member];
    return v !== undefined && v !== null;
  }

  private raw(member: string, required: boolean): unknown {
    const v = Object.prototype.hasOwnProperty.call(this.body, member) ? this.body[member] : undefined;
    if ((v === undefined || v === null) && required) throw invalidInput(`${this.name(member)}: is required`);
    return v === null ? undefined : v;
  }

  str(member: string, rule: StrRule & { required: true }): string;
  str(member: string, rule?: StrRule & { required?: false }): string | undefined;
  str(member: string, rule: StrRule & { required?: boolean } = {}): string | undefined {
    const v = this.raw(member, rule.required === true);
    if (v === undefined) return undefined;
    return checkStr(this.name(member), v, rule);
  }

  int(member: string, rule: IntRule & { required: true }): number;
  int(member: string, rule: IntRule & { required?: false }): number | undefined;
  int(member: string, rule: IntRule & { required?: boolean }): number | undefined {
    const v = this.raw(member, rule.required === true);
    if (v === undefined) return undefined;
    return checkInt(this.name(member), v, rule);
  }

  /** A `long` TTL: 0..2147483647. */
  long(member: string, required: true): number;
  long(member: string, required?: false): number | undefined;
  long(member: string, required = false): number | undefined {
    return required ? this.int(member, { min: 0, max: MAX_LONG, required: true }) : this.int(member, { min: 0, max: MAX_LONG });
  }

  enumOf<T extends string>(member: string, values: readonly T[], required: true): T;
  enumOf<T extends string>(member: string, values: readonly T[], required?: false): T | undefined;
  enumOf<T extends string>(member: string, values: readonly T[], required = false): T | undefined {
    const v = this.raw(member, required);
    if (v === undefined) return undefined;
    return checkEnum(this.name(member), v, values);
  }

  obj(member: string, required: true): Input;
  obj(member: string, required?: false): Input | undefined;
  obj(member: string, required = false): Input | undefined {
    const v = this.raw(member, required);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidInput(`${this.name(member)}: must be an object, got ${describe(v)}`);
    return new Input(v as Json, this.name(member));
  }

  /** A list; `each` reads one element (given its path) and may throw InvalidInput. */
  list<T>(member: string, rule: { min?: number; max?: number; required?: boolean }, each: (v: unknown, path: string) => T): T[] | undefined {
    const v = this.raw(member, rule.required === true);
    if (v === undefined) return undefined;
    const path = this.name(member);
    if (!Array.isArray(v)) throw invalidInput(`${path}: must be a list, got ${describe(v)}`);
    if (rule.min !== undefined && v.length < rule.min) throw invalidInput(`${path}: must have at least ${rule.min} item(s)`);
    if (rule.max !== undefined && v.length > rule.max) throw invalidInput(`${path}: must have at most ${rule.max} items`);
    return v.map((item, i) => each(item, `${path}[${i}]`));
  }

  /** A string-to-string map with per-key and per-value rules. */
  map(
    member: string,
    rule: { required?: boolean; min?: number; max?: number; key: StrRule; value: StrRule },
  ): Record<string, string> | undefined {
    const v = this.raw(member, rule.required === true);
    if (v === undefined) return undefined;
    const path = this.name(member);
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidInput(`${path}: must be an object (map), got ${describe(v)}`);
    // No prototype: a `__proto__` key is kept as data, not taken as the object's prototype.
    const out = Object.create(null) as Record<string, string>;
    let n = 0;
    for (const [k, val] of Object.entries(v as Json)) {
      checkStr(`${path} key`, k, rule.key);
      out[k] = checkStr(`${path}.${k}`, val, rule.value);
      n++;
    }
    if (rule.min !== undefined && n < rule.min) throw invalidInput(`${path}: must have at least ${rule.min} entr${rule.min === 1 ? 'y' : 'ies'}`);
    if (rule.max !== undefined && n > rule.max) throw invalidInput(`${path}: must have at most ${rule.max} entries`);
    return out;
  }

  /** An element of a list as an object. */
  static element(v: unknown, path: string): Input {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidInput(`${path}: must be an object, got ${describe(v)}`);
    return new Input(v as Json, path);
  }
}

export function checkStr(path: string, v: unknown, rule: StrRule = {}): string {
  if (typeof v !== 'string') throw invalidInput(`${path}: must be a string, got ${describe(v)}`);
  if (rule.min !== undefined && v.length < rule.min) throw invalidInput(`${path}: must be at least ${rule.min} character(s) long`);
  if (rule.max !== undefined && v.length > rule.max) throw invalidInput(`${path}: must be at most ${rule.max} characters long`);
  if (rule.pattern && !rule.pattern.test(v)) {
    throw invalidInput(`${path}: must match ${rule.patternName ?? rule.pattern.source}`);
  }
  return v;
}

function checkInt(path: string, v: unknown, rule: IntRule): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidInput(`${path}: must be an integer, got ${describe(v)}`);
  if (v < rule.min || v > rule.max) throw invalidInput(`${path}: must be between ${rule.min} and ${rule.max}`);
  return v;
}

export function checkEnum<T extends string>(path: string, v: unknown, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw invalidInput(`${path}: must be one of ${values.join(', ')}`);
  }
  return v as T;
}

/** Dotted-quad IPv4, as `AWS_INSTANCE_IPV4` needs (docs/compatibility.md#instances). */
export const isIpv4Address = (s: string): boolean => isIPv4(s);
export const isIpv6Address = (s: string): boolean => isIPv6(s);
/** A decimal port 1–65535 without sign, spaces or leading zeros. */
export const isPort = (s: string): boolean => /^[1-9][0-9]{0,4}$/.test(s) && Number(s) <= 65535;
/** A host name for `AWS_INSTANCE_CNAME` / `AWS_ALIAS_DNS_NAME` (trailing dot allowed). */
export const isDnsName = (s: string): boolean =>
  s.length <= 255 && /^([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/.test(s);
