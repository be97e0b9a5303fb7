import { PharosError } from '../lib/index.ts';
import { STORE_BAD_URL } from './errors.ts';
import type { KV } from './kv.ts';
import type { SqliteKVOptions } from './sqlite.ts';

/** What every backend may be given: time, logs and a metrics registry (all optional). */
export type StoreOptions = SqliteKVOptions;

/**
 * Opens the backend a store URL names: `sqlite:<path>` (default) or, later, `etcd://host:port`.
 * Backends are imported lazily so an unused one costs nothing at start.
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<KV> {
  if (typeof url === 'string' && url.startsWith('sqlite:')) {
    const { SqliteKV } = await import('./sqlite.ts');
    return SqliteKV.open(url.slice('sqlite:'.length), options);
  }
  throw new PharosError(STORE_BAD_URL, `unsupported store URL ${JSON.stringify(url)}: use sqlite:<path>`);
}
