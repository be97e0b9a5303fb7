import { isPharosError, jitter, systemClock, type Clock, type Logger } from '../lib/index.ts';
import { STORE_CLOSED } from './errors.ts';
import type { KV } from './kv.ts';

/**
 * History kept behind the head. A watcher that fell behind (a slow consumer, a node restarting its
 * snapshot) can resume from any of these revisions instead of relisting; at a few hundred writes/s
 * that is minutes of history, and 10k rows cost a few MB.
 */
export const COMPACT_KEEP_REVISIONS = 10_000;
/** How often the compactor runs: history grows by at most one interval of writes past the bound. */
export const COMPACT_INTERVAL_MS = 60_000;

export interface CompactorOptions {
  keepRevisions?: number;
  intervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Stops the loop when aborted (same as `stop()`). */
  signal?: AbortSignal;
}

/**
 * Keeps the store's history bounded: every interval (the first one jittered, so servers started
 * together do not compact together) it compacts everything older than `keepRevisions` behind the
 * head. Works on any `KV`; the SQLite backend does the deleting in small batches.
 */
export class Compactor {
  private readonly keepRevisions: number;
  private readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly logger?: Logger;
  private readonly signal?: AbortSignal;
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;
  private lastCompacted = 0;

  constructor(
    private readonly kv: Pick<KV, 'revision' | 'compact'>,
    options: CompactorOptions = {},
  ) {
    this.keepRevisions = options.keepRevisions ?? COMPACT_KEEP_REVISIONS;
    this.intervalMs = options.intervalMs ?? COMPACT_INTERVAL_MS;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.signal = options.signal;
    if (!Number.isInteger(this.keepRevisions) || this.keepRevisions < 0) throw new RangeError('keepRevisions must be an integer >= 0');
    if (!(this.intervalMs > 0)) throw new RangeError('intervalMs must be > 0');
  }

  /** Starts the loop; a no-op when it already runs. */
  start(): void {
    if (this.running) return;
    if (this.signal?.aborted) return;
    const controller = new AbortController();
    this.controller = controller;
    const onOuterAbort = () => controller.abort();
    this.signal?.addEventListener('abort', onOuterAbort, { once: true });
    this.running = this.loop(controller.signal).finally(() => {
      this.signal?.removeEventListener('abort', onOuterAbort);
    });
  }

  /** Stops the loop and waits for a compaction in progress to finish; safe to call repeatedly. */
  async stop(): Promise<void> {
    this.controller?.abort();
    const running = this.running;
    if (running) {
      await running;
      if (this.running === running) this.running = undefined;
    }
  }

  /** Compacts once, now; resolves with the revision compacted to (undefined when there was nothing to do). */
  async runOnce(): Promise<number | undefined> {
    const head = await this.kv.revision();
    const target = head - this.keepRevisions;
    if (target <= this.lastCompacted) return undefined;
    const started = this.clock.now();
    await this.kv.compact(target);
    this.lastCompacted = target;
    this.logger?.debug({ revision: target, ms: this.clock.now() - started }, 'store compacted');
    return target;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let delay = jitter(this.intervalMs);
    while (!signal.aborted) {
      try {
        await this.clock.sleep(delay, signal);
      } catch {
        return; // aborted
      }
      delay = this.intervalMs;
      try {
        await this.runOnce();
      } catch (err) {
        if (isPharosError(err, STORE_CLOSED)) return;
        // Compaction is housekeeping: a failed run is retried next interval, never fatal.
        this.logger?.warn({ err }, 'store compaction failed');
      }
    }
  }
}
