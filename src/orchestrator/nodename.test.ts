import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { builtinInstance } from './containerinstances.ts';
import { ecsKeys, type ClusterRecord } from './model.ts';
import { storedNodeName } from './nodename.ts';
import { openKit, type Kit } from './testkit.ts';

describe('storedNodeName (the name a single server keeps across upgrades)', () => {
  let kit: Kit;
  before(async () => (kit = await openKit()));
  after(() => kit.close());

  const cluster = (name: string) => ({ name, arn: `arn:aws:ecs:us-east-1:000000000000:cluster/${name}`, status: 'ACTIVE' }) as ClusterRecord;
  const putInstance = (c: string, node: string, heartbeat: number, builtin = true) => {
    const instance = { ...builtinInstance(cluster(c), node, 'us-east-1a', heartbeat), builtin };
    return kit.store.create(ecsKeys.instance(c, instance.id), instance);
  };

  test('a new store has none', async () => {
    assert.equal(await storedNodeName(kit.kv), undefined);
  });

  test('tasks of a Pharos from before container instances: local', async () => {
    await kit.store.create(ecsKeys.task('old', 'agent-task'), { id: 'agent-task', node: '0123456789abcdef0123456789abcdef' });
    assert.equal(await storedNodeName(kit.kv), undefined, 'an agent node is not this server');
    await kit.store.create(ecsKeys.task('old', 'server-task'), { id: 'server-task', node: 'local' });
    assert.equal(await storedNodeName(kit.kv), 'local');
  });

  test('built-in instances: the most recently heartbeat one names the node; agents do not count', async () => {
    await putInstance('a', 'local', 1_000);
    assert.equal(await storedNodeName(kit.kv), 'local');
    // A store that already restarted once under its server id keeps that one.
    await putInstance('b', 'k3v9x0qa', 2_000);
    await putInstance('a', 'k3v9x0qa', 2_000);
    await putInstance('c', 'fedcba9876543210fedcba9876543210', 9_000, false);
    assert.equal(await storedNodeName(kit.kv), 'k3v9x0qa');
  });
});
