/**
 * Instances, health and discovery through `@aws-sdk/client-servicediscovery`
 * (docs/compatibility.md#instances, #health, #discoverinstances; conformance cases 10-19, 23).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpNamespace, privateNamespace, register, rejectsWith, startTestServer, waitOp, type TestServer } from './helpers.ts';

describe('instances', () => {
  let s: TestServer;
  let webId = '';
  let apiId = '';
  before(async () => {
    s = await startTestServer();
    const ns = await privateNamespace(s.sd, 'demo.local');
    webId = (
      await s.sd.createService({
        Name: 'web',
        NamespaceId: ns,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
      })
    ).Service!.Id!;
    const httpNs = await httpNamespace(s.sd, 'demo-http');
    apiId = (await s.sd.createService({ Name: 'api', NamespaceId: httpNs })).Service!.Id!;
  });
  after(() => s.destroy());

  test('an A service needs AWS_INSTANCE_IPV4 (case 10); other attribute rules', async () => {
    await rejectsWith(() => s.sd.registerInstance({ ServiceId: webId, InstanceId: 'i1', Attributes: { color: 'blue' } }), 'InvalidInput');
    const bad: Record<string, string>[] = [
      { AWS_INSTANCE_IPV4: 'not-an-ip' },
      { AWS_INSTANCE_IPV4: '198.18.0.1', AWS_INIT_HEALTH_STATUS: 'MAYBE' },
      { AWS_INSTANCE_IPV4: '198.18.0.1', 'bad key': 'x' },
      { AWS_INSTANCE_IPV4: '198.18.0.1', big: 'x'.repeat(1025) },
      { AWS_INSTANCE_IPV4: '198.18.0.1', ...Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, 'v'])) },
    ];
    for (const attributes of bad) {
      await rejectsWith(() => s.sd.registerInstance({ ServiceId: webId, InstanceId: 'i1', Attributes: attributes }), 'InvalidInput');
    }
    await rejectsWith(() => s.sd.registerInstance({ ServiceId: webId, InstanceId: 'bad id!', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1' } }), 'InvalidInput');
    await rejectsWith(() => s.sd.registerInstance({ ServiceId: 'srv-doesnotexist000', InstanceId: 'i1', Attributes: {} }), 'ServiceNotFound');
  });

  test('RegisterInstance → REGISTER_INSTANCE; ListInstances, GetService count, GetInstance (case 11)', async () => {
    const { OperationId } = await s.sd.registerInstance({
      ServiceId: webId,
      InstanceId: 'i1',
      CreatorRequestId: 'reg-i1',
      Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' },
    });
    const op = await waitOp(s.sd, OperationId);
    assert.equal(op.Type, 'REGISTER_INSTANCE');
    assert.equal(op.Targets!['INSTANCE'], 'i1');

    const list = await s.sd.listInstances({ ServiceId: webId });
    assert.equal(list.ResourceOwner, '000000000000');
    assert.deepEqual(list.Instances, [{ Id: 'i1', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' }, CreatedByAccount: '000000000000' }]);
    assert.equal((await s.sd.getService({ Id: webId })).Service?.InstanceCount, 1);
    const got = await s.sd.getInstance({ ServiceId: webId, InstanceId: 'i1' });
    assert.equal(got.ResourceOwner, '000000000000');
    assert.equal(got.Instance?.Id, 'i1');
    assert.equal(got.Instance?.CreatorRequestId, 'reg-i1');
    assert.deepEqual(got.Instance?.Attributes, { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' });
  });

  test('same CreatorRequestId and attributes after completion returns the same operation', async () => {
    const again = await s.sd.registerInstance({
      ServiceId: webId,
      InstanceId: 'i1',
      CreatorRequestId: 'reg-i1',
      Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' },
    });
    const ops = (await s.sd.listOperations({ Filters: [{ Name: 'TYPE', Values: ['REGISTER_INSTANCE'] }] })).Operations!;
    assert.ok(ops.some((o) => o.Id === again.OperationId));
    assert.equal((await s.sd.getOperation({ OperationId: again.OperationId })).Operation?.Targets?.['INSTANCE'], 'i1');
  });

  test('DiscoverInstances: custom health starts HEALTHY (case 12)', async () => {
    const r = await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web' });
    assert.equal(r.Instances?.length, 1);
    assert.deepEqual(r.Instances?.[0], {
      InstanceId: 'i1',
      NamespaceName: 'demo.local',
      ServiceName: 'web',
      HealthStatus: 'HEALTHY',
      Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' },
    });
    assert.ok(Number.isSafeInteger(r.InstancesRevision));
  });

  test('custom health: UNHEALTHY filters, revision unchanged by health, larger after a registration (cases 13, 14)', async () => {
    const before = (await s.sd.discoverInstancesRevision({ NamespaceName: 'demo.local', ServiceName: 'web' })).InstancesRevision!;
    const out = await s.sd.updateInstanceCustomHealthStatus({ ServiceId: webId, InstanceId: 'i1', Status: 'UNHEALTHY' });
    assert.deepEqual(Object.keys(out).filter((k) => k !== '$metadata'), []);
    assert.deepEqual((await s.sd.getInstancesHealthStatus({ ServiceId: webId })).Status, { i1: 'UNHEALTHY' });
    assert.deepEqual((await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus: 'HEALTHY' })).Instances, []);
    assert.deepEqual((await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web' })).Instances, [], 'no HealthStatus means HEALTHY');
    for (const HealthStatus of ['ALL', 'HEALTHY_OR_ELSE_ALL', 'UNHEALTHY'] as const) {
      const r = await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus });
      assert.deepEqual(r.Instances?.map((i) => [i.InstanceId, i.HealthStatus]), [['i1', 'UNHEALTHY']], HealthStatus);
    }
    const same = (await s.sd.discoverInstancesRevision({ NamespaceName: 'demo.local', ServiceName: 'web' })).InstancesRevision!;
    assert.equal(same, before, 'health changes do not move InstancesRevision');

    // Case 15: AWS_INIT_HEALTH_STATUS=UNHEALTHY starts unhealthy and stays an attribute.
    await register(s.sd, webId, 'i2', { AWS_INSTANCE_IPV4: '198.18.0.2', color: 'green', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' });
    assert.deepEqual((await s.sd.getInstancesHealthStatus({ ServiceId: webId, Instances: ['i2'] })).Status, { i2: 'UNHEALTHY' });
    assert.equal((await s.sd.getInstance({ ServiceId: webId, InstanceId: 'i2' })).Instance?.Attributes?.['AWS_INIT_HEALTH_STATUS'], 'UNHEALTHY');
    const afterReg = (await s.sd.discoverInstancesRevision({ NamespaceName: 'demo.local', ServiceName: 'web' })).InstancesRevision!;
    assert.ok(afterReg > before, `${afterReg} > ${before}`);

    await s.sd.updateInstanceCustomHealthStatus({ ServiceId: webId, InstanceId: 'i1', Status: 'HEALTHY' });
    const healthy = await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus: 'HEALTHY_OR_ELSE_ALL' });
    assert.deepEqual(healthy.Instances?.map((i) => i.InstanceId), ['i1']);
  });

  test('query parameters are ANDed, optional ones ignored when nothing matches (case 16)', async () => {
    const q = (QueryParameters: Record<string, string>, OptionalParameters?: Record<string, string>) =>
      s.sd
        .discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus: 'ALL', QueryParameters, OptionalParameters })
        .then((r) => r.Instances!.map((i) => i.InstanceId).sort());
    assert.deepEqual(await q({ color: 'blue' }, { color2: 'x' }), ['i1']);
    assert.deepEqual(await q({ color: 'blue', AWS_INSTANCE_IPV4: '198.18.0.2' }), []);
    assert.deepEqual(await q({}, { color: 'green' }), ['i2']);
    assert.deepEqual(await q({}), ['i1', 'i2']);
    const one = await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus: 'ALL', MaxResults: 1 });
    assert.equal(one.Instances?.length, 1);
  });

  test('DiscoverInstances errors: NamespaceNotFound, ServiceNotFound, InvalidInput for an enum violation (case 23)', async () => {
    await rejectsWith(() => s.sd.discoverInstances({ NamespaceName: 'nope.local', ServiceName: 'web' }), 'NamespaceNotFound');
    await rejectsWith(() => s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'nope' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.discoverInstancesRevision({ NamespaceName: 'nope.local', ServiceName: 'web' }), 'NamespaceNotFound');
    await rejectsWith(() => s.sd.discoverInstancesRevision({ NamespaceName: 'demo.local', ServiceName: 'nope' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus: 'BOGUS' as never }), 'InvalidInput');
    await rejectsWith(() => s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', MaxResults: 1001 }), 'InvalidInput');
  });

  test('no health config: CustomHealthNotFound, UNKNOWN, filter ignored (case 17)', async () => {
    await register(s.sd, apiId, 'a1', {});
    await rejectsWith(() => s.sd.updateInstanceCustomHealthStatus({ ServiceId: apiId, InstanceId: 'a1', Status: 'HEALTHY' }), 'CustomHealthNotFound');
    const r = await s.sd.discoverInstances({ NamespaceName: 'demo-http', ServiceName: 'api', HealthStatus: 'UNHEALTHY' });
    assert.deepEqual(r.Instances?.map((i) => [i.InstanceId, i.HealthStatus]), [['a1', 'UNKNOWN']]);
    assert.deepEqual((await s.sd.getInstancesHealthStatus({ ServiceId: apiId })).Status, { a1: 'UNKNOWN' });
  });

  test('not-found errors of instance operations', async () => {
    await rejectsWith(() => s.sd.getInstance({ ServiceId: webId, InstanceId: 'nope' }), 'InstanceNotFound');
    await rejectsWith(() => s.sd.getInstance({ ServiceId: 'srv-doesnotexist000', InstanceId: 'i1' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.listInstances({ ServiceId: 'srv-doesnotexist000' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.getInstancesHealthStatus({ ServiceId: webId, Instances: ['nope'] }), 'InstanceNotFound');
    await rejectsWith(() => s.sd.getInstancesHealthStatus({ ServiceId: 'srv-doesnotexist000' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.updateInstanceCustomHealthStatus({ ServiceId: webId, InstanceId: 'nope', Status: 'HEALTHY' }), 'InstanceNotFound');
    await rejectsWith(() => s.sd.updateInstanceCustomHealthStatus({ ServiceId: 'srv-doesnotexist000', InstanceId: 'i1', Status: 'HEALTHY' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.deregisterInstance({ ServiceId: 'srv-doesnotexist000', InstanceId: 'i1' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.deregisterInstance({ ServiceId: webId, InstanceId: 'nope' }), 'InstanceNotFound');
  });

  test('ListInstances and GetInstancesHealthStatus page with distinct tokens', async () => {
    for (let i = 0; i < 5; i++) await register(s.sd, apiId, `p${i}`, { n: String(i) });
    const all = (await s.sd.listInstances({ ServiceId: apiId })).Instances!.map((i) => i.Id!).sort();
    assert.equal(all.length, 6);
    const seen: string[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await s.sd.listInstances({ ServiceId: apiId, MaxResults: 2, NextToken: token });
      seen.push(...page.Instances!.map((i) => i.Id!));
      token = page.NextToken;
      if (token) {
        assert.ok(!tokens.has(token));
        tokens.add(token);
      }
    } while (token);
    assert.deepEqual(seen.sort(), all);

    const health: string[] = [];
    token = undefined;
    do {
      const page: { Status?: Record<string, string>; NextToken?: string } = await s.sd.getInstancesHealthStatus({ ServiceId: apiId, MaxResults: 4, NextToken: token });
      health.push(...Object.keys(page.Status ?? {}));
      token = page.NextToken;
    } while (token);
    assert.deepEqual(health.sort(), all);
  });

  test('re-registering replaces the attributes completely', async () => {
    await register(s.sd, apiId, 'p0', { other: 'x' });
    assert.deepEqual((await s.sd.getInstance({ ServiceId: apiId, InstanceId: 'p0' })).Instance?.Attributes, { other: 'x' });
  });

  test('deregister, then delete service and namespace (case 19)', async () => {
    for (const id of ['i1', 'i2']) {
      const op = await waitOp(s.sd, (await s.sd.deregisterInstance({ ServiceId: webId, InstanceId: id })).OperationId);
      assert.equal(op.Type, 'DEREGISTER_INSTANCE');
      assert.equal(op.Targets!['INSTANCE'], id);
    }
    await rejectsWith(() => s.sd.getInstance({ ServiceId: webId, InstanceId: 'i1' }), 'InstanceNotFound');
    assert.deepEqual((await s.sd.discoverInstances({ NamespaceName: 'demo.local', ServiceName: 'web', HealthStatus: 'ALL' })).Instances, []);
    assert.equal((await s.sd.getService({ Id: webId })).Service?.InstanceCount, 0);
    await s.sd.deleteService({ Id: webId });
    const nsId = (await s.sd.listNamespaces({ Filters: [{ Name: 'NAME', Values: ['demo.local'] }] })).Namespaces![0]!.Id!;
    await waitOp(s.sd, (await s.sd.deleteNamespace({ Id: nsId })).OperationId);
    await rejectsWith(() => s.sd.getNamespace({ Id: nsId }), 'NamespaceNotFound');
  });
});

describe('instance quotas', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer({ maxInstancesPerService: 2, maxInstancesPerNamespace: 3 })));
  after(() => s.destroy());

  test('ResourceLimitExceeded per service and per namespace', async () => {
    const ns = await httpNamespace(s.sd, 'quota');
    const a = (await s.sd.createService({ Name: 'a', NamespaceId: ns })).Service!.Id!;
    const b = (await s.sd.createService({ Name: 'b', NamespaceId: ns })).Service!.Id!;
    await register(s.sd, a, 'a1', {});
    await register(s.sd, a, 'a2', {});
    await rejectsWith(() => s.sd.registerInstance({ ServiceId: a, InstanceId: 'a3', Attributes: {} }), 'ResourceLimitExceeded');
    await register(s.sd, a, 'a2', { updated: 'yes' }); // an update is not a new instance
    await register(s.sd, b, 'b1', {});
    await rejectsWith(() => s.sd.registerInstance({ ServiceId: b, InstanceId: 'b2', Attributes: {} }), 'ResourceLimitExceeded');
  });
});

describe('pending registrations (--op-delay)', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer({ opDelayMs: 700 })));
  after(() => s.destroy());

  test('a second register of the same instance while one is pending is DuplicateRequest', async () => {
    const ns = await httpNamespace(s.sd, 'slow');
    const svc = (await s.sd.createService({ Name: 'svc', NamespaceId: ns })).Service!.Id!;
    const first = await s.sd.registerInstance({ ServiceId: svc, InstanceId: 'x', Attributes: {} });
    const status = (await s.sd.getOperation({ OperationId: first.OperationId })).Operation?.Status;
    assert.ok(status === 'SUBMITTED' || status === 'PENDING', String(status));
    const e = await rejectsWith(() => s.sd.registerInstance({ ServiceId: svc, InstanceId: 'x', Attributes: { v: '2' } }), 'DuplicateRequest');
    assert.equal(e['DuplicateOperationId'], first.OperationId);
    assert.deepEqual((await s.sd.listInstances({ ServiceId: svc })).Instances, [], 'not visible before SUCCESS');
    await waitOp(s.sd, first.OperationId);
    assert.equal((await s.sd.listInstances({ ServiceId: svc })).Instances?.length, 1);
  });
});
