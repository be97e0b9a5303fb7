export * from './kv.ts';
export * from './errors.ts';
export { openStore } from './open.ts';
