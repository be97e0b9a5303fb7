import { InvalidArgumentError, StoreClosedError } from './errors.ts';
import type { TxnOp } from './kv.ts';

/** etcd's default request limit is 1.5 MiB; values are JSON records far smaller than this. */
const MAX_VALUE_BYTES = 1024 * 1024;
/** Keys are paths built from ids; anything longer is a bug or an attack. */
const MAX_KEY_BYTES = 4096;
/** Largest page a `list` may ask for; larger lists page with `after`. Unlimited when no limit is given. */
const MAX_LIST_LIMIT = 1_000_000;
/** etcd's default `--max-txn-ops`: a txn with more ops is refused by etcd, so by every backend. */
export const MAX_TXN_OPS = 128;
/** Up to this many ops, a txn's keys are checked for repeats pairwise (no set to build). */
const SMALL_TXN_OPS = 8;
/** The upper bound of a prefix range: U+10FFFF sorts after every character a key can hold. */
export const PREFIX_END = '\u{10FFFF}';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Every key that could fail the checks below holds one of these (PREFIX_END is a surrogate pair): one scan for the usual key. */
const SUSPECT = /[\0\uD800-\uDFFF]/;

/** Rejects keys no backend can store and read back identically. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgumentError('key must be a non-empty string', { key });
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidArgumentError(`key longer than ${MAX_KEY_BYTES} bytes`);
  // Stored keys must read back identical (no lone surrogates), and PREFIX_END must sort after
  // every key, so a range scan and the in-memory startsWith agree.
  if (SUSPECT.test(key) && (LONE_SURROGATE.test(key) || key.includes('\0') || key.includes(PREFIX_END))) {
    throw new InvalidArgumentError('key holds a NUL, U+10FFFF or an unpaired surrogate', { key });
  }
}

function checkOp(op: TxnOp): void {
  if (op === null || typeof op !== 'object' || (op.type !== 'put' && op.type !== 'delete' && op.type !== 'check')) {
    throw new InvalidArgumentError('txn op must be {type: "put" | "delete" | "check", key, ...}');
  }
  checkKey(op.key);
  if (op.type === 'check' && op.prevRevision === undefined) throw new InvalidArgumentError('a check op needs prevRevision', { key: op.key });
  if (op.prevRevision !== undefined && (!Number.isInteger(op.prevRevision) || op.prevRevision < 0)) {
    throw new InvalidArgumentError('prevRevision must be an integer >= 0', { key: op.key, prevRevision: op.prevRevision });
  }
  if (op.type === 'put') {
    if (typeof op.value !== 'string') throw new InvalidArgumentError('value must be a string', { key: op.key });
    if (op.lease !== undefined && (typeof op.lease !== 'string' || !/^[1-9]\d{0,19}$/.test(op.lease))) throw new InvalidArgumentError('lease must be a lease id (decimal)', { key: op.key });
    if (op.value.length > MAX_VALUE_BYTES / 3 && Buffer.byteLength(op.value) > MAX_VALUE_BYTES) {
      throw new InvalidArgumentError(`value larger than ${MAX_VALUE_BYTES} bytes`, { key: op.key });
    }
  }
}

/**
 * Checks a write's ops and copies them (a caller that reuses its objects must not change the write).
 * A key may appear once per txn: etcd refuses duplicates, and with one op per key every guard is
 * checked against the state before the txn on every backend.
 */
export function checkOps(ops: unknown): TxnOp[] {
  if (!Array.isArray(ops)) throw new InvalidArgumentError('txn ops must be an array');
  if (ops.length > MAX_TXN_OPS) throw new InvalidArgumentError(`a txn holds at most ${MAX_TXN_OPS} ops`, { ops: ops.length });
  const copies: TxnOp[] = [];
  // A set for long txns; a registration's two or three keys are compared pairwise.
  const seen = ops.length > SMALL_TXN_OPS ? new Set<string>() : undefined;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as TxnOp;
    checkOp(op);
    if (seen ? seen.has(op.key) : keyIn(copies, i, op.key)) throw new InvalidArgumentError('a key may appear only once in a txn', { key: op.key });
    seen?.add(op.key);
    copies.push({ ...op });
  }
  return copies;
}

/** Whether one of the first `n` ops has `key`. */
function keyIn(ops: TxnOp[], n: number, key: string): boolean {
  for (let i = 0; i < n; i++) if (ops[i]!.key === key) return true;
  return false;
}

/** Checks `list` arguments; returns the limit (-1 = none). */
export function checkList(prefix: unknown, after: unknown, limit: unknown): number {
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix must be a string');
  if (after !== undefined && typeof after !== 'string') throw new InvalidArgumentError('after must be a string');
  if (limit === undefined) return -1;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIST_LIMIT) {
    throw new InvalidArgumentError(`limit must be an integer in [1, ${MAX_LIST_LIMIT}]`, { limit });
  }
  return limit as number;
}

/** Checks a revision argument (update guards, compaction). */
export function checkRevision(name: string, revision: unknown): asserts revision is number {
  if (!Number.isInteger(revision) || (revision as number) < 0) throw new InvalidArgumentError(`${name} must be an integer >= 0`, { [name]: revision });
}

/** Why a watch cannot start (a closed store, bad arguments), or undefined; reported through `onError`. */
export function watchRefusal(closed: boolean, prefix: unknown, afterRevision: unknown, onEvents: unknown): Error | undefined {
  if (closed) return new StoreClosedError();
  if (typeof prefix !== 'string' || !Number.isInteger(afterRevision) || (afterRevision as number) < 0 || typeof onEvents !== 'function') {
    return new InvalidArgumentError('watch needs a string prefix, a revision >= 0 and a listener', { prefix, afterRevision });
  }
  return undefined;
}
