import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { isPharosError } from '../lib/index.ts';
import { ProcessRuntime, RUNTIME_BAD_CONTAINER_SPEC, type ContainerSpec, type TaskSpec } from './index.ts';
import { resolveUser } from './users.ts';

const root = process.getuid?.() === 0;
if (!root && process.env.CI === 'true') test('CI runs as root', () => assert.fail('switching users needs root'));
const work = mkdtempSync(path.join(os.tmpdir(), 'pharos-users-'));
after(() => rmSync(work, { recursive: true, force: true }));
let seq = 0;
const task = (over: Partial<ContainerSpec> = {}): TaskSpec => ({
  taskId: `u${process.pid}x${++seq}`,
  networkMode: 'host',
  containers: [{ name: 'main', image: 'x', essential: true, command: ['sh', '-c', 'id -u; id -g; pwd; ls -A; echo "$HOME"'], portMappings: [], ...over }],
});
async function output(rt: ProcessRuntime, spec: TaskSpec): Promise<string[]> {
  const t = await rt.startTask(spec);
  await t.stopped;
  return t.logs().map((l) => l.line);
}

test('resolveUser: names, uids, groups; unknown names refused', () => {
  assert.deepEqual(resolveUser('nobody', 'c'), { spec: 'nobody', uid: 65534, gid: 65534, name: 'nobody', home: '/nonexistent' });
  assert.equal(resolveUser('0', 'c').name, 'root');
  assert.deepEqual([resolveUser('4321:99', 'c').uid, resolveUser('4321:99', 'c').gid], [4321, 99]);
  assert.equal(resolveUser('nobody:root', 'c').gid, 0);
  assert.throws(() => resolveUser('no-such-user-i8', 'c'), /names no account/);
  assert.throws(() => resolveUser('nobody:no-such-group-i8', 'c'), /names no group/);
});

describe('task users and working directories', { skip: root ? false : 'switching users needs root' }, () => {
  test("a container runs as its user, in its own empty directory that goes with the task", async () => {
    const rt = new ProcessRuntime({ workRoot: work });
    const spec = task({ user: 'nobody' });
    const lines = await output(rt, spec);
    assert.deepEqual(lines, ['65534', '65534', path.join(work, spec.taskId), '/nonexistent']);
    assert.equal(existsSync(path.join(work, spec.taskId)), false, 'the directory is removed with the task');
    // No user: the server's (root), still in its own directory.
    const spec2 = task();
    assert.deepEqual(await output(rt, spec2), ['0', '0', path.join(work, spec2.taskId), '/root']);
    await rt.close();
  });

  test('with taskUser (no authentication) every task runs as it, and asking for another user is refused', async () => {
    const rt = new ProcessRuntime({ workRoot: work, taskUser: 'nobody' });
    assert.equal((await output(rt, task()))[0], '65534');
    assert.equal((await output(rt, task({ user: '65534' })))[0], '65534');
    for (const user of ['root', '0', '0:0', '65534:0', 'daemon']) {
      await assert.rejects(rt.startTask(task({ user })), (err) => {
        assert.ok(isPharosError(err, RUNTIME_BAD_CONTAINER_SPEC), String(err));
        assert.match(err.message, /honoured only when the API authenticates requests/);
        return true;
      });
    }
    // Health-check commands run as the container's user too.
    const t = await rt.startTask(task({ command: ['sleep', '30'] }));
    const r = await t.exec(['id', '-u'], { timeoutMs: 5000 });
    assert.equal(r.output.trim(), '65534');
    await t.stop({ timeoutMs: 200 });
    await rt.close();
  });
});
