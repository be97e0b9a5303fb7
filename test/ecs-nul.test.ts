/**
 * A NUL character in a container's command, entry point, environment or health check command can
 * never reach the process (arguments and environment are C strings): RegisterTaskDefinition and
 * RunTask's overrides refuse it with InvalidParameterException (ClientException for healthCheck, as
 * ECS words the rest of it) naming the field, through the real AWS SDK,
 * instead of storing a task definition whose tasks fail at every start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ECS } from '@aws-sdk/client-ecs';
import { ecsClient, rejectsWith, startTestServer, type TestServer } from './helpers.ts';

const container = { name: 'web', image: 'localhost/web:1', memory: 64 };

describe('NUL in what a task would execute', () => {
  let server: TestServer;
  let ecs: ECS;

  before(async () => {
    server = await startTestServer({ runTasks: false });
    ecs = ecsClient(server.apiUrl);
    await ecs.createCluster({ clusterName: 'nul' });
    await ecs.registerTaskDefinition({ family: 'nul-ok', containerDefinitions: [container] });
  });

  after(async () => {
    ecs?.destroy();
    await server?.destroy();
  });

  const CASES: [string, Record<string, unknown>, RegExp][] = [
    ['command', { command: ['sh', '-c', 'echo a\u0000b'] }, /containerDefinitions\[0\]\.command\[2\] must not contain a NUL character/],
    ['entryPoint', { entryPoint: ['/bin/\u0000sh'] }, /containerDefinitions\[0\]\.entryPoint\[0\] must not contain a NUL character/],
    ['an environment name', { environment: [{ name: 'A\u0000B', value: 'x' }] }, /containerDefinitions\[0\]\.environment\[0\]\.name must not contain a NUL character/],
    ['an environment value', { environment: [{ name: 'A', value: 'x\u0000y' }] }, /containerDefinitions\[0\]\.environment\[0\]\.value must not contain a NUL character/],
    ['a healthCheck command', { healthCheck: { command: ['CMD', 'true\u0000'] } }, /containerDefinitions\[0\]\.healthCheck\.command\[1\] must not contain a NUL character/],
    ['an empty environment name', { environment: [{ name: '', value: 'x' }] }, /containerDefinitions\[0\]\.environment\[0\]\.name must be at least 1 characters long/],
  ];
  for (const [what, extra, message] of CASES) {
    // A healthCheck mistake is a ClientException, as ECS answers for the rest of healthCheck.
    const code = what === 'a healthCheck command' ? 'ClientException' : 'InvalidParameterException';
    test(`RegisterTaskDefinition: ${what} with NUL is ${code}`, async () => {
      const err = await rejectsWith(() => ecs.registerTaskDefinition({ family: 'nul', containerDefinitions: [{ ...container, ...extra }] }), code);
      assert.match(err.message, message);
    });
  }

  test('nothing was registered under the refused family', async () => {
    assert.deepEqual((await ecs.listTaskDefinitions({ familyPrefix: 'nul' })).taskDefinitionArns?.map((a) => a.split('/')[1]), ['nul-ok:1']);
  });

  test("RunTask: an override's command or environment with NUL is InvalidParameterException", async () => {
    const run = (override: Record<string, unknown>) => ecs.runTask({ cluster: 'nul', taskDefinition: 'nul-ok', overrides: { containerOverrides: [{ name: 'web', ...override }] } });
    const command = await rejectsWith(() => run({ command: ['a\u0000'] }), 'InvalidParameterException');
    assert.match(command.message, /containerOverrides\[0\]\.command\[0\] must not contain a NUL character/);
    const env = await rejectsWith(() => run({ environment: [{ name: 'X', value: '\u0000' }] }), 'InvalidParameterException');
    assert.match(env.message, /containerOverrides\[0\]\.environment\[0\]\.value must not contain a NUL character/);
    assert.deepEqual((await ecs.listTasks({ cluster: 'nul' })).taskArns, []);
  });
});
