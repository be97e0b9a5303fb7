import { isPharosError } from '../lib/index.ts';
import type { KV } from './kv.ts';
import { STORE_KEY_EXISTS, STORE_KEY_NOT_FOUND, STORE_REVISION_MISMATCH } from './errors.ts';

/**
 * How often one read-modify-write is retried after losing a compare-and-swap race before giving
 * up: contention on one record is a handful of writers at most, so 20 losses in a row means a bug
 * or a storm, and the caller is better told than left spinning.
 */
export const MAX_CAS_ATTEMPTS = 20;

/** Whether `err` is a lost compare-and-swap race (the record changed, appeared or went meanwhile). */
export const isConflict = (err: unknown): boolean =>
  isPharosError(err, STORE_REVISION_MISMATCH) || isPharosError(err, STORE_KEY_EXISTS) || isPharosError(err, STORE_KEY_NOT_FOUND);

/**
 * The one compare-and-swap loop over the store: runs `attempt` (read, decide, write with
 * `prevRevision`) again each time it loses a race, at most `MAX_CAS_ATTEMPTS` times, then throws
 * what `exhausted` builds. Any other error goes to the caller at once.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, exhausted: () => Error): Promise<T> {
  for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
  throw exhausted();
}

/**
 * Deletes each key only if it is still at the revision it was read at, `batchSize` per txn (at most
 * the store's MAX_TXN_OPS). A batch in which one key changed meanwhile is skipped whole: the sweeps
 * that use this run again later and take the rest. Returns how many were deleted.
 */
export async function deleteUnchanged(kv: KV, items: readonly { key: string; modRevision: number }[], batchSize: number): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < items.length; i += batchSize) {
    const batch = items.slice(i, i + batchSize);
    try {
      await kv.txn(batch.map((it) => ({ type: 'delete', key: it.key, prevRevision: it.modRevision })));
      deleted += batch.length;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
  return deleted;
}
