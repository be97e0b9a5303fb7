import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, createMetricsRegistry, eventually, isPharosError } from '../lib/index.ts';
import { HEALTH_INVALID_CONFIG } from './errors.ts';
import { Checker, INTERVAL_JITTER_FRACTION } from './checker.ts';
import { HealthMetrics } from './metrics.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { Semaphore } from './semaphore.ts';

/** A probe driven by the test: records when it ran; answers at once or when released. */
class ScriptedProbe implements Probe {
  readonly type = 'TEST';
  readonly target = 'scripted';
  readonly startedAt: number[] = [];
  running = 0;
  maxRunning = 0;
  blocking = false;
  private waiting: (() => void)[] = [];
  constructor(private readonly clock: ManualClock) {}
  async check(signal?: AbortSignal): Promise<ProbeResult> {
    this.startedAt.push(this.clock.now());
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.blocking) {
        await new Promise<void>((resolve) => {
          this.waiting.push(resolve);
          signal?.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      return { ok: !signal?.aborted, reason: signal?.aborted ? 'aborted' : 'fine', cause: signal?.aborted ? 'aborted' : 'ok', latencyMs: 0 };
    } finally {
      this.running--;
    }
  }
  get waitingCount(): number {
    return this.waiting.length;
  }
  releaseAll(): void {
    for (const r of this.waiting.splice(0)) r();
  }
}

describe('Checker', () => {
  test('first run is jittered within one interval, then every interval ± jitter', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const probes: ScriptedProbe[] = [];
    const checkers: Checker[] = [];
    for (let i = 0; i < 20; i++) {
      const probe = new ScriptedProbe(clock);
      probes.push(probe);
      checkers.push(new Checker({ probe, intervalMs: 1000, onResult: () => {}, clock }));
    }
    for (const c of checkers) c.start();
    await clock.advance(10_000);
    const firsts = probes.map((p) => p.startedAt[0]! - t0);
    for (const f of firsts) assert.ok(f >= 0 && f < 1000, `first run at ${f}`);
    assert.ok(new Set(firsts).size > 1, 'first runs are spread out');
    for (const p of probes) {
      assert.ok(p.startedAt.length >= 9 && p.startedAt.length <= 11, `ran ${p.startedAt.length} times in 10 intervals`);
      for (let i = 1; i < p.startedAt.length; i++) {
        const gap = p.startedAt[i]! - p.startedAt[i - 1]!;
        assert.ok(Math.abs(gap - 1000) <= 1000 * INTERVAL_JITTER_FRACTION + 1, `gap ${gap}`);
      }
    }
    await Promise.all(checkers.map((c) => c.stop()));
    assert.equal(clock.pending, 0, 'no timers left');
  });

  test('results reach onResult in order', async () => {
    const clock = new ManualClock();
    const seen: string[] = [];
    const probe = new ScriptedProbe(clock);
    const c = new Checker({ probe, intervalMs: 100, firstDelayMs: 0, onResult: (r) => seen.push(r.reason), clock });
    c.start();
    await clock.advance(0);
    await clock.advance(250);
    assert.deepEqual(seen, ['fine', 'fine', 'fine']);
    assert.equal(c.probesRun, 3);
    await c.stop();
  });

  test('stop is awaitable, repeatable, aborts a probe in flight and leaves no timer', async () => {
    const clock = new ManualClock();
    const probe = new ScriptedProbe(clock);
    probe.blocking = true;
    const results: ProbeResult[] = [];
    const c = new Checker({ probe, intervalMs: 1000, firstDelayMs: 0, onResult: (r) => results.push(r), clock });
    await c.stop(); // before start: fine
    c.start();
    c.start(); // idempotent
    await clock.advance(0);
    await eventually(() => probe.running === 1);
    const first = c.stop();
    const second = c.stop();
    await Promise.all([first, second]);
    assert.equal(probe.running, 0);
    assert.deepEqual(results, [], 'an aborted probe is not reported');
    assert.equal(clock.pending, 0);
    assert.equal(c.running, false);
    // And it can run again.
    probe.blocking = false;
    c.start();
    await clock.advance(0);
    await eventually(() => results.length === 1);
    await c.stop();
  });

  test('a slow probe does not overlap the next run, which starts right after it', async () => {
    const clock = new ManualClock();
    const probe = new ScriptedProbe(clock);
    probe.blocking = true;
    const metrics = new HealthMetrics(createMetricsRegistry());
    const c = new Checker({ probe, intervalMs: 1000, firstDelayMs: 0, onResult: () => {}, clock, metrics });
    c.start();
    await clock.advance(0);
    await clock.advance(2500); // the first probe hangs for 2.5 intervals
    assert.equal(probe.startedAt.length, 1);
    probe.blocking = false;
    probe.releaseAll();
    await eventually(() => probe.startedAt.length === 2);
    assert.equal(probe.startedAt[1]! - probe.startedAt[0]!, 2500);
    assert.equal(probe.maxRunning, 1);
    const missed = (await metrics.missedIntervals.get()).values[0]?.value;
    assert.equal(missed, 1);
    await c.stop();
  });

  test('a shared semaphore caps probes in flight across checkers', async () => {
    const clock = new ManualClock();
    const slots = new Semaphore(3);
    const probe = new ScriptedProbe(clock);
    probe.blocking = true;
    const checkers = Array.from({ length: 10 }, () => new Checker({ probe, intervalMs: 1000, onResult: () => {}, slots, clock }));
    for (const c of checkers) c.start();
    await clock.advance(1000);
    assert.equal(probe.running, 3);
    assert.equal(slots.waiting, 7);
    probe.releaseAll();
    await eventually(() => probe.running === 3 && probe.startedAt.length === 6);
    assert.equal(probe.maxRunning, 3);
    await Promise.all(checkers.map((c) => c.stop()));
    assert.equal(slots.inUse, 0);
    assert.equal(slots.waiting, 0);
  });
});

describe('Semaphore', () => {
  test('grants in order, passes slots on, and forgets aborted waiters', async () => {
    const s = new Semaphore(1);
    const order: string[] = [];
    await s.acquire();
    const a = new AbortController();
    const p1 = s.acquire().then(() => order.push('one'));
    const p2 = s.acquire(a.signal).then(
      () => order.push('two'),
      () => order.push('two aborted'),
    );
    const p3 = s.acquire().then(() => order.push('three'));
    assert.equal(s.waiting, 3);
    a.abort();
    await p2;
    assert.equal(s.waiting, 2);
    s.release();
    await p1;
    s.release();
    await p3;
    s.release();
    assert.deepEqual(order, ['two aborted', 'one', 'three']);
    assert.equal(s.inUse, 0);
    assert.throws(() => new Semaphore(0), (err: unknown) => isPharosError(err, HEALTH_INVALID_CONFIG));
  });
});
