import { isIPv4, isIPv6 } from 'node:net';
import { describeJson, InputReader, type InputWording, type Json, type StrRule as LibStrRule } from '../lib/index.ts';
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

type StrRule = Omit<LibStrRule, 'required' | 'code' | 'oneOf'>;
type IntRule = { min: number; max: number };

/** Cloud Map's wording: the member's path, a colon, what is wrong (and what was there instead). */
const CLOUD_MAP_WORDING: InputWording = {
  body: 'the request body must be a JSON object',
  required: (path) => `${path}: is required`,
  kind: (path, expected, got) => {
    const shown = { string: 'a string', integer: 'an integer', boolean: 'a boolean', object: 'an object', map: 'an object (map)', list: 'a list' }[expected];
    return `${path}: must be ${shown}, got ${describeJson(got)}`;
  },
  length: (path, bound, n) => (bound === 'min' ? `${path}: must be at least ${n} character(s) long` : `${path}: must be at most ${n} characters long`),
  pattern: (path, pattern, help) => `${path}: must match ${help ?? pattern.source}`,
  oneOf: (path, values) => `${path}: must be one of ${values.join(', ')}`,
  range: (path, _value, min, max) => `${path}: must be between ${min} and ${max}`,
  count: (path, kind, bound, n) => {
    if (kind === 'map') return bound === 'min' ? `${path}: must have at least ${n} entr${n === 1 ? 'y' : 'ies'}` : `${path}: must have at most ${n} entries`;
    return bound === 'min' ? `${path}: must have at least ${n} item(s)` : `${path}: must have at most ${n} items`;
  },
};

const read = new InputReader(CLOUD_MAP_WORDING, (message) => invalidInput(message));

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
    return new Input(read.body(body), '');
  }

  name(member: string): string {
    return this.path ? `${this.path}.${member}` : member;
  }

  has(member: string): boolean {
    return read.has(this.body, member);
  }

  str(member: string, rule: StrRule & { required: true }): string;
  str(member: string, rule?: StrRule & { required?: false }): string | undefined;
  str(member: string, rule: StrRule & { required?: boolean } = {}): string | undefined {
    return read.str(this.body, this.name(member), rule);
  }

  int(member: string, rule: IntRule & { required: true }): number;
  int(member: string, rule: IntRule & { required?: false }): number | undefined;
  int(member: string, rule: IntRule & { required?: boolean }): number | undefined {
    return read.int(this.body, this.name(member), rule);
  }

  /** A `long` TTL: 0..2147483647. */
  long(member: string, required: true): number;
  long(member: string, required?: false): number | undefined;
  long(member: string, required = false): number | undefined {
    return read.int(this.body, this.name(member), { min: 0, max: MAX_LONG, required });
  }

  enumOf<T extends string>(member: string, values: readonly T[], required: true): T;
  enumOf<T extends string>(member: string, values: readonly T[], required?: false): T | undefined;
  enumOf<T extends string>(member: string, values: readonly T[], required = false): T | undefined {
    return read.enumOf(this.body, this.name(member), values, { required });
  }

  obj(member: string, required: true): Input;
  obj(member: string, required?: false): Input | undefined;
  obj(member: string, required = false): Input | undefined {
    const v = read.obj(this.body, this.name(member), { required });
    return v === undefined ? undefined : new Input(v, this.name(member));
  }

  /** A list; `each` reads one element (given its path) and may throw InvalidInput. */
  list<T>(member: string, rule: { min?: number; max?: number; required?: boolean }, each: (v: unknown, path: string) => T): T[] | undefined {
    const path = this.name(member);
    return read.list(this.body, path, rule)?.map((item, i) => each(item, `${path}[${i}]`));
  }

  /** A string-to-string map with per-key and per-value rules. */
  map(member: string, rule: { required?: boolean; min?: number; max?: number; key: StrRule; value: StrRule }): Record<string, string> | undefined {
    return read.map(this.body, this.name(member), rule);
  }

  /** An element of a list as an object. */
  static element(v: unknown, path: string): Input {
    return new Input(read.element(path, v), path);
  }
}

export function checkStr(path: string, v: unknown, rule: StrRule = {}): string {
  return read.checkStr(path, v, rule);
}

export function checkEnum<T extends string>(path: string, v: unknown, values: readonly T[]): T {
  return read.checkEnum(path, v, values);
}

/** Dotted-quad IPv4, as `AWS_INSTANCE_IPV4` needs (docs/compatibility.md#instances). */
export const isIpv4Address = (s: string): boolean => isIPv4(s);
export const isIpv6Address = (s: string): boolean => isIPv6(s);
/** A decimal port 1–65535 without sign, spaces or leading zeros. */
export const isPort = (s: string): boolean => /^[1-9][0-9]{0,4}$/.test(s) && Number(s) <= 65535;
/** A host name for `AWS_INSTANCE_CNAME` / `AWS_ALIAS_DNS_NAME` (trailing dot allowed). */
export const isDnsName = (s: string): boolean =>
  s.length <= 255 && /^([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/.test(s);
