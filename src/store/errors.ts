import { PharosError } from '../lib/index.ts';

export const STORE_KEY_EXISTS = 'StoreKeyExists';
export const STORE_KEY_NOT_FOUND = 'StoreKeyNotFound';
export const STORE_REVISION_MISMATCH = 'StoreRevisionMismatch';
export const STORE_COMPACTED = 'StoreCompacted';
export const STORE_CLOSED = 'StoreClosed';
export const STORE_BAD_URL = 'StoreBadUrl';
export const STORE_FENCED = 'StoreFenced';

export class KeyExistsError extends PharosError {
  constructor(key: string) {
    super(STORE_KEY_EXISTS, `key already exists: ${key}`, { fields: { key } });
  }
}
export class KeyNotFoundError extends PharosError {
  constructor(key: string) {
    super(STORE_KEY_NOT_FOUND, `key not found: ${key}`, { fields: { key } });
  }
}
export class RevisionMismatchError extends PharosError {
  constructor(key: string, expected: number, actual: number) {
    super(STORE_REVISION_MISMATCH, `revision mismatch on ${key}: expected ${expected}, found ${actual}`, {
      fields: { key, expected, actual },
    });
  }
}
export class CompactedError extends PharosError {
  constructor(requested: number, compacted: number) {
    super(STORE_COMPACTED, `revision ${requested} has been compacted (compacted through ${compacted})`);
  }
}
export class StoreClosedError extends PharosError {
  constructor() {
    super(STORE_CLOSED, 'store is closed');
  }
}

export const STORE_INVALID_ARGUMENT = 'StoreInvalidArgument';
export const STORE_WRITE_FAILED = 'StoreWriteFailed';
export const STORE_LOCKED = 'StoreLocked';
export const STORE_OPEN_FAILED = 'StoreOpenFailed';
export const STORE_UNAVAILABLE = 'StoreUnavailable';

/** A malformed key, value, revision or option: the caller's fault, nothing was written. */
export class InvalidArgumentError extends PharosError {
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super(STORE_INVALID_ARGUMENT, message, { fields });
  }
}
/** The backend failed to commit (disk full, I/O error): the write may be retried. */
export class StoreWriteError extends PharosError {
  constructor(cause: unknown) {
    super(STORE_WRITE_FAILED, `store write failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
/** Another process holds the store's database file (only one process may own it). */
export class StoreLockedError extends PharosError {
  constructor(path: string, cause: unknown) {
    super(STORE_LOCKED, `store ${path} is in use by another process`, { cause, fields: { path } });
  }
}
/** The store file could not be opened or created (permissions, not a database, disk). */
export class StoreOpenError extends PharosError {
  constructor(path: string, cause: unknown) {
    super(STORE_OPEN_FAILED, `cannot open store ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, fields: { path } });
  }
}
/**
 * The store cannot be reached or has no quorum (etcd members down, partition, call timeout). For a
 * write the outcome is unknown: it may have committed. Reads from a watch-fed snapshot go on.
 */
export class StoreUnavailableError extends PharosError {
  constructor(where: string, cause: unknown) {
    super(STORE_UNAVAILABLE, `store unavailable (${where}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause, fields: { where } });
  }
}

/**
 * A leader-only write refused because this server does not lead any more (or never did): its
 * fence (the leader record's revision when it won) no longer holds. Not a conflict: retrying
 * cannot help; the new leader does the work.
 */
export class FencedError extends PharosError {
  constructor(term: number | undefined) {
    super(STORE_FENCED, term === undefined ? 'not the cluster leader: leader-only write refused' : `no longer the cluster leader (term ${term}): write refused`, { fields: { term } });
  }
}
