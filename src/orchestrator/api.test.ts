import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REGISTRY_MESSAGES } from './registries.ts';
import { NETWORK, openKit, taskDefinitionBody, type Kit } from './testkit.ts';
import { ecs } from './ops/index.ts';

type Out = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function rejects(p: Promise<unknown>, code: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: { code?: string; message?: string }) => {
    assert.equal(err.code, code, `code (message: ${err.message})`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message!, message);
    return true;
  });
}

describe('EcsApi', () => {
  let kit: Kit;
  beforeEach(async () => {
    kit = await openKit();
  });
  afterEach(async () => {
    await kit.close();
  });

  test('clusters: create is idempotent, default name, describe failures, delete', async () => {
    const a = (await ecs(kit.api).CreateCluster({})) as Out;
    assert.equal(a.cluster.clusterName, 'default');
    assert.equal(a.cluster.clusterArn, 'arn:aws:ecs:us-east-1:000000000000:cluster/default');
    assert.equal(a.cluster.status, 'ACTIVE');
    const again = (await ecs(kit.api).CreateCluster({ clusterName: 'default' })) as Out;
    assert.deepEqual(again.cluster.clusterArn, a.cluster.clusterArn);
    const d = (await ecs(kit.api).DescribeClusters({ clusters: ['default', 'nope', 'arn:aws:ecs:us-east-1:000000000000:cluster/default'] })) as Out;
    assert.equal(d.clusters.length, 2);
    assert.deepEqual(d.failures, [{ arn: 'arn:aws:ecs:us-east-1:000000000000:cluster/nope', reason: 'MISSING' }]);
    assert.deepEqual(((await ecs(kit.api).ListClusters({})) as Out).clusterArns, [a.cluster.clusterArn]);
    await rejects(ecs(kit.api).CreateCluster({ clusterName: 'bad name' }), 'InvalidParameterException');
    await rejects(ecs(kit.api).RunTask({ cluster: 'nope', taskDefinition: 'x' }), 'ClusterNotFoundException', 'Cluster not found.');
    const del = (await ecs(kit.api).DeleteCluster({ cluster: 'default' })) as Out;
    assert.equal(del.cluster.status, 'INACTIVE');
    assert.deepEqual(((await ecs(kit.api).ListClusters({})) as Out).clusterArns, []);
    await rejects(ecs(kit.api).ListServices({}), 'ClusterNotFoundException');
  });

  test('task definitions: revisions, defaults, describe by family, deregister, list', async () => {
    const one = (await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody())) as Out;
    const td = one.taskDefinition;
    assert.equal(td.taskDefinitionArn, 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1');
    assert.equal(td.revision, 1);
    assert.equal(td.status, 'ACTIVE');
    assert.equal(td.networkMode, 'awsvpc');
    assert.deepEqual(td.compatibilities, ['EC2']);
    const c = td.containerDefinitions[0];
    assert.equal(c.essential, true);
    assert.deepEqual(c.portMappings, [{ containerPort: 8080, hostPort: 8080, protocol: 'tcp' }]);
    assert.equal(typeof td.registeredAt, 'number');
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody());
    assert.equal(((await ecs(kit.api).DescribeTaskDefinition({ taskDefinition: 'web' })) as Out).taskDefinition.revision, 2);
    await ecs(kit.api).DeregisterTaskDefinition({ taskDefinition: 'web:2' });
    assert.equal(((await ecs(kit.api).DescribeTaskDefinition({ taskDefinition: 'web' })) as Out).taskDefinition.revision, 1, 'latest ACTIVE');
    assert.equal(((await ecs(kit.api).DescribeTaskDefinition({ taskDefinition: 'web:2' })) as Out).taskDefinition.status, 'INACTIVE');
    const three = (await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody())) as Out;
    assert.equal(three.taskDefinition.revision, 3, 'revisions are never reused');
    await rejects(ecs(kit.api).DeregisterTaskDefinition({ taskDefinition: 'web' }), 'InvalidParameterException');
    await rejects(ecs(kit.api).DescribeTaskDefinition({ taskDefinition: 'nope' }), 'ClientException', 'Unable to describe task definition.');
    const list = (await ecs(kit.api).ListTaskDefinitions({ maxResults: 1 })) as Out;
    assert.deepEqual(list.taskDefinitionArns, ['arn:aws:ecs:us-east-1:000000000000:task-definition/web:1']);
    const page2 = (await ecs(kit.api).ListTaskDefinitions({ maxResults: 1, nextToken: list.nextToken })) as Out;
    assert.deepEqual(page2.taskDefinitionArns, ['arn:aws:ecs:us-east-1:000000000000:task-definition/web:3']);
    assert.equal(page2.nextToken, undefined);
    assert.deepEqual(((await ecs(kit.api).ListTaskDefinitions({ status: 'INACTIVE' })) as Out).taskDefinitionArns, ['arn:aws:ecs:us-east-1:000000000000:task-definition/web:2']);
  });

  const badTaskDefinitions: { name: string; body: Record<string, unknown>; code: string; message?: string | RegExp }[] = [
    { name: 'no family', body: { containerDefinitions: [{ name: 'a', image: 'x' }] }, code: 'ClientException' },
    { name: 'bad family', body: { family: 'a b', containerDefinitions: [{ name: 'a', image: 'x' }] }, code: 'ClientException' },
    { name: 'no containers', body: { family: 'f' }, code: 'ClientException' },
    { name: 'no image', body: { family: 'f', containerDefinitions: [{ name: 'a' }] }, code: 'ClientException', message: 'Container.image should not be null or empty.' },
    { name: 'no name', body: { family: 'f', containerDefinitions: [{ image: 'x' }] }, code: 'ClientException', message: 'Container.name should not be null or empty.' },
    { name: 'duplicate names', body: { family: 'f', containerDefinitions: [{ name: 'a', image: 'x' }, { name: 'a', image: 'x' }] }, code: 'ClientException' },
    { name: 'no essential container', body: { family: 'f', containerDefinitions: [{ name: 'a', image: 'x', essential: false }] }, code: 'ClientException' },
    { name: 'bad network mode', body: { family: 'f', networkMode: 'nat', containerDefinitions: [{ name: 'a', image: 'x' }] }, code: 'InvalidParameterException' },
    { name: 'awsvpc host port differs', body: taskDefinitionBody({}, { portMappings: [{ containerPort: 80, hostPort: 81 }] }), code: 'InvalidParameterException', message: /must match/ },
    { name: 'port out of range', body: taskDefinitionBody({}, { portMappings: [{ containerPort: 70000 }] }), code: 'InvalidParameterException' },
    { name: 'health check interval too short', body: taskDefinitionBody({}, { healthCheck: { command: ['CMD', 'true'], interval: 1 } }), code: 'ClientException' },
    { name: 'health check bad kind', body: taskDefinitionBody({}, { healthCheck: { command: ['RUN', 'true'] } }), code: 'ClientException' },
    { name: 'health check retries', body: taskDefinitionBody({}, { healthCheck: { command: ['CMD', 'true'], retries: 11 } }), code: 'ClientException' },
    { name: 'fargate without awsvpc', body: { family: 'f', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512', containerDefinitions: [{ name: 'a', image: 'x' }] }, code: 'ClientException' },
    { name: 'environment not a list', body: taskDefinitionBody({}, { environment: 'A=1' }), code: 'InvalidParameterException' },
    { name: 'command not strings', body: taskDefinitionBody({}, { command: [1, 2] }), code: 'InvalidParameterException' },
  ];
  for (const c of badTaskDefinitions) {
    test(`RegisterTaskDefinition rejects: ${c.name}`, async () => {
      await rejects(ecs(kit.api).RegisterTaskDefinition(c.body), c.code, c.message);
    });
  }

  test('TagResource, UntagResource, ListTagsForResource', async () => {
    const { cluster } = (await ecs(kit.api).CreateCluster({ clusterName: 'c', tags: [{ key: 'team', value: 'a' }] })) as Out;
    assert.deepEqual(((await ecs(kit.api).ListTagsForResource({ resourceArn: cluster.clusterArn })) as Out).tags, [{ key: 'team', value: 'a' }]);
    assert.deepEqual(await ecs(kit.api).TagResource({ resourceArn: cluster.clusterArn, tags: [{ key: 'team', value: 'b' }, { key: 'env', value: 'dev' }] }), {});
    assert.deepEqual(((await ecs(kit.api).ListTagsForResource({ resourceArn: cluster.clusterArn })) as Out).tags, [{ key: 'team', value: 'b' }, { key: 'env', value: 'dev' }]);
    await ecs(kit.api).UntagResource({ resourceArn: cluster.clusterArn, tagKeys: ['team', 'nope'] });
    const described = (await ecs(kit.api).DescribeClusters({ clusters: ['c'], include: ['TAGS'] })) as Out;
    assert.deepEqual(described.clusters[0].tags, [{ key: 'env', value: 'dev' }]);
    const { taskDefinition } = (await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody())) as Out;
    await ecs(kit.api).TagResource({ resourceArn: taskDefinition.taskDefinitionArn, tags: [{ key: 'k', value: 'v' }] });
    assert.deepEqual(((await ecs(kit.api).ListTagsForResource({ resourceArn: taskDefinition.taskDefinitionArn })) as Out).tags, [{ key: 'k', value: 'v' }]);
    await rejects(ecs(kit.api).ListTagsForResource({ resourceArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/ghost' }), 'ResourceNotFoundException');
    await rejects(ecs(kit.api).TagResource({ resourceArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/ghost', tags: [{ key: 'a', value: 'b' }] }), 'ResourceNotFoundException');
    await rejects(ecs(kit.api).ListTagsForResource({ resourceArn: 'not-an-arn' }), 'InvalidParameterException');
    await rejects(ecs(kit.api).TagResource({ resourceArn: cluster.clusterArn, tags: [] }), 'InvalidParameterException');
  });

  test('bodies that are not objects are rejected, never crash', async () => {
    for (const bad of [42, 'x', [1], true]) {
      await rejects(ecs(kit.api).CreateCluster(bad), 'InvalidParameterException');
      await rejects(ecs(kit.api).DescribeTasks(bad), 'InvalidParameterException');
    }
  });

  describe('serviceRegistries (docs/compatibility.md#service-registries)', () => {
    const A = 'srv-aaaaaaaaaaaaaaaa';
    const SRV = 'srv-ssssssssssssssss';
    const ASRV = 'srv-bbbbbbbbbbbbbbbb';
    const cases: { name: string; mode: string; registry: (arns: Record<string, string>) => Record<string, unknown>; message?: string | RegExp; network?: boolean }[] = [
      { name: 'awsvpc + A only, no port: ok', mode: 'awsvpc', registry: (a) => ({ registryArn: a[A] }) },
      { name: 'awsvpc + A only + containerPort', mode: 'awsvpc', registry: (a) => ({ registryArn: a[A], containerName: 'app', containerPort: 8080 }), message: REGISTRY_MESSAGES.containerPortNotRequired },
      { name: 'awsvpc + A only + port', mode: 'awsvpc', registry: (a) => ({ registryArn: a[A], port: 8080 }), message: REGISTRY_MESSAGES.portNotRequired },
      { name: 'awsvpc + A+SRV + port: ok', mode: 'awsvpc', registry: (a) => ({ registryArn: a[ASRV], port: 8080 }) },
      { name: 'awsvpc + A+SRV + container: ok', mode: 'awsvpc', registry: (a) => ({ registryArn: a[ASRV], containerName: 'app', containerPort: 8080 }) },
      { name: 'awsvpc + SRV + both', mode: 'awsvpc', registry: (a) => ({ registryArn: a[SRV], port: 1, containerName: 'app', containerPort: 8080 }), message: REGISTRY_MESSAGES.portAndContainer },
      { name: 'awsvpc + SRV + neither', mode: 'awsvpc', registry: (a) => ({ registryArn: a[SRV] }), message: REGISTRY_MESSAGES.srvNeedsPort },
      { name: 'awsvpc + SRV + unknown container', mode: 'awsvpc', registry: (a) => ({ registryArn: a[SRV], containerName: 'nope', containerPort: 8080 }), message: /does not exist/ },
      { name: 'awsvpc + SRV + unknown port', mode: 'awsvpc', registry: (a) => ({ registryArn: a[SRV], containerName: 'app', containerPort: 9 }), message: /did not have a container port 9/ },
      { name: 'bridge + A only', mode: 'bridge', registry: (a) => ({ registryArn: a[A], containerName: 'app', containerPort: 8080 }), message: REGISTRY_MESSAGES.bridgeNeedsSrv },
      { name: 'bridge + SRV without container', mode: 'bridge', registry: (a) => ({ registryArn: a[SRV], port: 8080 }), message: REGISTRY_MESSAGES.bridgeNeedsContainer },
      { name: 'host + SRV + container: ok', mode: 'host', registry: (a) => ({ registryArn: a[SRV], containerName: 'app', containerPort: 8080 }) },
      { name: 'unknown registry', mode: 'awsvpc', registry: () => ({ registryArn: 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-zzzzzzzzzzzzzzzz' }), message: /does not exist/ },
      { name: 'not a Cloud Map service ARN', mode: 'awsvpc', registry: () => ({ registryArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/x' }), message: /not the ARN of a Cloud Map service/ },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const arns = { [A]: kit.addCloudMapService(A, ['A']), [SRV]: kit.addCloudMapService(SRV, ['SRV']), [ASRV]: kit.addCloudMapService(ASRV, ['A', 'SRV']) };
        await ecs(kit.api).CreateCluster({});
        await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody({ networkMode: c.mode }));
        const call = ecs(kit.api).CreateService({
          serviceName: 'web',
          taskDefinition: 'web',
          desiredCount: 1,
          serviceRegistries: [c.registry(arns)],
          ...(c.mode === 'awsvpc' ? { networkConfiguration: NETWORK } : {}),
        });
        if (c.message) await rejects(call, 'InvalidParameterException', c.message);
        else assert.equal(((await call) as Out).service.status, 'ACTIVE');
      });
    }
  });

  test('CreateService: defaults, awsvpc network rules, idempotency, describe failures', async () => {
    await ecs(kit.api).CreateCluster({});
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody());
    await rejects(
      ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 1 }),
      'InvalidParameterException',
      "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    );
    await rejects(ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'nope', desiredCount: 1, networkConfiguration: NETWORK }), 'ClientException');
    await rejects(ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', networkConfiguration: NETWORK }), 'InvalidParameterException');
    await rejects(ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 1, networkConfiguration: { awsvpcConfiguration: { subnets: [] } } }), 'InvalidParameterException');
    const out = (await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 2, networkConfiguration: NETWORK, clientToken: 'tok' })) as Out;
    const s = out.service;
    assert.equal(s.serviceArn, 'arn:aws:ecs:us-east-1:000000000000:service/default/web');
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.runningCount, 0);
    assert.equal(s.launchType, 'EC2');
    assert.equal(s.schedulingStrategy, 'REPLICA');
    assert.deepEqual(s.deploymentConfiguration, { maximumPercent: 200, minimumHealthyPercent: 100, deploymentCircuitBreaker: { enable: false, rollback: false } });
    assert.equal(s.deployments.length, 1);
    assert.equal(s.deployments[0].status, 'PRIMARY');
    assert.equal(s.deployments[0].rolloutState, 'IN_PROGRESS');
    assert.equal(s.healthCheckGracePeriodSeconds, 0);
    const retry = (await ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 2, networkConfiguration: NETWORK, clientToken: 'tok' })) as Out;
    assert.equal(retry.service.deployments[0].id, s.deployments[0].id);
    await rejects(ecs(kit.api).CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: 3, networkConfiguration: NETWORK }), 'InvalidParameterException', 'Creation of service was not idempotent.');
    const d = (await ecs(kit.api).DescribeServices({ services: ['web', 'ghost'] })) as Out;
    assert.equal(d.services.length, 1);
    assert.deepEqual(d.failures, [{ arn: 'arn:aws:ecs:us-east-1:000000000000:service/default/ghost', reason: 'MISSING' }]);
    await rejects(ecs(kit.api).UpdateService({ service: 'ghost' }), 'ServiceNotFoundException', 'Service not found.');
    await ecs(kit.api).DeleteService({ service: 'web', force: true });
    await rejects(ecs(kit.api).UpdateService({ service: 'web', desiredCount: 1 }), 'ServiceNotActiveException', 'Service was not ACTIVE.');
  });

  test('RunTask, StopTask, ListTasks, DescribeTasks', async () => {
    await ecs(kit.api).CreateCluster({});
    await ecs(kit.api).RegisterTaskDefinition(taskDefinitionBody());
    await rejects(ecs(kit.api).RunTask({ taskDefinition: 'web' }), 'InvalidParameterException', /Network Configuration must be provided/);
    await rejects(ecs(kit.api).RunTask({ taskDefinition: 'web', count: 11, networkConfiguration: NETWORK }), 'InvalidParameterException');
    await rejects(ecs(kit.api).RunTask({ taskDefinition: 'web', networkConfiguration: NETWORK, overrides: { containerOverrides: [{ name: 'zzz' }] } }), 'InvalidParameterException');
    const run = (await ecs(kit.api).RunTask({ taskDefinition: 'web', count: 2, networkConfiguration: NETWORK, startedBy: 'me' })) as Out;
    assert.equal(run.tasks.length, 2);
    assert.deepEqual(run.failures, []);
    const t = run.tasks[0];
    assert.match(t.taskArn, /^arn:aws:ecs:us-east-1:000000000000:task\/default\/[a-f0-9]{32}$/);
    assert.equal(t.lastStatus, 'PROVISIONING');
    assert.equal(t.desiredStatus, 'RUNNING');
    assert.equal(t.group, 'family:web');
    assert.match(t.containers[0].containerArn, /^arn:aws:ecs:us-east-1:000000000000:container\/default\/[a-f0-9]{32}\/[0-9a-f-]{36}$/);
    assert.equal(t.attachments[0].type, 'ElasticNetworkInterface');
    const listed = (await ecs(kit.api).ListTasks({ startedBy: 'me' })) as Out;
    assert.equal(listed.taskArns.length, 2);
    await rejects(ecs(kit.api).ListTasks({ startedBy: 'me', family: 'web' }), 'InvalidParameterException');
    await rejects(ecs(kit.api).ListTasks({ serviceName: 'ghost' }), 'ServiceNotFoundException');
    const stop = (await ecs(kit.api).StopTask({ task: t.taskArn, reason: 'done' })) as Out;
    assert.equal(stop.task.desiredStatus, 'STOPPED');
    assert.equal(stop.task.stopCode, 'UserInitiated');
    assert.equal(stop.task.stoppedReason, 'done');
    assert.equal(((await ecs(kit.api).ListTasks({})) as Out).taskArns.length, 1);
    assert.equal(((await ecs(kit.api).ListTasks({ desiredStatus: 'STOPPED' })) as Out).taskArns.length, 1);
    await rejects(ecs(kit.api).StopTask({ task: 'ffffffffffffffffffffffffffffffff' }), 'InvalidParameterException', 'The referenced task was not found.');
    const d = (await ecs(kit.api).DescribeTasks({ tasks: [t.taskArn.split('/').pop(), 'nope'] })) as Out;
    assert.equal(d.tasks.length, 1);
    assert.equal(d.failures[0].reason, 'MISSING');
    await rejects(ecs(kit.api).DescribeTasks({ tasks: [] }), 'InvalidParameterException');
  });
});
