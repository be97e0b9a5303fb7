export * from './kv.ts';
export * from './errors.ts';
export { openStore, openCoordinator, etcdConnection, isSharedStore, type StoreOptions, type EtcdSettings } from './open.ts';
export { DEFAULT_LEASE_TTL_MS, type ClusterStatus, type Coordinator, type MemberInfo } from './coordinator.ts';
export { SqliteKV, type SqliteKVOptions } from './sqlite.ts';
export { Compactor, COMPACT_INTERVAL_MS, COMPACT_KEEP_REVISIONS, type CompactorOptions } from './compactor.ts';
export { follow, type FollowOptions } from './follow.ts';
export { fencedKV, type Fence } from './fence.ts';
export { MAX_CAS_ATTEMPTS, deleteUnchanged, isConflict, retryOnConflict } from './cas.ts';
export { MAX_TXN_OPS } from './validate.ts';
// Types only: the etcd client (gRPC) is loaded when an etcd:// store is opened, not at start.
export type { EtcdKV, EtcdConnection, EtcdKVOptions } from './etcd.ts';
