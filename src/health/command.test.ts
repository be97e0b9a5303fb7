import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, isPharosError } from '../lib/index.ts';
import { CommandProbe, commandArgv } from './command.ts';
import { HEALTH_INVALID_CONFIG } from './errors.ts';
import { createNetns } from './testing.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('CommandProbe', () => {
  const cases: { name: string; command: string[]; ok: boolean; reason: RegExp }[] = [
    { name: 'CMD exit 0', command: ['CMD', 'true'], ok: true, reason: /^exit 0$/ },
    { name: 'CMD exit 1', command: ['CMD', 'false'], ok: false, reason: /^exit 1$/ },
    { name: 'CMD-SHELL with output', command: ['CMD-SHELL', 'echo "db down" >&2; exit 3'], ok: false, reason: /^exit 3: db down$/ },
    { name: 'CMD-SHELL exit 0', command: ['CMD-SHELL', 'test 1 -eq 1 && echo fine'], ok: true, reason: /^exit 0$/ },
    { name: 'CMD with arguments passed verbatim', command: ['CMD', 'sh', '-c', 'exit $0', '7'], ok: false, reason: /^exit 7$/ },
    { name: 'missing executable', command: ['CMD', '/nonexistent/pharos-check'], ok: false, reason: /ENOENT/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await new CommandProbe({ command: c.command, timeoutMs: 5000 }).check();
      assert.equal(r.ok, c.ok, r.reason);
      assert.match(r.reason, c.reason);
    });
  }

  test('a command that outlives its timeout is killed with everything it started', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pharos-health-cmd-'));
    try {
      const pidFile = path.join(dir, 'pid');
      // The shell starts a grandchild and waits: the whole process group must go.
      const probe = new CommandProbe({ command: ['CMD-SHELL', `sleep 30 & echo $! > ${pidFile}; wait`], timeoutMs: 300 });
      const r = await probe.check();
      assert.deepEqual([r.ok, r.reason, r.cause], [false, 'timeout after 300ms', 'timeout']);
      const pid = Number(await readFile(pidFile, 'utf8'));
      await eventually(() => !alive(pid), { message: `grandchild ${pid} still alive` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('abort kills the command', async () => {
    const controller = new AbortController();
    const pending = new CommandProbe({ command: ['CMD', 'sleep', '30'], timeoutMs: 60_000 }).check(controller.signal);
    setImmediate(() => controller.abort());
    const r = await pending;
    assert.deepEqual([r.ok, r.cause], [false, 'aborted']);
  });

  test('long output is cut to one short line', async () => {
    const r = await new CommandProbe({ command: ['CMD-SHELL', 'head -c 100000 /dev/zero | tr "\\0" x; exit 2'] }).check();
    assert.equal(r.ok, false);
    assert.ok(r.reason.startsWith('exit 2: xxx'));
    assert.ok(r.reason.length <= 200);
  });

  test('commands that can never run are configuration errors', () => {
    for (const bad of [[], ['CMD'], ['NONE'], ['RUN', 'x'], ['CMD', ''], [42 as unknown as string, 'x']]) {
      assert.throws(() => commandArgv(bad), (err: unknown) => isPharosError(err, HEALTH_INVALID_CONFIG), JSON.stringify(bad));
    }
    assert.throws(() => commandArgv(['CMD', 'true'], '-all'), (err: unknown) => isPharosError(err, HEALTH_INVALID_CONFIG));
    assert.deepEqual(commandArgv(['CMD-SHELL', 'curl -f', 'localhost']), ['/bin/sh', '-c', 'curl -f localhost']);
    assert.deepEqual(commandArgv(['CMD', 'true'], 'task-1'), ['ip', 'netns', 'exec', 'task-1', 'true']);
  });

  test('runs inside the task network namespace', async (t) => {
    const ns = await createNetns();
    if (typeof ns === 'string') {
      if (process.env.CI === 'true') assert.fail(ns);
      t.skip(ns);
      return;
    }
    try {
      // Inside the fresh namespace only `lo` exists; on the host there is more.
      const probe = new CommandProbe({ command: ['CMD-SHELL', 'test "$(ls /sys/class/net)" = lo'], netns: ns.name });
      const r = await probe.check();
      assert.deepEqual([r.ok, r.reason], [true, 'exit 0']);
      const outside = await new CommandProbe({ command: ['CMD-SHELL', 'test "$(ls /sys/class/net)" = lo'] }).check();
      assert.equal(outside.ok, false);
    } finally {
      await ns.destroy();
    }
  });
});
