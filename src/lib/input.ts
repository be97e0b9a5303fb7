/**
 * Typed readers for untrusted JSON request bodies, written once for every API. Each API words the
 * same violations its own way (Cloud Map: `Name: must be a string, got a list`; ECS:
 * `name must be a string.`) and raises its own error class and code, so a reader is built from
 * the API's `InputWording` and error constructor; the checks and their order are the same.
 *
 * A member is read from an object by `path`, the dotted name the caller knows it by
 * (`containerDefinitions[0].name`, `DnsConfig.DnsRecords[0].TTL`): the member is the last dotted
 * segment, the whole path goes into the message. `null` counts as absent, as AWS treats it.
 */

/** A JSON object of a request. */
export type Json = Record<string, unknown>;

/** The JSON types a member can be expected to have. */
export type JsonKind = 'string' | 'integer' | 'boolean' | 'object' | 'map' | 'list';

/** How an API words each violation; each function returns the whole message. */
export interface InputWording {
  /** The request body is not a JSON object. */
  body: string;
  required(path: string): string;
  /** `got` is the value that was there instead. */
  kind(path: string, expected: JsonKind, got: unknown): string;
  /** A string shorter than `min` / longer than `max` characters. */
  length(path: string, bound: 'min' | 'max', n: number): string;
  /** `help` is the rule's own wording of the pattern, when it has one. */
  pattern(path: string, pattern: RegExp, help: string | undefined): string;
  oneOf(path: string, values: readonly string[]): string;
  /** An integer outside [min, max] (either may be absent). */
  range(path: string, value: number, min: number | undefined, max: number | undefined): string;
  /** A list with fewer than `min` / more than `max` items (or a map with that many entries). */
  count(path: string, kind: 'list' | 'map', bound: 'min' | 'max', n: number): string;
}

/** Builds the API's error for a violation; `code` is the rule's own code, when it has one. */
export type InputError = (message: string, code: string | undefined) => Error;

interface Rule {
  required?: boolean;
  /** The error code for this member's violations, when the API uses another than its default. */
  code?: string;
}

export interface StrRule extends Rule {
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** The rule's wording of the pattern (the API's wording decides how it is shown). */
  patternHelp?: string;
  /** The allowed values, checked after the pattern. */
  oneOf?: readonly string[];
}

export interface IntRule extends Rule {
  min?: number;
  max?: number;
}

export interface ListRule extends Rule {
  min?: number;
  max?: number;
}

export interface StringsRule extends ListRule {
  /** Longest item, in characters. */
  itemMax?: number;
}

export interface MapRule extends ListRule {
  key: StrRule;
  value: StrRule;
}

type Req = { required: true };

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The member a path names: its last dotted segment. */
function memberOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? path : path.slice(dot + 1);
}

/** The first rule a value breaks, in the order they are checked (undefined: none). */
function strViolation(v: unknown, rule: StrRule): 'kind' | 'min' | 'max' | 'pattern' | 'oneOf' | undefined {
  if (typeof v !== 'string') return 'kind';
  if (rule.min !== undefined && v.length < rule.min) return 'min';
  if (rule.max !== undefined && v.length > rule.max) return 'max';
  if (rule.pattern && !rule.pattern.test(v)) return 'pattern';
  if (rule.oneOf && !rule.oneOf.includes(v)) return 'oneOf';
  return undefined;
}

/** One API's readers: its wording and its error, over the checks every API shares. */
export class InputReader {
  constructor(
    private readonly wording: InputWording,
    private readonly error: InputError,
  ) {}

  /** Throws the API's error for `message`. */
  fail(message: string, code?: string): never {
    throw this.error(message, code);
  }

  /** The body itself must be an object; `{}` is what clients send for an operation without input. */
  body(input: unknown): Json {
    if (input === undefined || input === null) return {};
    if (!isObject(input)) this.fail(this.wording.body);
    return input;
  }

  /** Whether the member `path` names is present (not absent, not null). */
  has(o: Json, path: string): boolean {
    return this.raw(o, path, {}) !== undefined;
  }

  str(o: Json, path: string, rule: StrRule & Req): string;
  str(o: Json, path: string, rule?: StrRule): string | undefined;
  str(o: Json, path: string, rule: StrRule = {}): string | undefined {
    const v = this.raw(o, path, rule);
    return v === undefined ? undefined : this.checkStr(path, v, rule);
  }

  int(o: Json, path: string, rule: IntRule & Req): number;
  int(o: Json, path: string, rule?: IntRule): number | undefined;
  int(o: Json, path: string, rule: IntRule = {}): number | undefined {
    const v = this.raw(o, path, rule);
    return v === undefined ? undefined : this.checkInt(path, v, rule);
  }

  bool(o: Json, path: string, rule: Rule = {}): boolean | undefined {
    const v = this.raw(o, path, rule);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(this.wording.kind(path, 'boolean', v), rule.code);
    return v;
  }

