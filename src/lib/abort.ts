/** Resolves when the signal aborts (immediately if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Random delay in [0, maxMs): the first run of a loop is jittered so loops started together spread out. */
export function jitter(maxMs: number): number {
  return Math.floor(Math.random() * Math.max(0, maxMs));
}
