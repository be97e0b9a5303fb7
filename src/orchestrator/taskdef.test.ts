import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTaskDefinition } from './taskdef.ts';

const web = { name: 'web', image: 'localhost/web:1' };
const init = { name: 'init', image: 'localhost/web:1', essential: false };
const db = { name: 'db', image: 'localhost/db:1', healthCheck: { command: ['CMD', 'true'] } };

test('dependsOn: valid conditions pass, and each mistake is refused with a ClientException naming it', () => {
  const ok = parseTaskDefinition({
    family: 'f',
    containerDefinitions: [{ ...web, dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }, { containerName: 'db', condition: 'HEALTHY' }] }, init, db],
  });
  assert.deepEqual(ok.containerDefinitions[0]!['dependsOn'], [{ containerName: 'init', condition: 'SUCCESS' }, { containerName: 'db', condition: 'HEALTHY' }]);
  const cases: [unknown[], RegExp][] = [
    [[{ ...web, dependsOn: 'init' }, init], /dependsOn must be a list/],
    [[{ ...web, dependsOn: [{ containerName: 'init', condition: 'READY' }] }, init], /need a containerName and a condition \(START, COMPLETE, SUCCESS, HEALTHY\)/],
    [[{ ...web, dependsOn: [{ containerName: 'nosuch', condition: 'START' }] }], /depends on "nosuch", which is not another container/],
    [[{ ...web, dependsOn: [{ containerName: 'web', condition: 'START' }] }], /depends on "web", which is not another container/],
    [[{ ...web, dependsOn: [{ containerName: 'init', condition: 'HEALTHY' }] }, init], /init has no healthCheck/],
    [[{ ...web, dependsOn: [{ containerName: 'db', condition: 'SUCCESS' }] }, db], /db must not be essential/],
    [[{ ...web, dependsOn: [{ containerName: 'db', condition: 'START' }] }, { ...db, dependsOn: [{ containerName: 'web', condition: 'START' }] }], /cycle/],
  ];
  for (const [containerDefinitions, message] of cases) {
    assert.throws(() => parseTaskDefinition({ family: 'f', containerDefinitions } as never), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ClientException');
      assert.match(err.message, message);
      return true;
    });
  }
});
