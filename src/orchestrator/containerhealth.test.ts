import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../lib/index.ts';
import { ContainerHealthMonitor, STARTUP_CHECK_INTERVAL_MS, type CheckResult } from './containerhealth.ts';
import type { ContainerHealthCheck, TaskHealth } from './model.ts';

/** A monitor whose check returns what `results` says next (true = pass), on a ManualClock. */
function harness(check: Partial<ContainerHealthCheck>, results: boolean[]) {
  const clock = new ManualClock();
  const changes: { status: TaskHealth; at: number }[] = [];
  let runs = 0;
  const run = async (): Promise<CheckResult> => {
    const ok = results[Math.min(runs, results.length - 1)]!;
    runs++;
    return ok ? { ok, detail: 'exit code 0' } : { ok, detail: 'exit code 1' };
  };
  const start = clock.now();
  const monitor = new ContainerHealthMonitor({ command: ['CMD', 'true'], interval: 5, timeout: 2, retries: 3, ...check }, ['true'], run, clock, (status) =>
    changes.push({ status, at: clock.now() - start }),
  );
  monitor.start();
  return { clock, changes, monitor, runs: () => runs };
}

describe('ContainerHealthMonitor (CLOUDMAP-SPEC 4.5)', () => {
  test('UNKNOWN until the first result; one success is HEALTHY', async () => {
    const h = harness({}, [true]);
    assert.equal(h.monitor.current, 'UNKNOWN');
    await h.clock.advance(STARTUP_CHECK_INTERVAL_MS);
    assert.equal(h.monitor.current, 'HEALTHY');
    await h.monitor.stop();
  });

  test('`retries` consecutive failures make it UNHEALTHY, at the interval', async () => {
    const h = harness({ retries: 3, interval: 5 }, [true, false, false, false]);
    await h.clock.advance(1000);
    assert.equal(h.monitor.current, 'HEALTHY');
    await h.clock.advance(10_000);
    assert.equal(h.monitor.current, 'HEALTHY', 'two failures are not enough');
    await h.clock.advance(5000);
    assert.equal(h.monitor.current, 'UNHEALTHY');
    assert.deepEqual(h.changes.map((c) => c.status), ['HEALTHY', 'UNHEALTHY']);
    assert.equal(h.changes[1]!.at, 16_000);
    await h.monitor.stop();
  });

  test('a success resets the failure count', async () => {
    const h = harness({ retries: 2, interval: 5 }, [true, false, true, false, true]);
    await h.clock.advance(30_000);
    assert.deepEqual(h.changes.map((c) => c.status), ['HEALTHY']);
    await h.monitor.stop();
  });

  test('failures inside startPeriod do not count; checks run faster until the first success', async () => {
    const h = harness({ retries: 1, interval: 30, startPeriod: 10 }, [false, false, false, false, true]);
    await h.clock.advance(4500);
    assert.equal(h.monitor.current, 'UNKNOWN');
    assert.equal(h.runs(), 4, 'one check a second during the start period');
    await h.clock.advance(1000);
    assert.equal(h.monitor.current, 'HEALTHY');
    await h.monitor.stop();
  });

  test('failing past the start period turns UNHEALTHY', async () => {
    const h = harness({ retries: 1, interval: 5, startPeriod: 3 }, [false]);
    await h.clock.advance(2500);
    assert.equal(h.monitor.current, 'UNKNOWN');
    await h.clock.advance(5000);
    assert.equal(h.monitor.current, 'UNHEALTHY');
    await h.monitor.stop();
  });

  test('stop() is repeatable and stops checking', async () => {
    const h = harness({}, [true]);
    await h.monitor.stop();
    await h.monitor.stop();
    await h.clock.advance(60_000);
    assert.equal(h.runs(), 0);
    assert.equal(h.clock.pending, 0);
  });
});
