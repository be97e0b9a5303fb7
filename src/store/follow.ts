import type { Logger } from '../lib/index.ts';
import { STORE_COMPACTED } from './errors.ts';
import type { KV, ListResult, Watch, WatchEvent } from './kv.ts';

/** A failed re-list (the store unreachable) is tried again after this, doubling up to the max. */
const RELIST_RETRY_MS = 100;
const RELIST_RETRY_MAX_MS = 2000;

export interface FollowOptions {
  logger?: Logger;
  /** Any watch error other than compaction (which `follow` handles itself). */
  onError?: (err: Error) => void;
  /** After a re-list: the view is complete through `revision` (its differences were delivered first). */
  onResync?: (revision: number) => void;
  /**
   * The keys the caller holds under the prefix, with their modRevisions, for a caller that keeps
   * them anyway: asked at a re-list, instead of `follow` keeping its own copy of every key (a map
   * entry per key, set on every event). It must hold every key delivered and not deleted since; a
   * key the caller dropped as unusable is delivered again.
   */
  known?: () => Iterable<readonly [string, number]>;
}

/**
 * A watch that survives compaction. `kv.watch` ends with `CompactedError` when the history it
 * still had to deliver is gone (a watcher that fell behind, a server cut off from etcd while
 * another compacted); `follow` then lists the prefix again at the current revision, delivers the
 * difference from what it had delivered as one batch of events (puts for new or changed keys at
 * their own revision, deletes for keys gone at the list's revision, in revision order, without
 * `prev`), and watches on from the list's revision. Consumers converge as if they had seen the
 * history, minus the intermediate states.
 *
 * `from` is the list the caller loaded (the keys it knows, and the revision to watch after); with a
 * bare revision the caller keeps no per-key state: after a compaction it gets one empty batch
 * ("look again") and the watch goes on from the current revision.
 */
export function follow(kv: KV, prefix: string, from: ListResult | number, onEvents: (events: WatchEvent[]) => void, options: FollowOptions = {}): Watch {
  const own = typeof from === 'number' || options.known ? undefined : new Map(from.items.map((i) => [i.key, i.modRevision]));
  /** What the caller holds now (undefined: a bare revision, no per-key state). */
  const held = (): Map<string, number> | undefined => (typeof from === 'number' ? undefined : options.known ? new Map(options.known()) : own);
  let current: Watch | undefined;
  let cancelled = false;
  let retry: NodeJS.Timeout | undefined;

  const deliver = (events: WatchEvent[]): void => {
    if (own) for (const ev of events) (ev.type === 'put' ? own.set(ev.key, ev.revision) : own.delete(ev.key));
    onEvents(events);
  };
  const start = (after: number): void => {
    current = kv.watch(prefix, after, deliver, (err) => {
      if (cancelled) return;
      if ((err as { code?: string }).code !== STORE_COMPACTED) return options.onError?.(err);
      options.logger?.warn({ err, prefix }, 'store: watch history compacted; listing again');
      void resync(RELIST_RETRY_MS);
    });
  };
  const resync = async (backoff: number): Promise<void> => {
    let revision: number;
    const events: WatchEvent[] = [];
    const known = held();
    try {
      if (known) {
        const listed = await kv.list(prefix);
        revision = listed.revision;
        const live = new Set<string>();
        for (const item of listed.items) {
          live.add(item.key);
          if (known.get(item.key) !== item.modRevision) events.push({ type: 'put', key: item.key, value: item.value, revision: item.modRevision });
        }
        for (const key of known.keys()) if (!live.has(key)) events.push({ type: 'delete', key, revision });
        events.sort((a, b) => a.revision - b.revision);
      } else {
        revision = await kv.revision();
      }
    } catch (err) {
      if (cancelled) return;
      options.logger?.warn({ err, prefix }, 'store: listing again after compaction failed; retrying');
      retry = setTimeout(() => void resync(Math.min(backoff * 2, RELIST_RETRY_MAX_MS)), backoff);
      return;
    }
    if (cancelled) return;
    try {
      if (events.length > 0 || !known) deliver(events);
      options.onResync?.(revision);
    } catch (err) {
      options.logger?.error({ err, prefix }, 'store: watch listener threw on the re-listed changes');
    }
    start(revision);
  };

  start(typeof from === 'number' ? from : from.revision);
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(retry);
      current?.cancel();
    },
  };
}