  /** A string from a fixed set (a non-string is reported as not one of them). */
  enumOf<T extends string>(o: Json, path: string, values: readonly T[], rule: Rule & Req): T;
  enumOf<T extends string>(o: Json, path: string, values: readonly T[], rule?: Rule): T | undefined;
  enumOf<T extends string>(o: Json, path: string, values: readonly T[], rule: Rule = {}): T | undefined {
    const v = this.raw(o, path, rule);
    return v === undefined ? undefined : this.checkEnum(path, v, values, rule.code);
  }

  obj(o: Json, path: string, rule: Rule & Req): Json;
  obj(o: Json, path: string, rule?: Rule): Json | undefined;
  obj(o: Json, path: string, rule: Rule = {}): Json | undefined {
    const v = this.raw(o, path, rule);
    return v === undefined ? undefined : this.element(path, v, rule.code);
  }

  list(o: Json, path: string, rule: ListRule & Req): unknown[];
  list(o: Json, path: string, rule?: ListRule): unknown[] | undefined;
  list(o: Json, path: string, rule: ListRule = {}): unknown[] | undefined {
    const v = this.raw(o, path, rule);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) this.fail(this.wording.kind(path, 'list', v), rule.code);
    this.checkCount(path, 'list', v.length, rule);
    return v;
  }

  /** A list whose items are all objects. */
  objects(o: Json, path: string, rule: ListRule = {}): Json[] | undefined {
    return this.list(o, path, rule)?.map((item, i) => this.element(`${path}[${i}]`, item, rule.code));
  }

  /** A list whose items are all strings. */
  strings(o: Json, path: string, rule: StringsRule = {}): string[] | undefined {
    return this.list(o, path, rule)?.map((item, i) => this.checkStr(`${path}[${i}]`, item, { max: rule.itemMax, code: rule.code }));
  }

  /** A string-to-string map with per-key and per-value rules (keys are checked as `<path> key`). */
  map(o: Json, path: string, rule: MapRule): Record<string, string> | undefined {
    const v = this.raw(o, path, rule);
    if (v === undefined) return undefined;
    if (!isObject(v)) this.fail(this.wording.kind(path, 'map', v), rule.code);
    const entries = Object.entries(v);
    // A `__proto__` key is kept as data (no prototype to set) in an object without a prototype.
    // Otherwise a plain object: V8 keeps prototype-less objects as dictionaries, which every later
    // read, copy and JSON.stringify of the map (a registration's attributes) walks slowly.
    const out = (entries.some(([k]) => k === '__proto__') ? Object.create(null) : {}) as Record<string, string>;
    let n = 0;
    for (const [k, val] of entries) {
      // An entry's paths are built only for a message: two new strings per entry cost more than its checks.
      if (strViolation(k, rule.key) !== undefined) this.checkStr(`${path} key`, k, rule.key);
      if (strViolation(val, rule.value) !== undefined) this.checkStr(`${path}.${k}`, val, rule.value);
      out[k] = val as string;
      n++;
    }
    this.checkCount(path, 'map', n, rule);
    return out;
  }

  /** A value (a list item, a map value) as a string under `rule`. */
  checkStr(path: string, v: unknown, rule: StrRule = {}): string {
    const w = this.wording;
    switch (strViolation(v, rule)) {
      case undefined:
        return v as string;
      case 'kind':
        return this.fail(w.kind(path, 'string', v), rule.code);
      case 'min':
        return this.fail(w.length(path, 'min', rule.min!), rule.code);
      case 'max':
        return this.fail(w.length(path, 'max', rule.max!), rule.code);
      case 'pattern':
        return this.fail(w.pattern(path, rule.pattern!, rule.patternHelp), rule.code);
      case 'oneOf':
        return this.fail(w.oneOf(path, rule.oneOf!), rule.code);
    }
  }

  checkInt(path: string, v: unknown, rule: IntRule = {}): number {
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(this.wording.kind(path, 'integer', v), rule.code);
    if ((rule.min !== undefined && v < rule.min) || (rule.max !== undefined && v > rule.max)) this.fail(this.wording.range(path, v, rule.min, rule.max), rule.code);
    return v;
  }

  checkEnum<T extends string>(path: string, v: unknown, values: readonly T[], code?: string): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(this.wording.oneOf(path, values), code);
    return v as T;
  }

  /** A value (a list item) as an object. */
  element(path: string, v: unknown, code?: string): Json {
    if (!isObject(v)) this.fail(this.wording.kind(path, 'object', v), code);
    return v;
  }

  private raw(o: Json, path: string, rule: Rule): unknown {
    const member = memberOf(path);
    const v = Object.prototype.hasOwnProperty.call(o, member) ? o[member] : undefined;
    if (v === undefined || v === null) {
      if (rule.required) this.fail(this.wording.required(path), rule.code);
      return undefined;
    }
    return v;
  }

  private checkCount(path: string, kind: 'list' | 'map', n: number, rule: ListRule): void {
    if (rule.min !== undefined && n < rule.min) this.fail(this.wording.count(path, kind, 'min', rule.min), rule.code);
    if (rule.max !== undefined && n > rule.max) this.fail(this.wording.count(path, kind, 'max', rule.max), rule.code);
  }
}

/** How a message names the kind of a value it did not expect (`got a list`). */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : typeof v;
}
