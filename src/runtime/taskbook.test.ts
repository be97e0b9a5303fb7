import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerExit, ContainerStatus } from './runtime.ts';
import { TaskBook } from './taskbook.ts';

function status(name: string, essential = true): ContainerStatus {
  return { name, essential, pid: 1, state: 'RUNNING', startedAt: new Date() };
}

test('TaskBook: a throwing listener neither breaks the exit bookkeeping nor hides the exit from others; late listeners get past exits', async () => {
  let released = 0;
  let finals = 0;
  const book = new TaskBook('t1', async () => void released++, () => void finals++);
  const web = status('web');
  const side = status('side', false);
  book.track(web);
  book.track(side);
  book.launched();
  const seen: ContainerExit[] = [];
  book.subscribe(() => {
    throw new Error('listener bug');
  });
  book.subscribe((e) => seen.push(e));
  book.exited(side, 3, null);
  assert.deepEqual(
    seen.map((e) => [e.name, e.exitCode, e.essential, e.reason]),
    [['side', 3, false, 'exited with code 3']],
  );
  assert.equal(book.running().length, 1);
  assert.equal(book.finalizing, false, 'one container still runs');
  book.exited(web, null, 'SIGKILL');
  await book.stopped;
  assert.deepEqual([released, finals, book.isFinal], [1, 1, true]);
  assert.equal(book.containers().find((c) => c.name === 'web')!.signal, 'SIGKILL');
  const late: string[] = [];
  book.subscribe((e) => late.push(`${e.name}: ${e.reason}`));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(late, ['side: exited with code 3', 'web: killed by SIGKILL']);
});

test('TaskBook.stop: SIGTERM, SIGKILL after the timeout to what still runs, idempotent; exits after it are marked requested', async () => {
  const book = new TaskBook('t2', async () => undefined, () => undefined);
  const web = status('web');
  book.track(web);
  book.launched();
  const signals: string[] = [];
  const exits: ContainerExit[] = [];
  book.subscribe((e) => exits.push(e));
  const stop = (sig: 'SIGTERM' | 'SIGKILL') => {
    signals.push(sig);
    // PID 1 ignores SIGTERM; SIGKILL ends it.
    if (sig === 'SIGKILL') for (const s of book.running()) book.exited(s, null, 'SIGKILL');
  };
  const t0 = Date.now();
  const first = book.stop(50, stop);
  assert.equal(book.stop(10_000, stop), first);
  await first;
  assert.ok(Date.now() - t0 >= 45, 'SIGKILL came after the timeout');
  assert.deepEqual(signals, ['SIGTERM', 'SIGKILL']);
  assert.equal(exits[0]!.stopRequested, true);
});
