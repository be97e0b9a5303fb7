import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTaskDefinition } from './taskdef.ts';

const base = (container: Record<string, unknown> = {}, task: Record<string, unknown> = {}) => ({
  family: 'web',
  containerDefinitions: [{ name: 'web', image: 'x', command: ['true'], ...container }],
  ...task,
});

function refused(body: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => parseTaskDefinition(body), (err: { code?: string; message?: string }) => {
    assert.equal(err.code, 'ClientException');
    assert.match(err.message ?? '', message);
    return true;
  });
}

test('fields the runtime cannot honour are refused with ClientException and the reason, never ignored', () => {
  const cases: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
    [{ readonlyRootFilesystem: true }, {}, /containerDefinitions\[0\]\.readonlyRootFilesystem is not supported: .*read-only/],
    [{ privileged: true }, {}, /privileged is not supported/],
    [{ linuxParameters: { capabilities: { add: ['SYS_ADMIN'] } } }, {}, /linuxParameters is not supported/],
    [{ mountPoints: [{ sourceVolume: 'data', containerPath: '/data' }] }, {}, /mountPoints is not supported: Pharos mounts no volumes/],
    [{ volumesFrom: [{ sourceContainer: 'x' }] }, {}, /volumesFrom is not supported/],
    [{ ulimits: [{ name: 'nofile', softLimit: 1, hardLimit: 1 }] }, {}, /ulimits is not supported/],
    [{ secrets: [{ name: 'A', valueFrom: 'arn:x' }] }, {}, /secrets is not supported/],
    [{}, { volumes: [{ name: 'data' }] }, /^volumes is not supported/],
    [{}, { pidMode: 'host' }, /pidMode is not supported/],
  ];
  for (const [container, task, message] of cases) refused(base(container, task), message);
});

test('values that ask for nothing are accepted', () => {
  const td = parseTaskDefinition(base({ readonlyRootFilesystem: false, privileged: false, mountPoints: [], volumesFrom: [], linuxParameters: {} }, { volumes: [] }));
  assert.equal(td.containerDefinitions[0]!.name, 'web');
});

test('user is kept in the forms Docker takes; anything else is refused', () => {
  for (const user of ['nobody', '65534', '1000:1000', 'app:staff', 'www-data']) {
    assert.equal(parseTaskDefinition(base({ user })).containerDefinitions[0]!.user, user);
  }
  for (const user of ['', 'a b', 'x:y:z', ':0', '0:', 'a\u0000b', 'x'.repeat(40)]) refused(base({ user }), /user/);
});
