/**
 * `--node-name auto` over real data dirs: one made by a Pharos from before `--node-name` (whose
 * server ran as node `local`) keeps that name on SQLite, so its built-in container instance stays
 * the connected one and tasks are placed on it; a new data dir takes the server id.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';
import { ecsClient, startTestServer, tempDir, type TestServer } from './helpers.ts';

/** The cluster's container instances: ec2InstanceId → agentConnected and status. */
async function instances(s: TestServer, cluster: string): Promise<Record<string, string>> {
  const ecs = ecsClient(s.apiUrl);
  try {
    const { containerInstanceArns } = await ecs.listContainerInstances({ cluster, status: 'ACTIVE' });
    const all = [...(containerInstanceArns ?? []), ...((await ecs.listContainerInstances({ cluster, status: 'DRAINING' })).containerInstanceArns ?? [])];
    if (all.length === 0) return {};
    const { containerInstances } = await ecs.describeContainerInstances({ cluster, containerInstances: all });
    return Object.fromEntries((containerInstances ?? []).map((i) => [i.ec2InstanceId!, `${i.status} ${i.agentConnected ? 'connected' : 'disconnected'}`]));
  } finally {
    ecs.destroy();
  }
}

const start = (dataDir: string, nodeName?: string) => startTestServer(nodeName ? { nodeName } : {}, dataDir, createRuntime({ awsvpc: 'host' }));

describe('--node-name auto across an upgrade (SQLite)', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dataDir = () => (dirs.push(tempDir('pharos-node-name-')), dirs.at(-1)!);

  test('a data dir whose server ran as node local keeps it: one connected instance, and tasks run on it', async () => {
    const dir = dataDir();
    // The data dir as an older Pharos left it: its server was node `local` (the old default).
    const old = await start(dir, 'local');
    const ecs = ecsClient(old.apiUrl);
    await ecs.createCluster({ clusterName: 'up' });
    ecs.destroy();
    assert.deepEqual(await instances(old, 'up'), { 'pharos-server-local': 'ACTIVE connected' });
    await old.close();

    const s = await start(dir);
    try {
      assert.deepEqual(await instances(s, 'up'), { 'pharos-server-local': 'ACTIVE connected' }, 'no instance under a new name, none left disconnected');
      const ecs2 = ecsClient(s.apiUrl);
      await ecs2.registerTaskDefinition({ family: 'sleeper', networkMode: 'host', containerDefinitions: [{ name: 'main', image: 'local', essential: true, command: ['sleep', '30'] }] });
      const { tasks } = await ecs2.runTask({ cluster: 'up', taskDefinition: 'sleeper' });
      const [instance] = (await ecs2.describeContainerInstances({ cluster: 'up', containerInstances: [tasks![0]!.containerInstanceArn!] })).containerInstances!;
      assert.equal(instance!.ec2InstanceId, 'pharos-server-local');
      await eventually(async () => (await ecs2.describeTasks({ cluster: 'up', tasks: [tasks![0]!.taskArn!] })).tasks?.[0]?.lastStatus === 'RUNNING', { message: 'the task runs' });
      ecs2.destroy();
    } finally {
      await s.close();
    }
  });

  test('a new data dir takes the server id', async () => {
    const dir = dataDir();
    const s = await start(dir);
    try {
      const ecs = ecsClient(s.apiUrl);
      await ecs.createCluster({ clusterName: 'fresh' });
      ecs.destroy();
      const serverId = readFileSync(join(dir, 'server-id'), 'utf8').trim();
      assert.deepEqual(await instances(s, 'fresh'), { [`pharos-server-${serverId}`]: 'ACTIVE connected' });
    } finally {
      await s.close();
    }
  });
});
