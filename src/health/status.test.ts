import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, createMetricsRegistry } from '../lib/index.ts';
import { HealthMetrics } from './metrics.ts';
import type { ProbeResult } from './probe.ts';
import { StatusHandler, type CheckStatus, type HealthNotifier } from './status.ts';

const OK: ProbeResult = { ok: true, reason: 'HTTP 200', cause: 'ok', latencyMs: 1 };
const FAIL: ProbeResult = { ok: false, reason: 'HTTP 503', cause: 'http_status', latencyMs: 1 };

/** Records writes; `failNext` makes writes fail, `hold` keeps them pending until released. */
class RecordingNotifier implements HealthNotifier {
  writes: [string, string][] = [];
  failNext = 0;
  private held: (() => void)[] = [];
  hold = false;
  async setHealth(_serviceId: string, _instanceId: string, status: string, reason: string): Promise<boolean> {
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('store unavailable');
    }
    this.writes.push([status, reason]);
    return true;
  }
  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }
}

function handler(notifier: HealthNotifier, opts: Partial<ConstructorParameters<typeof StatusHandler>[0]> = {}): StatusHandler {
  return new StatusHandler({ serviceId: 'srv-a', instanceId: 'i-1', notifier, failureThreshold: 3, ...opts });
}

/** Feeds results as a string of `+` (ok) and `-` (fail); returns the status after each. */
async function feed(h: StatusHandler, pattern: string): Promise<CheckStatus[]> {
  const out: CheckStatus[] = [];
  for (const ch of pattern) {
    h.observe(ch === '+' ? OK : FAIL);
    await h.idle();
    out.push(h.status);
  }
  return out;
}

const U = 'UNKNOWN';
const H = 'HEALTHY';
const X = 'UNHEALTHY';

describe('StatusHandler', () => {
  const table: { name: string; threshold: number; opts?: object; pattern: string; want: CheckStatus[] }[] = [
    { name: 'first success decides', threshold: 3, pattern: '+', want: [H] },
    { name: 'first failure decides', threshold: 3, pattern: '-', want: [X] },
    { name: 'threshold failures flip HEALTHY', threshold: 3, pattern: '+---', want: [H, H, H, X] },
    { name: 'a success resets the failure streak', threshold: 3, pattern: '+--+--', want: [H, H, H, H, H, H] },
    { name: 'threshold successes flip UNHEALTHY', threshold: 2, pattern: '-+-++', want: [X, X, X, X, H] },
    { name: 'threshold 1 flips on every change', threshold: 1, pattern: '+-+-', want: [H, X, H, X] },
    { name: 'counts policy: UNKNOWN until the threshold', threshold: 3, opts: { firstResult: 'counts', successThreshold: 1 }, pattern: '--+---', want: [U, U, H, H, H, X] },
    { name: 'out-of-range threshold is clamped to 10', threshold: 50, pattern: '+' + '-'.repeat(10), want: [H, H, H, H, H, H, H, H, H, H, X] },
  ];
  for (const c of table) {
    test(c.name, async () => {
      const n = new RecordingNotifier();
      const h = handler(n, { failureThreshold: c.threshold, ...c.opts });
      assert.equal(h.status, 'UNKNOWN');
      assert.deepEqual(await feed(h, c.pattern), c.want);
      // Exactly one write per change of status, none for UNKNOWN.
      const changes = c.want.filter((s, i) => s !== U && s !== (i === 0 ? U : c.want[i - 1]));
      assert.deepEqual(
        n.writes.map(([s]) => s),
        changes,
      );
    });
  }

  test('writes carry the reason of the deciding result; transitions are counted', async () => {
    const metricsRegistry = createMetricsRegistry();
    const metrics = new HealthMetrics(metricsRegistry);
    const n = new RecordingNotifier();
    const h = handler(n, { failureThreshold: 2, metrics });
    await feed(h, '+');
    h.observe({ ...FAIL, reason: 'connect ECONNREFUSED' });
    h.observe({ ...FAIL, reason: 'timeout after 2000ms' });
    await h.idle();
    assert.deepEqual(n.writes, [
      ['HEALTHY', 'HTTP 200'],
      ['UNHEALTHY', 'timeout after 2000ms'],
    ]);
    const text = await metricsRegistry.metrics();
    assert.match(text, /pharos_health_status_transitions_total\{from="UNKNOWN",to="HEALTHY"\} 1/);
    assert.match(text, /pharos_health_status_transitions_total\{from="HEALTHY",to="UNHEALTHY"\} 1/);
  });

  test('a stored status (after restart) is the starting point and is not written again', async () => {
    const n = new RecordingNotifier();
    const h = handler(n, { initial: 'UNHEALTHY', failureThreshold: 2 });
    assert.deepEqual(await feed(h, '-+'), [X, X]);
    assert.deepEqual(n.writes, []);
    assert.deepEqual(await feed(h, '+'), [H]);
    assert.deepEqual(n.writes, [['HEALTHY', 'HTTP 200']]);
  });

  test('a failed write is retried with the next result', async () => {
    const n = new RecordingNotifier();
    n.failNext = 1;
    const h = handler(n);
    await feed(h, '+');
    assert.deepEqual(n.writes, []);
    assert.equal(h.status, 'HEALTHY');
    await feed(h, '+');
    assert.deepEqual(n.writes, [['HEALTHY', 'HTTP 200']]);
  });

  test('a notifier that throws synchronously does not crash the handler', async () => {
    const h = handler({
      setHealth: () => {
        throw new Error('boom');
      },
    });
    h.observe(OK);
    await h.idle();
    assert.equal(h.status, 'HEALTHY');
  });

  test('writes never overlap; the latest decision is written after the one in flight', async () => {
    const n = new RecordingNotifier();
    n.hold = true;
    const h = handler(n, { failureThreshold: 1 });
    h.observe(OK); // write HEALTHY (held)
    h.observe(FAIL); // decided UNHEALTHY while the write is pending
    h.observe(OK); // and back
    h.observe(FAIL);
    n.release();
    await h.idle();
    assert.deepEqual(
      n.writes.map(([s]) => s),
      ['HEALTHY', 'UNHEALTHY'],
    );
  });

  test('syncStored: a status changed behind its back is rewritten with the next result', async () => {
    const n = new RecordingNotifier();
    const h = handler(n);
    await feed(h, '+');
    h.syncStored(undefined); // the record was removed
    await feed(h, '+');
    assert.deepEqual(
      n.writes.map(([s]) => s),
      ['HEALTHY', 'HEALTHY'],
    );
  });

  test('start period: failures do not count, a success decides at once (ECS startPeriod)', async () => {
    const clock = new ManualClock();
    const n = new RecordingNotifier();
    const h = handler(n, { clock, firstResult: 'counts', failureThreshold: 2, successThreshold: 1, gracePeriodMs: 10_000 });
    assert.deepEqual(await feed(h, '---'), [U, U, U]);
    await clock.advance(10_000);
    assert.deepEqual(await feed(h, '--'), [U, X]);
    const h2 = handler(n, { clock, firstResult: 'counts', failureThreshold: 2, successThreshold: 1, gracePeriodMs: 10_000 });
    assert.deepEqual(await feed(h2, '-+'), [U, H]);
  });

  test('after dispose nothing is written', async () => {
    const n = new RecordingNotifier();
    const h = handler(n);
    h.dispose();
    await feed(h, '+');
    assert.deepEqual(n.writes, []);
  });
});
