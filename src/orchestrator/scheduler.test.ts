import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKOFF_MAX_MS, UNHEALTHY_REASON } from './scheduler.ts';
import { isLive, isServing, type EcsServiceRecord, type TaskRecord } from './model.ts';
import { ecsKeys } from './model.ts';
import { NETWORK, openKit, sim, taskDefinitionBody, type Kit } from './testkit.ts';
import { ecs } from './ops/index.ts';

const live = (tasks: TaskRecord[]) => tasks.filter(isLive);
const service = async (kit: Kit, name = 'web') => (await kit.store.get<EcsServiceRecord>(ecsKeys.service('default', name)))!.value;

describe('ServiceScheduler', () => {
  let kit: Kit;
  beforeEach(async () => {
    kit = await openKit();
    await ecs(kit.api).CreateCluster({});
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody());
  });
  afterEach(async () => {
    await kit.close();
  });
  after(() => undefined);

  async function createService(body: Record<string, unknown> = {}) {
    await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 3, networkConfiguration: NETWORK, ...body });
  }

  test('starts desiredCount tasks, completes the rollout, replaces a stopped task', async () => {
    await createService();
    await kit.scheduler.reconcileOnce();
    let tasks = await kit.tasks();
    assert.equal(tasks.length, 3);
    const svc = await service(kit);
    for (const t of tasks) {
      assert.equal(t.group, 'service:web');
      assert.equal(t.startedBy, svc.deployments[0]!.id);
      assert.match(t.startedBy!, /^ecs-svc\/\d{19}$/);
      assert.equal(t.lastStatus, 'PROVISIONING');
    }
    await kit.scheduler.reconcileOnce();
    assert.equal((await kit.tasks()).length, 3, 'pending tasks are not started twice');
    await sim.run(kit);
    await kit.scheduler.reconcileOnce();
    const done = await service(kit);
    assert.equal(done.deployments[0]!.rolloutState, 'COMPLETED');
    assert.match(done.events[0]!.message, /has reached a steady state/);

    tasks = await kit.tasks();
    await ecs(kit.api).StopTask({ task: tasks[0]!.arn, reason: 'bye' });
    await sim.finishStops(kit);
    await kit.scheduler.reconcileOnce();
    tasks = await kit.tasks();
    assert.equal(live(tasks).length, 3);
    assert.equal(tasks.length, 4);
  });

  test('scales out and in with UpdateService without a new deployment', async () => {
    await createService();
    await kit.scheduler.reconcileOnce();
    await sim.run(kit);
    await ecs(kit.api).UpdateService({ service: 'web', desiredCount: 5 });
    assert.equal((await service(kit)).deployments.length, 1);
    await kit.scheduler.reconcileOnce();
    assert.equal(live(await kit.tasks()).length, 5);
    await sim.run(kit);
    await ecs(kit.api).UpdateService({ service: 'web', desiredCount: 1 });
    await kit.scheduler.reconcileOnce();
    const tasks = await kit.tasks();
    assert.equal(live(tasks).length, 1);
    const stopped = tasks.filter((t) => t.desiredStatus === 'STOPPED');
    assert.equal(stopped.length, 4);
    for (const t of stopped) assert.equal(t.stopCode, 'ServiceSchedulerInitiated');
  });

  test('replaces an UNHEALTHY task only after the grace period', async () => {
    await createService({ healthCheckGracePeriodSeconds: 30, desiredCount: 1 });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit);
    await kit.clock.advance(10_000);
    await kit.editTasks(() => true, (t) => (t.healthStatus = 'UNHEALTHY'));
    await kit.scheduler.reconcileOnce();
    assert.equal(live(await kit.tasks()).length, 1, 'inside the grace period: kept');
    await kit.clock.advance(20_000);
    await kit.scheduler.reconcileOnce();
    const tasks = await kit.tasks();
    const sick = tasks.find((t) => t.healthStatus === 'UNHEALTHY')!;
    assert.equal(sick.desiredStatus, 'STOPPED');
    assert.equal(sick.stopCode, 'ServiceSchedulerInitiated');
    assert.equal(sick.stoppedReason, UNHEALTHY_REASON);
    assert.equal(live(tasks).length, 1, 'a replacement is started in the same pass');
    assert.equal((await service(kit)).deployments[0]!.failedTasks, 1);
  });

  for (const { min, max, desired } of [
    { min: 100, max: 200, desired: 4 },
    { min: 50, max: 100, desired: 4 },
    { min: 50, max: 150, desired: 4 },
    { min: 100, max: 100, desired: 2 },
  ]) {
    test(`rolling deployment stays within min ${min}% / max ${max}% (desired ${desired})`, async () => {
      await createService({ desiredCount: desired, deploymentConfiguration: { minimumHealthyPercent: min, maximumPercent: max } });
      await kit.scheduler.reconcileOnce();
      await sim.run(kit);
      await kit.scheduler.reconcileOnce();
      await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody());
      await ecs(kit.api).UpdateService({ service: 'web', taskDefinition: 'web:2' });
      const svc = await service(kit);
      assert.equal(svc.deployments.length, 2);
      const newId = svc.deployments[0]!.id;
      const minHealthy = Math.ceil((desired * min) / 100);
      const maxTotal = Math.floor((desired * max) / 100);
      // Each round: the scheduler acts, then supervisors finish stops and start one task each.
      for (let round = 0; round < 20; round++) {
        await kit.scheduler.reconcileOnce();
        const tasks = await kit.tasks();
        const running = live(tasks);
        const serving = running.filter(isServing).length;
        assert.ok(running.length <= maxTotal, `round ${round}: ${running.length} live > max ${maxTotal}`);
        // With no room above 100% and none to spare below, ECS (and Pharos) give way by one task.
        const floor = maxTotal <= minHealthy ? minHealthy - 1 : minHealthy;
        assert.ok(serving >= floor, `round ${round}: only ${serving} serving, min ${floor}`);
        if (running.length === desired && running.every((t) => t.deploymentId === newId && isServing(t))) break;
        await sim.finishStops(kit);
        await sim.run(kit, { limit: 1 });
      }
      await kit.scheduler.reconcileOnce();
      const done = await service(kit);
      assert.equal(done.deployments.length, 1, 'old deployment gone');
      assert.equal(done.deployments[0]!.rolloutState, 'COMPLETED');
      const tasks = live(await kit.tasks());
      assert.equal(tasks.length, desired);
      assert.ok(tasks.every((t) => t.deploymentId === newId && t.taskDefinitionArn.endsWith(':2')));
    });
  }

  test('host-network tasks with a fixed host port: one per node, the old one makes way', async () => {
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody({ family: 'hostweb', networkMode: 'host' }));
    await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'hostweb', desiredCount: 1 });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit);
    await kit.scheduler.reconcileOnce();
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody({ family: 'hostweb', networkMode: 'host' }));
    await ecs(kit.api).UpdateService({ service: 'web', taskDefinition: 'hostweb:2' });
    await kit.scheduler.reconcileOnce();
    let tasks = await kit.tasks();
    assert.equal(tasks.length, 1, 'no new task while the old one holds the port');
    assert.equal(tasks[0]!.desiredStatus, 'STOPPED', 'the old task makes way');
    await kit.scheduler.reconcileOnce();
    assert.equal((await kit.tasks()).length, 1, 'nor while it drains');
    await sim.finishStops(kit);
    await kit.scheduler.reconcileOnce();
    tasks = live(await kit.tasks());
    assert.equal(tasks.length, 1);
    assert.ok(tasks[0]!.taskDefinitionArn.endsWith('hostweb:2'));
    await sim.run(kit);
    await kit.scheduler.reconcileOnce();
    assert.equal((await service(kit)).deployments[0]!.rolloutState, 'COMPLETED');
    await ecs(kit.api).UpdateService({ service: 'web', desiredCount: 3 });
    await kit.scheduler.reconcileOnce();
    assert.equal(live(await kit.tasks()).length, 1, 'a second task could not bind the same host port');
  });

  test('with a registry, a new task counts as healthy only once registered', async () => {
    const arn = kit.addCloudMapService('srv-aaaaaaaaaaaaaaaa', ['A']);
    await createService({ desiredCount: 1, serviceRegistries: [{ registryArn: arn }] });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit, { registered: true });
    await kit.scheduler.reconcileOnce();
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody());
    await ecs(kit.api).UpdateService({ service: 'web', taskDefinition: 'web:2' });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit, { registered: false });
    await kit.scheduler.reconcileOnce();
    assert.equal(live(await kit.tasks()).length, 2, 'old task kept while the new one is not in DNS');
    await kit.editTasks((t) => t.taskDefinitionArn.endsWith(':2'), (t) => (t.registration = { serviceId: 'srv-aaaaaaaaaaaaaaaa' }));
    await kit.scheduler.reconcileOnce();
    const tasks = live(await kit.tasks());
    assert.equal(tasks.length, 1);
    assert.ok(tasks[0]!.taskDefinitionArn.endsWith(':2'));
  });

  test('backs off exponentially, capped, when tasks fail to start', async () => {
    await createService({ desiredCount: 1 });
    const starts: number[] = [];
    for (let i = 0; i < 12; i++) {
      await kit.scheduler.reconcileOnce();
      const pending = (await kit.tasks()).filter((t) => t.lastStatus === 'PROVISIONING');
      if (pending.length > 0) starts.push(kit.clock.now());
      await sim.failStarts(kit);
      await kit.clock.advance(500);
    }
    // Without backoff there would be 12 starts in 6 s; with 1 s, 2 s, 4 s ... there are 3.
    assert.ok(starts.length <= 4, `started ${starts.length} times in 6 s`);
    const svc = await service(kit);
    assert.ok(svc.backoff && svc.backoff.failures >= 3);
    assert.match(svc.events[0]!.message, /TaskFailedToStart|CannotStartContainerError/);
    // The delay never exceeds the cap.
    for (let i = 0; i < 20; i++) {
      await kit.clock.advance(BACKOFF_MAX_MS);
      await kit.scheduler.reconcileOnce();
      await sim.failStarts(kit);
    }
    const capped = await service(kit);
    assert.ok(capped.backoff!.notBefore - kit.clock.now() <= BACKOFF_MAX_MS);
    // A deployment that succeeds clears the backoff.
    await kit.clock.advance(BACKOFF_MAX_MS);
    await kit.scheduler.reconcileOnce();
    await sim.run(kit);
    await kit.scheduler.reconcileOnce();
    assert.equal((await service(kit)).backoff, undefined);
  });

  test('the deployment circuit breaker fails a broken deployment and rolls back', async () => {
    await createService({ desiredCount: 2, deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } } });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit);
    await kit.scheduler.reconcileOnce();
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody({}, { command: ['broken'] }));
    await ecs(kit.api).UpdateService({ service: 'web', taskDefinition: 'web:2' });
    const failedId = (await service(kit)).deployments[0]!.id;
    for (let i = 0; i < 10 && (await service(kit)).deployments[0]!.id === failedId; i++) {
      await kit.scheduler.reconcileOnce();
      await sim.failStarts(kit);
      await kit.clock.advance(BACKOFF_MAX_MS);
    }
    const svc = await service(kit);
    const failed = svc.deployments.find((d) => d.id === failedId)!;
    assert.equal(failed.rolloutState, 'FAILED');
    assert.ok(failed.failedTasks >= 3);
    const primary = svc.deployments[0]!;
    assert.equal(primary.status, 'PRIMARY');
    assert.ok(primary.taskDefinitionArn.endsWith(':1'), 'rolled back to revision 1');
    assert.ok(svc.taskDefinitionArn.endsWith(':1'));
    // The old tasks kept serving throughout.
    assert.equal(live(await kit.tasks()).filter((t) => t.taskDefinitionArn.endsWith(':1') && t.lastStatus === 'RUNNING').length, 2);
  });

  test('DeleteService drains the tasks, then the service is INACTIVE', async () => {
    await createService({ desiredCount: 2 });
    await kit.scheduler.reconcileOnce();
    await sim.run(kit);
    await assert.rejects(ecs(kit.api).DeleteService({ service: 'web' }), { code: 'InvalidParameterException' });
    const out = (await ecs(kit.api).DeleteService({ service: 'web', force: true })) as { service: { status: string } };
    assert.equal(out.service.status, 'DRAINING');
    await kit.scheduler.reconcileOnce();
    assert.equal(live(await kit.tasks()).length, 0);
    assert.equal((await service(kit)).status, 'DRAINING', 'still draining while tasks stop');
    await sim.finishStops(kit);
    await kit.scheduler.reconcileOnce();
    assert.equal((await service(kit)).status, 'INACTIVE');
    // The name can be used again.
    await createService({ desiredCount: 0 });
    assert.equal((await service(kit)).status, 'ACTIVE');
  });

  test('STOPPED tasks are deleted after the retention time', async () => {
    await createService({ desiredCount: 1 });
    await kit.scheduler.reconcileOnce();
    await sim.failStarts(kit);
    await kit.clock.advance(61 * 60 * 1000);
    await kit.scheduler.reconcileOnce();
    const tasks = await kit.tasks();
    assert.ok(tasks.every((t) => t.lastStatus !== 'STOPPED'));
  });
});
