import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isPharosError, ManualClock } from '../lib/index.ts';
import { commandArgv } from './command.ts';
import { ContainerCheck, STARTUP_CHECK_INTERVAL_MS, TaskCommandProbe, type ContainerCheckConfig, type TaskExec } from './container.ts';
import { HEALTH_INVALID_CONFIG } from './errors.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { ChildTimeoutError, runChild } from '../../test/helpers.ts';

/** Runs argv as a local child process (the runtime's exec, without a task around it). */
const localExec: TaskExec = async (argv, { timeoutMs, signal }) => {
  try {
    const r = await runChild(argv[0]!, argv.slice(1), { timeoutMs, signal });
    return { exitCode: r.code, signal: r.signal, timedOut: false, output: r.stdout + r.stderr };
  } catch (err) {
    if (!(err instanceof ChildTimeoutError)) throw err;
    return { exitCode: null, signal: 'SIGKILL', timedOut: true, output: err.stdout + err.stderr };
  }
};

describe('TaskCommandProbe', () => {
  const cases: { name: string; command: string[]; ok: boolean; reason: RegExp }[] = [
    { name: 'CMD exit 0', command: ['CMD', 'true'], ok: true, reason: /^exit code 0$/ },
    { name: 'CMD exit 1', command: ['CMD', 'false'], ok: false, reason: /^exit code 1$/ },
    { name: 'CMD-SHELL with output', command: ['CMD-SHELL', 'echo "db down" >&2; exit 3'], ok: false, reason: /^exit code 3: db down$/ },
    { name: 'CMD with arguments passed verbatim', command: ['CMD', 'sh', '-c', 'exit $0', '7'], ok: false, reason: /^exit code 7$/ },
    { name: 'timeout', command: ['CMD', 'sleep', '30'], ok: false, reason: /^health check timed out$/ },
    { name: 'the runtime cannot run it', command: ['CMD', '/nonexistent/pharos-check'], ok: false, reason: /ENOENT/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await new TaskCommandProbe(c.command, 300, localExec).check();
      assert.equal(r.ok, c.ok, r.reason);
      assert.match(r.reason, c.reason);
    });
  }

  test('commands that can never run are configuration errors', () => {
    for (const bad of [[], ['CMD'], ['NONE'], ['RUN', 'x'], ['CMD', ''], [42 as unknown as string, 'x']]) {
      assert.throws(() => commandArgv(bad), (err: unknown) => isPharosError(err, HEALTH_INVALID_CONFIG), JSON.stringify(bad));
    }
    assert.deepEqual(commandArgv(['CMD-SHELL', 'curl -f', 'localhost']), ['/bin/sh', '-c', 'curl -f localhost']);
  });
});

/** A check whose probe returns what `results` says next (true = pass), on a ManualClock. */
function harness(check: Partial<ContainerCheckConfig>, results: boolean[]) {
  const clock = new ManualClock();
  const changes: { status: string; at: number }[] = [];
  let runs = 0;
  const probe: Probe = {
    type: 'CMD',
    target: 'true',
    async check(): Promise<ProbeResult> {
      const ok = results[Math.min(runs, results.length - 1)]!;
      runs++;
      return { ok, reason: ok ? 'exit code 0' : 'exit code 1', cause: ok ? 'ok' : 'exit', latencyMs: 0 };
    },
  };
  const start = clock.now();
  const monitor = new ContainerCheck({
    taskId: 't1',
    container: 'web',
    check: { command: ['CMD', 'true'], interval: 5, timeout: 2, retries: 3, ...check },
    probe,
    clock,
    onChange: async (status) => changes.push({ status, at: clock.now() - start }),
  });
  monitor.start();
  return { clock, changes, monitor, runs: () => runs };
}

describe('ContainerCheck (ECS container health checks through the checker and status handler)', () => {
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
