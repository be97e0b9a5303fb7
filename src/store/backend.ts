/**
 * What both backends share: the four `KV` write calls as queued writes, the queue flushed once per
 * event-loop turn (group commit: writes issued in one turn can share one commit), and a watcher's
 * record and delivery (a throwing listener is logged, counted and told, and keeps its watch).
 */
import type { Logger } from '../lib/index.ts';
import { StoreClosedError } from './errors.ts';
import type { TxnOp, WatchEvent } from './kv.ts';
import type { CommonStoreMetrics } from './metrics.ts';
import { checkOps } from './validate.ts';

type WriteKind = 'create' | 'update' | 'delete' | 'txn';

export interface QueuedWrite {
  ops: TxnOp[];
  /** How a single-op write reports a failed guard (create → KeyExists, delete → KeyNotFound). */
  kind: WriteKind;
  resolve: (revision: number) => void;
  reject: (err: Error) => void;
}

/**
 * The write calls of `KV`, each one queued write. A backend says when it is closed and commits what
 * `take` gives it in `flush`, which runs on `setImmediate` after the first write of a turn is queued.
 */
export abstract class QueuedWrites {
  private readonly queue: QueuedWrite[] = [];
  private flushScheduled = false;

  create(key: string, value: string): Promise<number> {
    return this.enqueue('create', [{ type: 'put', key, value, prevRevision: 0 }]);
  }

  update(key: string, value: string, prevRevision: number): Promise<number> {
    return this.enqueue('update', [{ type: 'put', key, value, prevRevision }]);
  }

  delete(key: string, prevRevision?: number): Promise<number> {
    return this.enqueue('delete', [{ type: 'delete', key, prevRevision }]);
  }

  txn(ops: TxnOp[]): Promise<number> {
    return this.enqueue('txn', ops);
  }

  /** True once the store refuses new writes (`StoreClosed`). */
  protected abstract get writesClosed(): boolean;

  /** Commits some of the queued writes (`take`) and settles them. */
  protected abstract flush(): void;

  /** Writes waiting for a flush. */
  protected get queued(): number {
    return this.queue.length;
  }

  /**
   * Takes writes from the front of the queue, in order, while `fits` accepts the next one (at most
   * `max`; `taken` is how many are already in); schedules another flush for what is left.
   */
  protected take(max: number, fits: (w: QueuedWrite, taken: number) => boolean = () => true): QueuedWrite[] {
    let n = 0;
    while (n < this.queue.length && n < max && fits(this.queue[n]!, n)) n++;
    const batch = this.queue.splice(0, n);
    if (this.queue.length > 0) this.scheduleFlush();
    return batch;
  }

  /** Puts writes back at the front of the queue (a batch to retry), in their order. */
  protected putBack(writes: QueuedWrite[]): void {
    this.queue.unshift(...writes);
    this.scheduleFlush();
  }

  protected scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every write issued in this turn joins the same commit.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private enqueue(kind: WriteKind, ops: TxnOp[]): Promise<number> {
    if (this.writesClosed) return Promise.reject(new StoreClosedError());
    let copied: TxnOp[];
    try {
      copied = checkOps(ops);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ ops: copied, kind, resolve, reject });
      this.scheduleFlush();
    });
  }
}

/** What every backend keeps per watch. */
export interface WatcherRecord {
  /** The caller's prefix. */
  prefix: string;
  /** Every event with revision <= delivered has been handed to this watcher (or did not match it). */
  delivered: number;
  cancelled: boolean;
  onEvents: (events: WatchEvent[]) => void;
  onError?: (err: Error) => void;
}

/**
 * Hands events to a watcher. A listener that throws must not break the commit path or other
 * watchers: it is logged, counted and told through its `onError`, and keeps its watch.
 */
export function deliverEvents(w: WatcherRecord, events: WatchEvent[], logger?: Logger, metrics?: CommonStoreMetrics): void {
  try {
    w.onEvents(events);
  } catch (err) {
    metrics?.listenerErrors.inc();
    logger?.error({ err, prefix: w.prefix }, 'store: watch listener threw');
    try {
      w.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // The error handler failing too must not break delivery to others.
    }
  }
}

/** Tells a watcher its watch failed; a throwing error handler is logged. */
export function reportWatchError(w: WatcherRecord, err: Error, logger?: Logger): void {
  try {
    w.onError?.(err);
  } catch (e) {
    logger?.error({ err: e }, 'store: watch error handler threw');
  }
}
