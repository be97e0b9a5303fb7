import { HealthConfigError } from './errors.ts';

interface Waiter {
  grant: () => void;
  cancelled: boolean;
}

/**
 * A counting semaphore with a FIFO queue, so thousands of checkers share a fixed number of probe
 * slots (sockets, children) instead of opening them all at once. Waiting can be aborted.
 */
export class Semaphore {
  private active = 0;
  private queue: Waiter[] = [];
  private head = 0;
  private cancelled = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new HealthConfigError(`the probe cap must be a positive integer, got ${limit}`);
  }

  /** Slots in use. */
  get inUse(): number {
    return this.active;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.queue.length - this.head - this.cancelled;
  }

  /** Resolves with a slot; rejects with the signal's reason if aborted while waiting. Call `release()` once after. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.limit && this.waiting === 0) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        cancelled: false,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        waiter.cancelled = true;
        this.cancelled++;
        reject(signal!.reason);
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    while (this.head < this.queue.length) {
      const next = this.queue[this.head++]!;
      if (next.cancelled) {
        this.cancelled--;
        continue;
      }
      this.compact();
      next.grant(); // the slot passes straight to the next waiter
      return;
    }
    this.compact();
    this.active = Math.max(0, this.active - 1);
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
