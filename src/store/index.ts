export * from './kv.ts';
export * from './errors.ts';
export { openStore } from './open.ts';
export { SqliteKV, type SqliteKVOptions } from './sqlite.ts';
