import { isPharosError } from '../lib/index.ts';
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
