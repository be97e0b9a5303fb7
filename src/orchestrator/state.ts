import { PharosError } from '../lib/index.ts';
import { STORE_KEY_EXISTS, retryOnConflict, type KV } from '../store/index.ts';
import { SERVER_EXCEPTION } from './errors.ts';

interface Versioned<T> {
  value: T;
  revision: number;
}

/** Returned by a `mutate` callback to leave the record as it is. */
export const UNCHANGED = Symbol('unchanged');

/**
 * Typed JSON access to the `/ecs/...` keys, with compare-and-swap read-modify-write.
 * A record that does not parse is treated as absent and reported, never thrown at a caller.
 */
export class EcsStore {
  constructor(readonly kv: KV) {}

  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    const kv = await this.kv.get(key);
    if (!kv) return undefined;
    const value = parse<T>(kv.value);
    return value === undefined ? undefined : { value, revision: kv.modRevision };
  }

  /** Every record under a prefix, in key order. */
  async list<T>(prefix: string): Promise<T[]> {
    const out: T[] = [];
    const { items } = await this.kv.list(prefix);
    for (const item of items) {
      const value = parse<T>(item.value);
      if (value !== undefined) out.push(value);
    }
    return out;
  }

  /** Creates a record; false when the key exists already. */
  async create<T>(key: string, value: T): Promise<boolean> {
    try {
      await this.kv.create(key, JSON.stringify(value));
      return true;
    } catch (err) {
      if (err instanceof PharosError && err.code === STORE_KEY_EXISTS) return false;
      throw err;
    }
  }

  async put<T>(key: string, value: T): Promise<void> {
    await this.kv.txn([{ type: 'put', key, value: JSON.stringify(value) }]);
  }

  /**
   * Read-modify-write under CAS: `fn` gets the current record (or undefined) and returns the new one,
   * `UNCHANGED`, or throws. Retried on a concurrent write. Resolves with what is stored afterwards.
   */
  async mutate<T>(key: string, fn: (current: T | undefined) => T | typeof UNCHANGED): Promise<T | undefined> {
    return retryOnConflict(async () => {
      const current = await this.get<T>(key);
      const next = fn(current?.value);
      if (next === UNCHANGED) return current?.value;
      await this.kv.txn([{ type: 'put', key, value: JSON.stringify(next), prevRevision: current?.revision ?? 0 }]);
      return next;
    }, () => new PharosError(SERVER_EXCEPTION, `too much contention updating ${key}`));
  }

  async delete(key: string): Promise<void> {
    await this.kv.txn([{ type: 'delete', key }]);
  }
}

function parse<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
