import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PharosError, silentLogger } from '../lib/index.ts';
import { LOST_REASONS, InstanceKeeper, InstanceMonitor } from './liveness.ts';
import { ecsKeys, isLive, type ClusterRecord, type EcsServiceRecord, type TaskRecord } from './model.ts';
import { UNABLE_TO_PLACE } from './placement.ts';
import { DRAINING_REASON } from './scheduler.ts';
import { NETWORK, openKit, sim, taskDefinitionBody, type Kit } from './testkit.ts';
import { ecs } from './ops/index.ts';

const TIMEOUT_MS = 15_000;

interface Out {
  containerInstance: { containerInstanceArn: string; status: string; agentConnected: boolean; runningTasksCount: number; pendingTasksCount: number; attributes: { name: string; value?: string }[]; registeredResources: { name: string; integerValue?: number }[]; remainingResources: { name: string; integerValue?: number }[] };
}

describe('container instances', () => {
  let kit: Kit;
  let monitor: InstanceMonitor;
  const deregistered: string[] = [];
  beforeEach(async () => {
    kit = await openKit();
    deregistered.length = 0;
    monitor = new InstanceMonitor({ store: kit.store, clock: kit.clock, logger: silentLogger(), agentTimeoutMs: TIMEOUT_MS, deregister: async (t) => void deregistered.push(t.id) });
    await ecs(kit.api).CreateCluster({});
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody({ memory: '512' }));
  });
  afterEach(() => kit.close());

  const agent = async (name: string, extra: Record<string, unknown> = {}) =>
    ((await ecs(kit.api).RegisterContainerInstance({
      instanceIdentityDocument: JSON.stringify({ instanceId: name }),
      totalResources: [
        { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
        { name: 'MEMORY', type: 'INTEGER', integerValue: 4096 },
      ],
      ...extra,
    })) as Out).containerInstance;
  const builtinArn = async () => ((await ecs(kit.api).ListContainerInstances({})) as { containerInstanceArns: string[] }).containerInstanceArns;
  const byInstance = (tasks: TaskRecord[]) => {
    const m: Record<string, number> = {};
    for (const t of tasks.filter(isLive)) m[t.containerInstanceId ?? 'none'] = (m[t.containerInstanceId ?? 'none'] ?? 0) + 1;
    return m;
  };
  const idOf = (arn: string) => arn.split('/').at(-1)!;
  const heartbeat = async (...arns: string[]) => {
    for (const arn of arns) await ecs(kit.api).RegisterContainerInstance({ containerInstanceArn: arn });
    const cluster = (await kit.store.get<ClusterRecord>(ecsKeys.cluster('default')))!.value;
    await kit.keeper.ensure(cluster);
  };

  test('agents register; list, describe and describe-clusters count them; a service spreads over all', async () => {
    const a = await agent('host-a', { attributes: [{ name: 'disk', value: 'ssd' }] });
    const b = await agent('host-b');
    assert.match(a.containerInstanceArn, /^arn:aws:ecs:us-east-1:000000000000:container-instance\/default\/[0-9a-f]{32}$/);
    assert.equal(a.status, 'ACTIVE');
    assert.equal(a.agentConnected, true);
    assert.ok(a.attributes.some((x) => x.name === 'disk' && x.value === 'ssd'));
    assert.ok(a.attributes.some((x) => x.name === 'ecs.availability-zone' && x.value === 'us-east-1a'));
    assert.deepEqual(a.registeredResources.slice(0, 2).map((r) => r.integerValue), [2048, 4096]);
    const arns = await builtinArn();
    assert.equal(arns.length, 3, 'the built-in instance and two agents');
    const filtered = (await ecs(kit.api).ListContainerInstances({ filter: 'attribute:disk == ssd' })) as { containerInstanceArns: string[] };
    assert.deepEqual(filtered.containerInstanceArns, [a.containerInstanceArn]);
    const clusters = (await ecs(kit.api).DescribeClusters({})) as { clusters: { registeredContainerInstancesCount: number }[] };
    assert.equal(clusters.clusters[0]!.registeredContainerInstancesCount, 3);

    await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 6, networkConfiguration: NETWORK });
    await kit.scheduler.reconcileOnce();
    const tasks = await kit.tasks();
    assert.deepEqual(Object.values(byInstance(tasks)), [2, 2, 2]);
    const agentTask = tasks.find((t) => t.containerInstanceId === idOf(a.containerInstanceArn))!;
    assert.equal(agentTask.node, idOf(a.containerInstanceArn), 'the agent runs it');
    const described = (await ecs(kit.api).DescribeTasks({ tasks: [agentTask.id] })) as { tasks: { containerInstanceArn: string }[] };
    assert.equal(described.tasks[0]!.containerInstanceArn, a.containerInstanceArn);
    await sim.run(kit);
    const di = (await ecs(kit.api).DescribeContainerInstances({ containerInstances: [a.containerInstanceArn, b.containerInstanceArn, 'f'.repeat(32)] })) as {
      containerInstances: Out['containerInstance'][];
      failures: { arn: string; reason: string }[];
    };
    assert.deepEqual(di.containerInstances.map((c) => [c.runningTasksCount, c.pendingTasksCount]), [[2, 0], [2, 0]]);
    assert.equal(di.containerInstances[0]!.remainingResources.find((r) => r.name === 'MEMORY')!.integerValue, 4096 - 2 * 512);
    assert.deepEqual(di.failures, [{ arn: 'f'.repeat(32), reason: 'MISSING' }]);
  });

  test('DRAINING moves service tasks off: replacements start elsewhere first, then the drained ones stop', async () => {
    const a = await agent('host-a');
    const b = await agent('host-b');
    const [builtin] = (await builtinArn()).filter((x) => x !== a.containerInstanceArn && x !== b.containerInstanceArn);
    await ecs(kit.api).DeregisterContainerInstance({ containerInstance: builtin });
    await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 4, networkConfiguration: NETWORK });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit, { registered: true });
    await kit.scheduler.reconcileOnce();
    const out = (await ecs(kit.api).UpdateContainerInstancesState({ containerInstances: [b.containerInstanceArn], status: 'DRAINING' })) as { containerInstances: Out['containerInstance'][] };
    assert.equal(out.containerInstances[0]!.status, 'DRAINING');
    await kit.scheduler.reconcileOnce();
    let tasks = await kit.tasks();
    const onB = tasks.filter((t) => t.containerInstanceId === idOf(b.containerInstanceArn));
    assert.ok(onB.every((t) => t.desiredStatus === 'RUNNING'), 'nothing stops before replacements serve');
    assert.deepEqual(byInstance(tasks), { [idOf(a.containerInstanceArn)]: 4, [idOf(b.containerInstanceArn)]: 2 });
    await sim.run(kit, { registered: true });
    await kit.scheduler.reconcileOnce();
    tasks = await kit.tasks();
    for (const t of tasks.filter((x) => x.containerInstanceId === idOf(b.containerInstanceArn))) {
      assert.equal(t.desiredStatus, 'STOPPED');
      assert.equal(t.stoppedReason, DRAINING_REASON);
    }
    await sim.finishStops(kit);
    await kit.scheduler.reconcileOnce();
    assert.deepEqual(byInstance(await kit.tasks()), { [idOf(a.containerInstanceArn)]: 4 });
  });

  test('a lost agent: disconnected after the timeout, its tasks deregistered, STOPPED and replaced on the others', async () => {
    const a = await agent('host-a');
    const b = await agent('host-b');
    await monitor.start();
    await monitor.stop(); // started (for its start time), checked by hand below
    await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 6, networkConfiguration: NETWORK });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit, { registered: true });
    const lostTasks = (await kit.tasks()).filter((t) => t.containerInstanceId === idOf(a.containerInstanceArn)).map((t) => t.id);
    assert.equal(lostTasks.length, 2);
    kit.clock.advance(TIMEOUT_MS - 1000);
    await heartbeat(b.containerInstanceArn);
    await monitor.checkOnce();
    assert.deepEqual(deregistered, [], 'not before the timeout');
    kit.clock.advance(2000);
    await monitor.checkOnce();
    assert.deepEqual(deregistered.sort(), [...lostTasks].sort());
    const di = (await ecs(kit.api).DescribeContainerInstances({ containerInstances: [a.containerInstanceArn] })) as { containerInstances: Out['containerInstance'][] };
    assert.equal(di.containerInstances[0]!.agentConnected, false);
    for (const t of (await kit.tasks()).filter((x) => lostTasks.includes(x.id))) {
      assert.equal(t.lastStatus, 'STOPPED');
      assert.equal(t.stoppedReason, LOST_REASONS.lost(idOf(a.containerInstanceArn), 15));
    }
    await kit.scheduler.reconcileOnce();
    const live = (await kit.tasks()).filter(isLive);
    assert.equal(live.length, 6);
    assert.ok(live.every((t) => t.containerInstanceId !== idOf(a.containerInstanceArn)));
    // The agent comes back: connected again, and placement may use it.
    await heartbeat(a.containerInstanceArn);
    const back = (await ecs(kit.api).DescribeContainerInstances({ containerInstances: [a.containerInstanceArn] })) as { containerInstances: Out['containerInstance'][] };
    assert.equal(back.containerInstances[0]!.agentConnected, true);
  });

  test('with no instance a task stays PENDING with the ECS event; it is placed when one registers', async () => {
    for (const arn of await builtinArn()) await ecs(kit.api).DeregisterContainerInstance({ containerInstance: arn });
    await assert.rejects(ecs(kit.api).RunTask({ taskDefinition: 'web', networkConfiguration: NETWORK }), (err: PharosError) => err.code === 'InvalidParameterException' && /No Container Instances/.test(err.message));
    await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 2, networkConfiguration: NETWORK });
    await kit.scheduler.reconcileOnce();
    await kit.scheduler.reconcileOnce();
    let tasks = await kit.tasks();
    assert.equal(tasks.length, 2);
    assert.ok(tasks.every((t) => t.lastStatus === 'PROVISIONING' && t.node === undefined));
    const svc = (await kit.store.get<EcsServiceRecord>(ecsKeys.service('default', 'web')))!.value;
    const unable = svc.events.filter((e) => e.message.includes(UNABLE_TO_PLACE));
    assert.equal(unable.length, 1, 'said once');
    assert.match(unable[0]!.message, /^\(service web\) was unable to place a task because no container instance met all of its requirements\. Reason: /);
    const described = (await ecs(kit.api).DescribeServices({ services: ['web'] })) as { services: { pendingCount: number }[] };
    assert.equal(described.services[0]!.pendingCount, 2);
    const a = await agent('host-a');
    await kit.scheduler.reconcileOnce();
    tasks = await kit.tasks();
    assert.ok(tasks.every((t) => t.containerInstanceId === idOf(a.containerInstanceArn)));
    // A too-big RunTask gets a failure, not an exception.
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody({ family: 'big', memory: '100000' }));
    const run = (await ecs(kit.api).RunTask({ taskDefinition: 'big', networkConfiguration: NETWORK })) as { tasks: unknown[]; failures: { arn: string; reason: string }[] };
    assert.deepEqual(run, { tasks: [], failures: [{ arn: a.containerInstanceArn, reason: 'RESOURCE:MEMORY' }] });
  });

  test('deregistering an instance with tasks needs force; its tasks are then stopped and replaced', async () => {
    const a = await agent('host-a');
    await ecs(kit.api).RunTask({ taskDefinition: 'web', networkConfiguration: NETWORK, placementConstraints: [{ type: 'memberOf', expression: 'ec2InstanceId == host-a' }] });
    await assert.rejects(ecs(kit.api).DeregisterContainerInstance({ containerInstance: a.containerInstanceArn }), (err: PharosError) => err.code === 'InvalidParameterException');
    const out = (await ecs(kit.api).DeregisterContainerInstance({ containerInstance: a.containerInstanceArn, force: true })) as Out;
    assert.equal(out.containerInstance.status, 'INACTIVE');
    await monitor.checkOnce();
    const [t] = await kit.tasks();
    assert.equal(t!.lastStatus, 'STOPPED');
    assert.equal(t!.stoppedReason, LOST_REASONS.deregistered(idOf(a.containerInstanceArn)));
    await assert.rejects(ecs(kit.api).RegisterContainerInstance({ containerInstanceArn: a.containerInstanceArn }), (err: PharosError) => err.code === 'ClientException');
    await assert.rejects(ecs(kit.api).DescribeContainerInstances({ containerInstances: [] }), (err: PharosError) => err.code === 'InvalidParameterException');
    await assert.rejects(ecs(kit.api).UpdateContainerInstancesState({ containerInstances: ['x'], status: 'GONE' }), (err: PharosError) => err.code === 'InvalidParameterException');
  });

  test("a leader's monitor disconnects another server's built-in instance at once and replaces its tasks; its own stays", async () => {
    // The kit's keeper is server `local` (the old leader); `next` is the server that now leads.
    const next = new InstanceKeeper({ store: kit.store, clock: kit.clock, logger: silentLogger(), node: 'next', availabilityZone: 'us-east-1a', agentTimeoutMs: TIMEOUT_MS });
    const cluster = (await kit.store.get<ClusterRecord>(ecsKeys.cluster('default')))!.value;
    await next.ensure(cluster);
    const instances = (await ecs(kit.api).DescribeContainerInstances({ containerInstances: await builtinArn() })) as { containerInstances: (Out['containerInstance'] & { ec2InstanceId: string })[] };
    const byServer = new Map(instances.containerInstances.map((i) => [i.ec2InstanceId, i.containerInstanceArn]));
    assert.deepEqual([...byServer.keys()].sort(), ['pharos-server-local', 'pharos-server-next'], 'one built-in instance per server, named after its node');
    await ecs(kit.api).RunTask({ taskDefinition: 'web', networkConfiguration: NETWORK, placementConstraints: [{ type: 'memberOf', expression: 'ec2InstanceId == pharos-server-local' }] });
    const leaderMonitor = new InstanceMonitor({ store: kit.store, clock: kit.clock, logger: silentLogger(), agentTimeoutMs: TIMEOUT_MS, node: 'next', deregister: async (t) => void deregistered.push(t.id) });
    await leaderMonitor.start(); // its first pass runs at once, long before the agent timeout
    await leaderMonitor.stop();
    const after = (await ecs(kit.api).DescribeContainerInstances({ containerInstances: [...byServer.values()] })) as { containerInstances: (Out['containerInstance'] & { ec2InstanceId: string })[] };
    const connected = Object.fromEntries(after.containerInstances.map((i) => [i.ec2InstanceId, i.agentConnected]));
    assert.deepEqual(connected, { 'pharos-server-local': false, 'pharos-server-next': true });
    const [t] = await kit.tasks();
    assert.equal(t!.lastStatus, 'STOPPED');
    assert.equal(t!.stoppedReason, LOST_REASONS.notLeading(idOf(byServer.get('pharos-server-local')!)));
    assert.deepEqual(deregistered, [t!.id]);
    // Placement now goes to the leader's instance only.
    const run = (await ecs(kit.api).RunTask({ taskDefinition: 'web', networkConfiguration: NETWORK })) as { tasks: { containerInstanceArn: string }[] };
    assert.equal(run.tasks[0]!.containerInstanceArn, byServer.get('pharos-server-next'));
    // The old leader leads again: its keeper's heartbeat connects its instance again.
    await kit.keeper.ensure(cluster);
    const back = (await ecs(kit.api).DescribeContainerInstances({ containerInstances: [byServer.get('pharos-server-local')!] })) as { containerInstances: Out['containerInstance'][] };
    assert.equal(back.containerInstances[0]!.agentConnected, true);
  });
});
