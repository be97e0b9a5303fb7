import { PharosError } from '../lib/index.ts';
import { STORE_BAD_URL } from './errors.ts';
import type { KV } from './kv.ts';

/**
 * Opens the backend a store URL names: `sqlite:<path>` (default) or, later, `etcd://host:port`.
 * Backends are imported lazily so an unused one costs nothing at start.
 */
export async function openStore(url: string): Promise<KV> {
  if (url.startsWith('sqlite:')) {
    const { SqliteKV } = await import('./sqlite.ts');
    return SqliteKV.open(url.slice('sqlite:'.length));
  }
  throw new PharosError(STORE_BAD_URL, `unsupported store URL ${JSON.stringify(url)}: use sqlite:<path>`);
}
