/**
 * The store contract: a kine-shaped key-value log. Every write gets a new global revision; updates
 * are compare-and-swap on a key's `modRevision`; watchers see every change after a revision, in
 * order. Keys are paths (`/ns/<id>`), values are JSON text.
 *
 * Backends: SQLite (default, `sqlite:<path>`) and etcd (`etcd://host:port[,...]`). Both must pass
 * `conformance.ts`.
 * @see https://github.com/k3s-io/kine (pkg/server/types.go) for the shape.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created this key (since its last deletion). */
  createRevision: number;
  /** Revision of the last write to this key. */
  modRevision: number;
}

/** One write inside an atomic `txn`. */
export type TxnOp =
  | {
      type: 'put';
      key: string;
      value: string;
      /** CAS guard: 0 = key must not exist; n = key's modRevision must be n; undefined = unconditional. */
      prevRevision?: number;
      /**
       * A store lease (etcd's lease id, decimal): the key goes when the lease expires. Only stores
       * shared by several servers have leases; SQLite keeps the key until it is deleted.
       */
      lease?: string;
      /**
       * What `value` was serialized from, when the writer has it. A backend that publishes its own
       * writes in-process (SQLite) hands it to watchers as `WatchEvent.object`, who then need not
       * parse `value` back; etcd's watchers get their events off the wire and never see it. The
       * writer must not change it afterwards.
       */
      object?: unknown;
    }
  | {
      type: 'delete';
      key: string;
      /** CAS guard: n = key's modRevision must be n; undefined = delete if present (no error if absent). */
      prevRevision?: number;
    }
  | {
      /** A guard that writes nothing: the txn commits only if the key's modRevision is `prevRevision` (0 = absent). Fencing. */
      type: 'check';
      key: string;
      prevRevision: number;
    };

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value (put) — absent for deletes. */
  value?: string;
  /**
   * Revision of the write. A txn's ops get revisions after the previous write's and at most the
   * txn's own, in op order: one shared revision (etcd) or consecutive ones (SQLite); do not rely on
   * either. One txn's events arrive in one batch.
   */
  revision: number;
  /** The value before this write, if the key existed. */
  prev?: KeyValue;
  /** Wall-clock milliseconds when the write committed, when the backend knows it (propagation metrics). */
  committedAt?: number;
  /**
   * A put's value as the writer's object (`TxnOp.object`), when this process wrote it and the
   * backend publishes in-process: equal to `JSON.parse(value)` for JSON values. Shared with the
   * writer and every watcher: read-only.
   */
  object?: unknown;
}

export interface ListResult {
  /** The store revision the list was read at. */
  revision: number;
  items: KeyValue[];
}

export interface ListOptions {
  /** Only keys strictly greater than this (pagination). */
  after?: string;
  limit?: number;
}

export interface Watch {
  /** Stops delivery; safe to call more than once. */
  cancel(): void;
}

export interface KV {
  get(key: string): Promise<KeyValue | undefined>;
  /** Live keys with the prefix, in key order. */
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  /** Creates a key; `KeyExistsError` if it exists. Resolves with the new revision once durable. */
  create(key: string, value: string): Promise<number>;
  /** Replaces a key's value if its modRevision is `prevRevision`; else `RevisionMismatchError`. */
  update(key: string, value: string, prevRevision: number): Promise<number>;
  /** Deletes a key (CAS when `prevRevision` given); `KeyNotFoundError` if absent. */
  delete(key: string, prevRevision?: number): Promise<number>;
  /**
   * Applies all ops atomically (one commit), or none of them: a failed guard rejects with
   * `RevisionMismatchError` / `KeyExistsError`. Guards are checked against the state before the txn;
   * a key may appear once per txn, at most `MAX_TXN_OPS` ops (etcd's limits). Resolves with the
   * txn's revision (the highest it wrote) once durable and seen by this handle's watchers.
   */
  txn(ops: TxnOp[]): Promise<number>;
  /**
   * Delivers, in revision order, every change to keys under `prefix` with revision > `afterRevision`:
   * first the history still in the log, then live events. `CompactedError` (via `onError`) if that
   * history has been compacted away.
   */
  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watch;
  /** The current (latest committed) revision. */
  revision(): Promise<number>;
  /** Drops history (superseded values, tombstones) at or below `revision`. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
