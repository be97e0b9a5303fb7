import { isPharosError } from '../lib/index.ts';
import { FencedError, KeyNotFoundError, STORE_REVISION_MISMATCH } from './errors.ts';
import type { KV, TxnOp } from './kv.ts';

/** The guard a leader's writes carry: its leader record must still be the one it created. */
export interface Fence {
  /** The check op(s) to add to a write; throws `FencedError` when this server does not lead. None when fencing is moot (SQLite: one process). */
  fence(): TxnOp[];
  /** The term the ops guard, for the error. */
  term(): number | undefined;
}

/**
 * The store as the leader-only work (health checker, ECS scheduler and supervisor) writes to it:
 * every write is a txn that also checks the fence, so a deposed leader's late write (after a GC
 * pause, a partition it has not noticed yet) is refused with `FencedError` instead of overwriting
 * what the new leader decided. Reads and watches go straight to `kv`.
 */
export function fencedKV(kv: KV, fence: Fence): KV {
  const write = async (ops: TxnOp[]): Promise<number> => {
    const guard = fence.fence();
    if (guard.length === 0) return kv.txn(ops);
    try {
      return await kv.txn([...ops, ...guard]);
    } catch (err) {
      if (isPharosError(err, STORE_REVISION_MISMATCH) && guard.some((g) => g.key === (err as { fields: { key?: string } }).fields.key)) throw new FencedError(fence.term());
      throw err;
    }
  };
  return {
    get: (key) => kv.get(key),
    list: (prefix, options) => kv.list(prefix, options),
    watch: (prefix, after, onEvents, onError) => kv.watch(prefix, after, onEvents, onError),
    revision: () => kv.revision(),
    compact: (revision) => kv.compact(revision),
    close: () => kv.close(),
    txn: write,
    create: (key, value) => write([{ type: 'put', key, value, prevRevision: 0 }]),
    update: (key, value, prevRevision) => write([{ type: 'put', key, value, prevRevision }]),
    delete: async (key, prevRevision) => {
      if (prevRevision !== undefined) return write([{ type: 'delete', key, prevRevision }]);
      // In a txn an unguarded delete of a missing key is a no-op; `delete` promises KeyNotFound.
      const cur = await kv.get(key);
      if (!cur) throw new KeyNotFoundError(key);
      return write([{ type: 'delete', key, prevRevision: cur.modRevision }]);
    },
  };
}
