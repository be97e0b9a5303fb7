import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { silentLogger, systemClock } from '../lib/index.ts';
import type { RegistryView } from '../registry/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { follow } from '../store/index.ts';
import { InstanceKeeper, LEADER_INSTANCE_WAIT_MS } from './liveness.ts';
import { ecsKeys, type ClusterRecord } from './model.ts';
import { ecs } from './ops/index.ts';
import { Orchestrator } from './orchestrator.ts';
import { ACCOUNT, NETWORK, openKit, REGION, taskDefinitionBody, type Kit } from './testkit.ts';

/** How late the simulated leader makes its instance: far longer than CreateCluster takes alone. */
const SLOW_LEADER_MS = 300;

describe('CreateCluster on a server that does not lead', () => {
  let kit: Kit;
  let follower: Orchestrator;
  // The system clock's timers do not hold the process (a server's sockets do): this test's must.
  let keepAlive: NodeJS.Timeout;
  before(async () => {
    keepAlive = setInterval(() => undefined, 1000);
    kit = await openKit();
    // Never started, as on a follower: no term, so no keeper of its own. Neither the runtime nor
    // the registry view is used by CreateCluster or RunTask.
    follower = new Orchestrator({ kv: kit.kv, runtime: {} as Runtime, registryView: {} as RegistryView, region: REGION, accountId: ACCOUNT, logger: silentLogger() });
    await ecs(follower.api).RegisterTaskDefinition(taskDefinitionBody({ memory: '512' }));
  });
  after(async () => {
    clearInterval(keepAlive);
    await kit.close();
  });

  test("waits for the leader's instance, so a RunTask right after is placed", async () => {
    // The leader: its keeper makes its instance some time after it sees the new cluster.
    const keeper = new InstanceKeeper({ store: kit.store, clock: systemClock, logger: silentLogger(), node: 'leader', availabilityZone: 'us-east-1a', agentTimeoutMs: 15_000 });
    const timers: NodeJS.Timeout[] = [];
    const watch = follow(kit.kv, ecsKeys.clusterPrefix, await kit.kv.revision(), (events) => {
      for (const e of events) {
        if (e.value === undefined) continue;
        const cluster = JSON.parse(e.value) as ClusterRecord;
        timers.push(setTimeout(() => void keeper.ensure(cluster), SLOW_LEADER_MS));
      }
    });
    try {
      await ecs(follower.api).CreateCluster({ clusterName: 'via-follower' });
      const run = (await ecs(follower.api).RunTask({ cluster: 'via-follower', taskDefinition: 'web', networkConfiguration: NETWORK })) as { tasks: { containerInstanceArn: string }[]; failures: unknown[] };
      assert.deepEqual(run.failures, []);
      assert.equal(run.tasks.length, 1);
    } finally {
      watch.cancel();
      timers.forEach(clearTimeout);
    }
  });

  test('gives up after LEADER_INSTANCE_WAIT_MS when no leader makes one', async () => {
    const started = Date.now();
    await ecs(follower.api).CreateCluster({ clusterName: 'no-leader' });
    const took = Date.now() - started;
    assert.ok(took >= LEADER_INSTANCE_WAIT_MS && took < LEADER_INSTANCE_WAIT_MS + 3000, `took ${took} ms`);
    await assert.rejects(ecs(follower.api).RunTask({ cluster: 'no-leader', taskDefinition: 'web', networkConfiguration: NETWORK }), /No Container Instances/);
  });
});
