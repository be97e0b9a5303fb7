/** The shared test helpers that other tests trust to report what a child process did. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChildTimeoutError, runChild } from './helpers.ts';

describe('runChild', () => {
  test('returns all the output, read to the end of the pipes, not only what came before the exit', async () => {
    // The shell exits at once; its background job still holds stdout and writes to it later.
    const r = await runChild('sh', ['-c', '(sleep 0.2; echo late; echo done >&2) & echo early']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'early\nlate\n');
    assert.equal(r.stderr, 'done\n');
  });

  test('writes input to stdin, passes env and cwd, and reports the exit code', async () => {
    const r = await runChild('sh', ['-c', 'cat; printf " %s %s" "$GREETING" "$(pwd)"; exit 3'], { input: 'hello', env: { PATH: process.env.PATH, GREETING: 'hi' }, cwd: '/' });
    assert.deepEqual(r, { code: 3, signal: null, stdout: 'hello hi /', stderr: '' });
  });

  test('kills a child past its timeout and rejects with its output so far', async () => {
    const started = Date.now();
    await assert.rejects(runChild('sh', ['-c', 'echo started; exec sleep 30'], { timeoutMs: 300 }), (err) => {
      assert.ok(err instanceof ChildTimeoutError);
      assert.match(err.message, /did not end in 300 ms/);
      assert.equal(err.stdout, 'started\n');
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'the child was killed, not waited for');
  });

  test('kills the child when its signal aborts', async () => {
    const abort = new AbortController();
    const running = runChild('sleep', ['30'], { signal: abort.signal });
    abort.abort();
    await assert.rejects(running, { name: 'AbortError' });
  });

  test('rejects when the command does not exist', async () => {
    await assert.rejects(runChild('/nonexistent/pharos-child', []), /ENOENT/);
  });
});
