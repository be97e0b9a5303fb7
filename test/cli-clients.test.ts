/**
 * The client commands name the server the same way: `--server URL` (env `PHAROS_SERVER`) for
 * `pharos logs`, `pharos cluster` and `pharos agent`; `pharos logs --endpoint` (env
 * `PHAROS_ENDPOINT`) stays as the older spelling. And `pharos logs` signs its request, as
 * `pharos cluster` does, so it works against a server with --credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { eventually } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';
import { DUMMY_CREDENTIALS, ecsClient, startTestServer, tempDir, type TestServer } from './helpers.ts';

const SIGNED = { AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey };

async function pharos(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env });
  return { code, out, err };
}

describe('client commands: --server everywhere', () => {
  let s: TestServer;
  let task = '';
  before(async () => {
    s = await startTestServer({ credentials: [DUMMY_CREDENTIALS] }, tempDir(), createRuntime({ awsvpc: 'host' }));
    const ecs = ecsClient(s.apiUrl);
    await ecs.createCluster({ clusterName: 'cli' });
    await ecs.registerTaskDefinition({ family: 'hello', networkMode: 'host', containerDefinitions: [{ name: 'main', image: 'local', essential: true, command: [process.execPath, '-e', "console.log('hello from the task'); setInterval(() => {}, 1000)"] }] });
    task = (await ecs.runTask({ cluster: 'cli', taskDefinition: 'hello' })).tasks![0]!.taskArn!;
    ecs.destroy();
  });
  after(() => s?.destroy());

  const ways: [string, (url: string) => { argv: string[]; env: Record<string, string> }][] = [
    ['--server', (url) => ({ argv: ['--server', url], env: {} })],
    ['--server=', (url) => ({ argv: [`--server=${url}`], env: {} })],
    ['PHAROS_SERVER', (url) => ({ argv: [], env: { PHAROS_SERVER: url } })],
    ['--endpoint (the older spelling)', (url) => ({ argv: ['--endpoint', url], env: {} })],
    ['PHAROS_ENDPOINT (the older variable)', (url) => ({ argv: [], env: { PHAROS_ENDPOINT: url } })],
  ];
  for (const [name, way] of ways) {
    test(`pharos logs with ${name}, signed`, async () => {
      const { argv, env } = way(s.apiUrl);
      await eventually(
        async () => {
          const r = await pharos(['logs', ...argv, '--cluster', 'cli', task], { ...env, ...SIGNED });
          assert.equal(r.code, 0, r.err);
          return / main O hello from the task$/m.test(r.out);
        },
        { message: 'the task output' },
      );
    });
  }

  test('pharos logs: --server wins over the variables; --server and --endpoint may not disagree', async () => {
    const r = await pharos(['logs', '--server', s.apiUrl, '--cluster', 'cli', task], { ...SIGNED, PHAROS_SERVER: 'http://127.0.0.1:9', PHAROS_ENDPOINT: 'http://127.0.0.1:9' });
    assert.equal(r.code, 0, r.err);
    const both = await pharos(['logs', '--server', s.apiUrl, '--endpoint', 'http://127.0.0.1:9', task], SIGNED);
    assert.equal(both.code, 2);
    assert.match(both.err, /--server and --endpoint name the same thing/);
  });

  test('pharos logs without credentials: refused, and the message says what to set', async () => {
    const r = await pharos(['logs', '--server', s.apiUrl, '--cluster', 'cli', task]);
    assert.equal(r.code, 1);
    assert.match(r.err, /MissingAuthenticationTokenException/);
    assert.match(r.err, /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });

  test('pharos cluster status with PHAROS_SERVER', async () => {
    const r = await pharos(['cluster', 'status'], { ...SIGNED, PHAROS_SERVER: s.apiUrl });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^store: sqlite/);
  });

  test('every client command documents --server', async () => {
    for (const command of ['logs', 'cluster', 'agent']) {
      const r = await pharos([command, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.out, /--server (URL|<url)/, `pharos ${command} --help`);
    }
  });
});
