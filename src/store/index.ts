export * from './kv.ts';
export * from './errors.ts';
export { openStore, type StoreOptions } from './open.ts';
export { SqliteKV, type SqliteKVOptions } from './sqlite.ts';
export { Compactor, COMPACT_INTERVAL_MS, COMPACT_KEEP_REVISIONS, type CompactorOptions } from './compactor.ts';
export { MAX_CAS_ATTEMPTS, isConflict, retryOnConflict } from './cas.ts';
