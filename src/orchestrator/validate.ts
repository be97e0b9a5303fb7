import { PharosError } from '../lib/index.ts';
import { INVALID_PARAMETER } from './errors.ts';

/**
 * Readers for untrusted JSON bodies. Each returns the typed value or throws a PharosError (by default
 * InvalidParameterException) whose message names the field, so no malformed body ever reaches the
 * domain code. `path` is the field's dotted name as the caller would know it (`containerDefinitions[0].name`).
 */
export type Json = Record<string, unknown>;

interface Common {
  required?: boolean;
  /** Error code for violations (ECS uses ClientException for some fields). */
  code?: string;
}

function fail(code: string | undefined, message: string): never {
  throw new PharosError(code ?? INVALID_PARAMETER, message);
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The body itself must be an object; `{}` is what clients send for an operation without input. */
export function body(input: unknown): Json {
  if (input === undefined || input === null) return {};
  if (!isObject(input)) fail(undefined, 'The request body must be a JSON object.');
  return input;
}

export function str(o: Json, path: string, opts: Common & { min?: number; max?: number; pattern?: RegExp; patternHelp?: string; oneOf?: readonly string[] } = {}): string | undefined {
  const key = lastSegment(path);
  const v = o[key];
  if (v === undefined || v === null) {
    if (opts.required) fail(opts.code, `${path} must be provided.`);
    return undefined;
  }
  if (typeof v !== 'string') fail(opts.code, `${path} must be a string.`);
  if (opts.min !== undefined && v.length < opts.min) fail(opts.code, `${path} must be at least ${opts.min} characters long.`);
  if (opts.max !== undefined && v.length > opts.max) fail(opts.code, `${path} must be at most ${opts.max} characters long.`);
  if (opts.pattern && !opts.pattern.test(v)) fail(opts.code, `${path} ${opts.patternHelp ?? 'has an invalid format.'}`);
  if (opts.oneOf && !opts.oneOf.includes(v)) fail(opts.code, `${path} must be one of ${opts.oneOf.join(', ')}.`);
  return v;
}

export function int(o: Json, path: string, opts: Common & { min?: number; max?: number } = {}): number | undefined {
  const v = o[lastSegment(path)];
  if (v === undefined || v === null) {
    if (opts.required) fail(opts.code, `${path} must be provided.`);
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(opts.code, `${path} must be an integer.`);
  if (opts.min !== undefined && v < opts.min) fail(opts.code, `${path} must be at least ${opts.min}.`);
  if (opts.max !== undefined && v > opts.max) fail(opts.code, `${path} must be at most ${opts.max}.`);
  return v;
}

export function bool(o: Json, path: string, opts: Common = {}): boolean | undefined {
  const v = o[lastSegment(path)];
  if (v === undefined || v === null) {
    if (opts.required) fail(opts.code, `${path} must be provided.`);
    return undefined;
  }
  if (typeof v !== 'boolean') fail(opts.code, `${path} must be a boolean.`);
  return v;
}

export function obj(o: Json, path: string, opts: Common = {}): Json | undefined {
  const v = o[lastSegment(path)];
  if (v === undefined || v === null) {
    if (opts.required) fail(opts.code, `${path} must be provided.`);
    return undefined;
  }
  if (!isObject(v)) fail(opts.code, `${path} must be an object.`);
  return v;
}

export function arr(o: Json, path: string, opts: Common & { min?: number; max?: number } = {}): unknown[] | undefined {
  const v = o[lastSegment(path)];
  if (v === undefined || v === null) {
    if (opts.required) fail(opts.code, `${path} must be provided.`);
    return undefined;
  }
  if (!Array.isArray(v)) fail(opts.code, `${path} must be a list.`);
  if (opts.min !== undefined && v.length < opts.min) fail(opts.code, `${path} must contain at least ${opts.min} item(s).`);
  if (opts.max !== undefined && v.length > opts.max) fail(opts.code, `${path} must contain at most ${opts.max} item(s).`);
  return v;
}

/** A list whose items are all objects. */
export function objects(o: Json, path: string, opts: Common & { min?: number; max?: number } = {}): Json[] | undefined {
  const list = arr(o, path, opts);
  if (!list) return undefined;
  return list.map((item, i) => {
    if (!isObject(item)) fail(opts.code, `${path}[${i}] must be an object.`);
    return item;
  });
}

/** A list whose items are all strings. */
export function strings(o: Json, path: string, opts: Common & { min?: number; max?: number; itemMax?: number } = {}): string[] | undefined {
  const list = arr(o, path, opts);
  if (!list) return undefined;
  return list.map((item, i) => {
    if (typeof item !== 'string') fail(opts.code, `${path}[${i}] must be a string.`);
    if (opts.itemMax !== undefined && item.length > opts.itemMax) fail(opts.code, `${path}[${i}] must be at most ${opts.itemMax} characters long.`);
    return item;
  });
}

function lastSegment(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? path : path.slice(dot + 1);
}
