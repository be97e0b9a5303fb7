/**
 * The real AWS CLI against Pharos's ECS API: create and inspect a host-network service, and the
 * `aws ecs wait services-stable` / `tasks-running` waiters, including their failure states (the
 * waiters read our DescribeServices / DescribeTasks output with their own acceptors). Skipped
 * visibly without the `aws` command; fails when CI=true.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../src/cli/index.ts';
import { testConfig } from './helpers.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';

const run = promisify(execFile);
const hasAws = await run('aws', ['--version']).then(() => true, () => false);
const skip = hasAws ? false : 'the aws CLI is not installed';
if (skip && process.env['CI'] === 'true') throw new Error(`CI=true but ${skip}`);

describe('aws ecs (CLI)', { skip }, () => {
  let server: RunningServer;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  /** Runs `aws ecs <args> --endpoint-url …`; resolves with exit code, stdout, stderr. */
  async function ecs(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const { stdout, stderr } = await run('aws', ['ecs', ...args, '--endpoint-url', server.apiUrl, '--output', 'json'], { env, timeout: 60_000 });
      return { code: 0, out: stdout, err: stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
    }
  }

  /** A raw ECS call, for polling without a CLI start-up (about a second each) per poll. */
  async function raw(operation: string, body: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(server.apiUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AmazonEC2ContainerServiceV20141113.${operation}` },
      body: JSON.stringify(body),
    });
    return res.json();
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pharos-ecs-cli-'));
    server = await startServer(
      testConfig(dataDir),
      { logger: silentLogger(), runtime: createRuntime({ awsvpc: 'host' }) },
    );
    env = { PATH: process.env['PATH'], HOME: dataDir, AWS_ACCESS_KEY_ID: 'pharos', AWS_SECRET_ACCESS_KEY: 'pharos', AWS_DEFAULT_REGION: 'us-east-1' };
  });
  after(async () => {
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('create, wait services-stable and tasks-running, and their failure states', async () => {
    // Below the ephemeral range, so no client socket of a parallel test file can take it meanwhile.
    let port = 0;
    while (port === 0) {
      const candidate = 20000 + Math.floor(Math.random() * 12000);
      const srv = createServer();
      const ok = await new Promise<boolean>((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen(candidate, '0.0.0.0', () => resolve(true));
      });
      if (ok) {
        await new Promise((resolve) => srv.close(resolve));
        port = candidate;
      }
    }
    assert.equal(JSON.parse((await ecs('create-cluster', '--cluster-name', 'cli')).out).cluster.status, 'ACTIVE');
    const containers = JSON.stringify([{ name: 'app', image: 'local', command: [process.execPath, '-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port})`], portMappings: [{ containerPort: port }] }]);
    const td = await ecs('register-task-definition', '--family', 'cli', '--network-mode', 'host', '--container-definitions', containers);
    assert.equal(td.code, 0, td.err);
    assert.equal(JSON.parse(td.out).taskDefinition.taskDefinitionArn, 'arn:aws:ecs:us-east-1:000000000000:task-definition/cli:1');
    const created = await ecs('create-service', '--cluster', 'cli', '--service-name', 'web', '--task-definition', 'cli', '--desired-count', '1');
    assert.equal(created.code, 0, created.err);
    // The CLI polls every 15 s after a first immediate check; make that first check the one that counts.
    await eventually(async () => (await raw('DescribeServices', { cluster: 'cli', services: ['web'] })).services[0].runningCount === 1, { timeoutMs: 20_000 });
    const stable = await ecs('wait', 'services-stable', '--cluster', 'cli', '--services', 'web');
    assert.equal(stable.code, 0, stable.err);
    const arn: string = JSON.parse((await ecs('list-tasks', '--cluster', 'cli', '--service-name', 'web')).out).taskArns[0];
    const running = await ecs('wait', 'tasks-running', '--cluster', 'cli', '--tasks', arn);
    assert.equal(running.code, 0, running.err);

    const missing = await ecs('wait', 'services-stable', '--cluster', 'cli', '--services', 'ghost');
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /Waiter ServicesStable failed/);
    const stopped = await ecs('stop-task', '--cluster', 'cli', '--task', arn, '--reason', 'cli test');
    assert.equal(JSON.parse(stopped.out).task.stopCode, 'UserInitiated');
    await eventually(async () => (await raw('DescribeTasks', { cluster: 'cli', tasks: [arn] })).tasks[0].lastStatus === 'STOPPED', { timeoutMs: 10_000 });
    const notRunning = await ecs('wait', 'tasks-running', '--cluster', 'cli', '--tasks', arn);
    assert.notEqual(notRunning.code, 0);
    assert.match(notRunning.err, /Waiter TasksRunning failed/);
    const stoppedWait = await ecs('wait', 'tasks-stopped', '--cluster', 'cli', '--tasks', arn);
    assert.equal(stoppedWait.code, 0, stoppedWait.err);

    const bad = await ecs('describe-services', '--cluster', 'nope', '--services', 'web');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /An error occurred \(ClusterNotFoundException\) when calling the DescribeServices operation: Cluster not found\./);
    await ecs('delete-service', '--cluster', 'cli', '--service', 'web', '--force');
  });
});
