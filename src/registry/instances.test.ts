import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RAW_JSON } from './discovery.ts';
import { ACCOUNT, completed, httpNamespace, openHarness, privateNamespace, register, rejectsWith, removeDir, service, type Harness } from './testkit.ts';
import { cloudMap } from './ops/index.ts';

type Any = Record<string, any>;

describe('instances, health and discovery', () => {
  let h: Harness;
  let dnsNs: string;
  let httpNs: string;
  let web: { Id: string; Arn: string };
  before(async () => {
    h = await openHarness({ config: { quotas: { instancesPerService: 5, instancesPerNamespace: 7 } } });
    dnsNs = await privateNamespace(h.registry, 'inst.local');
    httpNs = await httpNamespace(h.registry, 'inst-http');
    web = await service(h.registry, {
      Name: 'web',
      NamespaceId: dnsNs,
      DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('RegisterInstance → operation → GetInstance, ListInstances, InstanceCount, DiscoverInstances', async () => {
    const { registry } = h;
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: web.Id, InstanceId: 'i1', Attributes: { color: 'blue' } }), 'InvalidInput', undefined, /AWS_INSTANCE_IPV4: is required/);
    const op = await register(registry, web.Id, 'i1', { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' });
    assert.equal(op.type, 'REGISTER_INSTANCE');
    assert.deepEqual(op.targets, { INSTANCE: 'i1', SERVICE: web.Id });
    const got = (await cloudMap(registry).GetInstance({ ServiceId: web.Arn, InstanceId: 'i1' })) as Any;
    assert.deepEqual(got, { ResourceOwner: ACCOUNT, Instance: { Id: 'i1', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' }, CreatedByAccount: ACCOUNT } });
    const listed = (await cloudMap(registry).ListInstances({ ServiceId: web.Id })) as Any;
    assert.deepEqual(listed, { ResourceOwner: ACCOUNT, Instances: [{ Id: 'i1', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' }, CreatedByAccount: ACCOUNT }] });
    assert.equal(((await cloudMap(registry).GetService({ Id: web.Id })) as Any).Service.InstanceCount, 1);
    const found = (await cloudMap(registry).DiscoverInstances({ NamespaceName: 'inst.local', ServiceName: 'web' })) as Any;
    assert.deepEqual(found.Instances, [
      { InstanceId: 'i1', NamespaceName: 'inst.local', ServiceName: 'web', HealthStatus: 'HEALTHY', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' } },
    ]);
    assert.ok(Number.isInteger(found.InstancesRevision) && found.InstancesRevision > 0);
    // The pre-serialized body says exactly what the object says.
    assert.deepEqual(JSON.parse((found as Record<symbol, string>)[RAW_JSON]!), JSON.parse(JSON.stringify(found)));
    assert.deepEqual(await cloudMap(registry).DiscoverInstancesRevision({ NamespaceName: 'inst.local', ServiceName: 'web' }), { InstancesRevision: found.InstancesRevision });
  });

  test('cached DiscoverInstances answers follow every change and stay random', async () => {
    const { registry } = h;
    const svc = await service(registry, { Name: 'cache', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] }, HealthCheckCustomConfig: {} });
    const q = { NamespaceName: 'inst.local', ServiceName: 'cache' };
    const ids = async (input: Any = q) => ((await cloudMap(registry).DiscoverInstances(input)) as Any).Instances.map((i: Any) => i.InstanceId);
    for (const id of ['c1', 'c2', 'c3']) await register(registry, svc.Id, id, { AWS_INSTANCE_IPV4: '198.18.1.1' });
    assert.deepEqual((await ids()).sort(), ['c1', 'c2', 'c3']);
    // Every ordering is a uniformly random one: over many calls, each instance comes first at least once.
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) firsts.add((await ids())[0]);
    assert.deepEqual([...firsts].sort(), ['c1', 'c2', 'c3']);
    assert.equal((await ids({ ...q, MaxResults: 2 })).length, 2);
    // A health change, a deregistration and a registration each show in the very next answer.
    await cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: svc.Id, InstanceId: 'c2', Status: 'UNHEALTHY' });
    assert.deepEqual((await ids()).sort(), ['c1', 'c3']);
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'c3' }));
    assert.deepEqual(await ids(), ['c1']);
    const out = (await cloudMap(registry).DiscoverInstances(q)) as Any;
    assert.deepEqual(JSON.parse((out as Record<symbol, string>)[RAW_JSON]!), JSON.parse(JSON.stringify(out)));
    await register(registry, svc.Id, 'c4', { AWS_INSTANCE_IPV4: '198.18.1.4' });
    assert.deepEqual((await ids()).sort(), ['c1', 'c4']);
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'c4' }));
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'c1' }));
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'c2' }));
    await cloudMap(registry).DeleteService({ Id: svc.Id });
  });

  test('custom health: immediate change, filters, revision unchanged by health', async () => {
    const { registry } = h;
    const rev0 = ((await cloudMap(registry).DiscoverInstancesRevision({ NamespaceName: 'inst.local', ServiceName: 'web' })) as Any).InstancesRevision;
    assert.deepEqual(await cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'i1', Status: 'UNHEALTHY' }), {});
    assert.deepEqual(await cloudMap(registry).GetInstancesHealthStatus({ ServiceId: web.Id }), { Status: { i1: 'UNHEALTHY' } });
    const q = { NamespaceName: 'inst.local', ServiceName: 'web' };
    assert.deepEqual(((await cloudMap(registry).DiscoverInstances({ ...q, HealthStatus: 'HEALTHY' })) as Any).Instances, []);
    assert.deepEqual(((await cloudMap(registry).DiscoverInstances(q)) as Any).Instances, [], 'omitted HealthStatus behaves as HEALTHY');
    for (const hs of ['ALL', 'HEALTHY_OR_ELSE_ALL', 'UNHEALTHY']) {
      const out = (await cloudMap(registry).DiscoverInstances({ ...q, HealthStatus: hs })) as Any;
      assert.deepEqual(out.Instances.map((i: Any) => [i.InstanceId, i.HealthStatus]), [['i1', 'UNHEALTHY']], hs);
      assert.deepEqual(JSON.parse((out as Record<symbol, string>)[RAW_JSON]!), JSON.parse(JSON.stringify(out)), 'cached JSON follows health changes');
    }
    const rev1 = ((await cloudMap(registry).DiscoverInstancesRevision(q)) as Any).InstancesRevision;
    assert.equal(rev1, rev0, 'health changes do not move InstancesRevision');
    await cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'i1', Status: 'HEALTHY' });
    assert.deepEqual(await cloudMap(registry).GetInstancesHealthStatus({ ServiceId: web.Id, Instances: ['i1'] }), { Status: { i1: 'HEALTHY' } });

    // Register i2 with AWS_INIT_HEALTH_STATUS=UNHEALTHY: unhealthy at once, attribute kept; revision grows.
    await register(registry, web.Id, 'i2', { AWS_INSTANCE_IPV4: '198.18.0.2', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY', color: 'red' });
    assert.deepEqual(await cloudMap(registry).GetInstancesHealthStatus({ ServiceId: web.Id, Instances: ['i2'] }), { Status: { i2: 'UNHEALTHY' } });
    assert.equal(((await cloudMap(registry).GetInstance({ ServiceId: web.Id, InstanceId: 'i2' })) as Any).Instance.Attributes.AWS_INIT_HEALTH_STATUS, 'UNHEALTHY');
    const rev2 = ((await cloudMap(registry).DiscoverInstancesRevision(q)) as Any).InstancesRevision;
    assert.ok(rev2 > rev1);

    await rejectsWith(cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'nope', Status: 'HEALTHY' }), 'InstanceNotFound');
    await rejectsWith(cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: 'srv-nope', InstanceId: 'i1', Status: 'HEALTHY' }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'i1', Status: 'UNKNOWN' }), 'InvalidInput', undefined, /^Status: must be one of/);
    await rejectsWith(cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'i1' }), 'InvalidInput', undefined, /^Status: is required/);
  });

  test('DiscoverInstances: query AND, optional parameters, MaxResults, HEALTHY_OR_ELSE_ALL fail-open, lookups', async () => {
    const { registry } = h;
    const q = { NamespaceName: 'inst.local', ServiceName: 'web', HealthStatus: 'ALL' };
    const ids = async (input: Any) => ((await cloudMap(registry).DiscoverInstances(input)) as Any).Instances.map((i: Any) => i.InstanceId).sort();
    assert.deepEqual(await ids({ ...q, QueryParameters: { color: 'blue' } }), ['i1']);
    assert.deepEqual(await ids({ ...q, QueryParameters: { color: 'blue', AWS_INSTANCE_IPV4: '198.18.0.2' } }), []);
    assert.deepEqual(await ids({ ...q, OptionalParameters: { color: 'red' } }), ['i2']);
    assert.deepEqual(await ids({ ...q, OptionalParameters: { color2: 'x' } }), ['i1', 'i2'], 'optional pairs that match nothing are ignored');
    assert.deepEqual(await ids({ ...q, QueryParameters: { color: 'blue' }, OptionalParameters: { color2: 'x' } }), ['i1']);
    assert.equal((await ids({ ...q, MaxResults: 1 })).length, 1);
    assert.deepEqual(await ids({ ...q, HealthStatus: 'HEALTHY' }), ['i1']);
    await cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'i1', Status: 'UNHEALTHY' });
    assert.deepEqual(await ids({ ...q, HealthStatus: 'HEALTHY_OR_ELSE_ALL' }), ['i1', 'i2'], 'none healthy: fail open');
    await cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: web.Id, InstanceId: 'i1', Status: 'HEALTHY' });

    await rejectsWith(cloudMap(registry).DiscoverInstances({ NamespaceName: 'nope.local', ServiceName: 'web' }), 'NamespaceNotFound');
    await rejectsWith(cloudMap(registry).DiscoverInstances({ NamespaceName: 'inst.local', ServiceName: 'WEB' }), 'ServiceNotFound', undefined, /WEB/);
    await rejectsWith(cloudMap(registry).DiscoverInstances({ NamespaceName: 'inst.local', ServiceName: 'web', OwnerAccount: '999999999999' }), 'NamespaceNotFound');
    await rejectsWith(cloudMap(registry).DiscoverInstancesRevision({ NamespaceName: 'inst.local', ServiceName: 'nope' }), 'ServiceNotFound');
    const bad: [Any, RegExp][] = [
      [{ ServiceName: 'web' }, /^NamespaceName: is required/],
      [{ NamespaceName: 'inst.local' }, /^ServiceName: is required/],
      [{ NamespaceName: 'a b', ServiceName: 'web' }, /^NamespaceName: must match/],
      [{ ...q, MaxResults: 0 }, /^MaxResults/],
      [{ ...q, MaxResults: 1001 }, /^MaxResults/],
      [{ ...q, HealthStatus: 'BOGUS' }, /^HealthStatus: must be one of/],
      [{ ...q, QueryParameters: { 'a b': 'x' } }, /^QueryParameters key/],
      [{ ...q, QueryParameters: { a: 5 } }, /^QueryParameters\.a: must be a string/],
      [{ ...q, QueryParameters: ['a'] }, /^QueryParameters: must be an object/],
      [{ ...q, OptionalParameters: { a: ' lead' } }, /^OptionalParameters\.a: must match/],
      [{ ...q, OwnerAccount: '12' }, /^OwnerAccount/],
    ];
    for (const [input, message] of bad) await rejectsWith(cloudMap(registry).DiscoverInstances(input), 'InvalidInput', undefined, message);
  });

  test('services without health config: UNKNOWN, health filter ignored, CustomHealthNotFound', async () => {
    const { registry } = h;
    const api = await service(registry, { Name: 'api', NamespaceId: httpNs });
    await register(registry, api.Id, 'a1', {});
    await rejectsWith(cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: api.Id, InstanceId: 'a1', Status: 'HEALTHY' }), 'CustomHealthNotFound');
    const out = (await cloudMap(registry).DiscoverInstances({ NamespaceName: 'inst-http', ServiceName: 'api', HealthStatus: 'UNHEALTHY' })) as Any;
    assert.deepEqual(out.Instances, [{ InstanceId: 'a1', NamespaceName: 'inst-http', ServiceName: 'api', HealthStatus: 'UNKNOWN', Attributes: {} }]);
    assert.deepEqual(await cloudMap(registry).GetInstancesHealthStatus({ ServiceId: api.Id }), { Status: { a1: 'UNKNOWN' } });
    // A probed service: UNKNOWN until the first result; setHealth writes only changes.
    const probed = await service(registry, { Name: 'probed', NamespaceId: httpNs, HealthCheckConfig: { Type: 'TCP' } });
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: probed.Id, InstanceId: 'p1', Attributes: {} }), 'InvalidInput', undefined, /AWS_INSTANCE_PORT: is required/);
    await register(registry, probed.Id, 'p1', { AWS_INSTANCE_IPV4: '198.18.0.9', AWS_INSTANCE_PORT: '8080' });
    await rejectsWith(cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: probed.Id, InstanceId: 'p1', Status: 'HEALTHY' }), 'CustomHealthNotFound');
    assert.deepEqual(await cloudMap(registry).GetInstancesHealthStatus({ ServiceId: probed.Id }), { Status: { p1: 'UNKNOWN' } });
    assert.equal(await registry.setHealth(probed.Id, 'p1', 'HEALTHY', 'TCP connect ok'), true);
    assert.equal(await registry.setHealth(probed.Id, 'p1', 'HEALTHY', 'TCP connect ok'), false);
    assert.equal(h.snapshot.healthRecord(probed.Id, 'p1')?.reason, 'TCP connect ok');
    assert.equal(await registry.setHealth(probed.Id, 'p1', 'UNHEALTHY', 'connect ECONNREFUSED'), true);
    assert.equal(await registry.setHealth(probed.Id, 'nope', 'UNHEALTHY', 'x'), false);
    assert.equal(await registry.setHealth('srv-nope', 'p1', 'UNHEALTHY', 'x'), false);
    const hs = (await cloudMap(registry).DiscoverInstances({ NamespaceName: 'inst-http', ServiceName: 'probed', HealthStatus: 'UNHEALTHY' })) as Any;
    assert.deepEqual(hs.Instances.map((i: Any) => i.HealthStatus), ['UNHEALTHY']);
    // Deregistration removes the health record too.
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: probed.Id, InstanceId: 'p1' }));
    assert.equal(await h.kv.get(`/health/${probed.Id}/p1`), undefined);
    assert.equal(h.snapshot.healthRecord(probed.Id, 'p1'), undefined);
  });

  test('re-registration replaces attributes and moves the revision; deregistration moves it too', async () => {
    const { registry } = h;
    const q = { NamespaceName: 'inst.local', ServiceName: 'web' };
    const rev = async () => ((await cloudMap(registry).DiscoverInstancesRevision(q)) as Any).InstancesRevision as number;
    const r0 = await rev();
    await register(registry, web.Id, 'i2', { AWS_INSTANCE_IPV4: '198.18.0.22' });
    assert.deepEqual(((await cloudMap(registry).GetInstance({ ServiceId: web.Id, InstanceId: 'i2' })) as Any).Instance.Attributes, { AWS_INSTANCE_IPV4: '198.18.0.22' });
    const r1 = await rev();
    assert.ok(r1 > r0);
    await register(registry, web.Id, 'i3', { AWS_INSTANCE_IPV4: '198.18.0.3' });
    const r2 = await rev();
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: web.Id, InstanceId: 'i3' }));
    const r3 = await rev();
    assert.ok(r3 > r2);
    await rejectsWith(cloudMap(registry).GetInstance({ ServiceId: web.Id, InstanceId: 'i3' }), 'InstanceNotFound');
    await rejectsWith(cloudMap(registry).DeregisterInstance({ ServiceId: web.Id, InstanceId: 'nope' }), 'InstanceNotFound');
    await rejectsWith(cloudMap(registry).DeregisterInstance({ ServiceId: 'srv-nope', InstanceId: 'i1' }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).GetInstance({ ServiceId: 'srv-nope', InstanceId: 'i1' }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).ListInstances({ ServiceId: 'srv-nope' }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).GetInstancesHealthStatus({ ServiceId: web.Id, Instances: ['i1', 'nope'] }), 'InstanceNotFound');
  });

  test('idempotent RegisterInstance: same token and parameters give the same OperationId', async () => {
    const { registry } = h;
    const input = { ServiceId: web.Id, InstanceId: 'i4', CreatorRequestId: 'tok-i4', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.4' } };
    const a = (await cloudMap(registry).RegisterInstance(input)) as Any;
    await registry.waitForOperation(a.OperationId);
    const b = (await cloudMap(registry).RegisterInstance(input)) as Any;
    assert.equal(b.OperationId, a.OperationId);
    const c = (await cloudMap(registry).RegisterInstance({ ...input, Attributes: { AWS_INSTANCE_IPV4: '198.18.0.44' } })) as Any;
    assert.notEqual(c.OperationId, a.OperationId, 'different parameters: a new registration');
    await registry.waitForOperation(c.OperationId);
    // The token for another instance: DuplicateRequest naming the token's latest operation.
    await rejectsWith(cloudMap(registry).RegisterInstance({ ...input, InstanceId: 'i4-other' }), 'DuplicateRequest', { DuplicateOperationId: c.OperationId });
  });

  test('quotas: instances per service and per namespace', async () => {
    const { registry } = h;
    // web has i1, i2, i4 (quota 5 per service, 7 per namespace).
    await register(registry, web.Id, 'i5', { AWS_INSTANCE_IPV4: '198.18.0.5' });
    await register(registry, web.Id, 'i6', { AWS_INSTANCE_IPV4: '198.18.0.6' });
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: web.Id, InstanceId: 'i7', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.7' } }), 'ResourceLimitExceeded');
    // Re-registering an existing instance is not a new instance.
    await register(registry, web.Id, 'i6', { AWS_INSTANCE_IPV4: '198.18.0.66' });
    const other = await service(registry, { Name: 'other', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } });
    await register(registry, other.Id, 'o1', { AWS_INSTANCE_IPV4: '198.18.1.1' });
    await register(registry, other.Id, 'o2', { AWS_INSTANCE_IPV4: '198.18.1.2' });
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: other.Id, InstanceId: 'o3', Attributes: { AWS_INSTANCE_IPV4: '198.18.1.3' } }), 'ResourceLimitExceeded', undefined, /namespace/);
  });

  test('ListInstances and GetInstancesHealthStatus pagination', async () => {
    const { registry } = h;
    const all = ((await cloudMap(registry).ListInstances({ ServiceId: web.Id })) as Any).Instances.map((i: Any) => i.Id);
    assert.deepEqual(all, ['i1', 'i2', 'i4', 'i5', 'i6']);
    for (const op of ['ListInstances', 'GetInstancesHealthStatus'] as const) {
      const seen: string[] = [];
      const tokens = new Set<string>();
      let token: string | undefined;
      do {
        const p = (await cloudMap(registry)[op]({ ServiceId: web.Id, MaxResults: 2, NextToken: token })) as Any;
        seen.push(...(op === 'ListInstances' ? p.Instances.map((i: Any) => i.Id) : Object.keys(p.Status)));
        token = p.NextToken;
        if (token) {
          assert.ok(!tokens.has(token));
          tokens.add(token);
        }
      } while (token);
      assert.deepEqual(seen, all, op);
    }
    await rejectsWith(cloudMap(registry).ListInstances({ ServiceId: web.Id, MaxResults: 101 }), 'InvalidInput');
    await rejectsWith(cloudMap(registry).GetInstancesHealthStatus({ ServiceId: web.Id, Instances: [] }), 'InvalidInput', undefined, /^Instances/);
  });

  test('instance attribute validation', async () => {
    const { registry } = h;
    const valNs = await privateNamespace(registry, 'val.local');
    const srv = await service(registry, { Name: 'srv', NamespaceId: valNs, DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 1 }] } });
    const aaaa = await service(registry, { Name: 'six', NamespaceId: valNs, DnsConfig: { DnsRecords: [{ Type: 'AAAA', TTL: 1 }] } });
    const cname = await service(registry, { Name: 'cn', NamespaceId: valNs, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 1 }] } });
    const weighted = await service(registry, { Name: 'lb', NamespaceId: valNs, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'A', TTL: 1 }] } });
    const http = await service(registry, { Name: 'plain', NamespaceId: httpNs });
    const ip = { AWS_INSTANCE_IPV4: '198.18.0.1' };
    const many = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, 'v']));
    const thirty = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 'v']));
    const cases: [string, string, unknown, RegExp][] = [
      ['missing InstanceId', web.Id, undefined, /^InstanceId: is required/],
      ['bad InstanceId', web.Id, 'a b', /^InstanceId: must match/],
      ['long InstanceId', web.Id, 'a'.repeat(65), /^InstanceId: must be at most 64/],
      ['bad IPv4', web.Id, { AWS_INSTANCE_IPV4: '10.0.0.300' }, /AWS_INSTANCE_IPV4: must be an IPv4/],
      ['IPv4 with spaces', web.Id, { AWS_INSTANCE_IPV4: '10.0.0.1 ' }, /AWS_INSTANCE_IPV4/],
      ['bad port', srv.Id, { ...ip, AWS_INSTANCE_PORT: '0' }, /AWS_INSTANCE_PORT: must be a port/],
      ['port too big', srv.Id, { ...ip, AWS_INSTANCE_PORT: '65536' }, /AWS_INSTANCE_PORT/],
      ['port not a number', srv.Id, { ...ip, AWS_INSTANCE_PORT: '80a' }, /AWS_INSTANCE_PORT/],
      ['SRV without port', srv.Id, ip, /AWS_INSTANCE_PORT: is required/],
      ['SRV without address', srv.Id, { AWS_INSTANCE_PORT: '80' }, /IPV4 or AWS_INSTANCE_IPV6/],
      ['AAAA without IPv6', aaaa.Id, ip, /AWS_INSTANCE_IPV6: is required/],
      ['bad IPv6', aaaa.Id, { AWS_INSTANCE_IPV6: 'fe80:::1' }, /AWS_INSTANCE_IPV6: must be an IPv6/],
      ['CNAME without target', cname.Id, {}, /AWS_INSTANCE_CNAME: is required/],
      ['alias with IPv4', weighted.Id, { AWS_ALIAS_DNS_NAME: 'lb.example.com', ...ip }, /cannot be combined/],
      ['alias on multivalue', web.Id, { AWS_ALIAS_DNS_NAME: 'lb.example.com' }, /WEIGHTED/],
      ['EC2 id in a DNS namespace', web.Id, { AWS_EC2_INSTANCE_ID: 'i-123' }, /HTTP namespaces/],
      ['EC2 id with others', http.Id, { AWS_EC2_INSTANCE_ID: 'i-123', color: 'x' }, /cannot be combined with color/],
      ['bad init health', web.Id, { ...ip, AWS_INIT_HEALTH_STATUS: 'UNKNOWN' }, /AWS_INIT_HEALTH_STATUS/],
      ['31 custom attributes', http.Id, many, /at most 30 custom/],
      ['over 5000 characters', http.Id, { a: 'x'.repeat(1024), b: 'x'.repeat(1024), c: 'x'.repeat(1024), d: 'x'.repeat(1024), e: 'x'.repeat(1024) }, /5000/],
      ['key with a space', http.Id, { 'a b': 'x' }, /^Attributes key: must match/],
      ['key too long', http.Id, { ['k'.repeat(256)]: 'x' }, /^Attributes key: must be at most 255/],
      ['value too long', http.Id, { k: 'x'.repeat(1025) }, /^Attributes\.k: must be at most 1024/],
      ['value with a leading space', http.Id, { k: ' x' }, /^Attributes\.k: must match/],
      ['value non-ASCII', http.Id, { k: 'é' }, /^Attributes\.k: must match/],
      ['value not a string', http.Id, { k: 1 }, /^Attributes\.k: must be a string/],
      ['attributes missing', http.Id, null, /^Attributes: is required/],
    ];
    for (const [name, serviceId, attrs, message] of cases) {
      const input: Any = { ServiceId: serviceId, InstanceId: 'v1', Attributes: attrs };
      if (name.includes('InstanceId')) {
        input['InstanceId'] = attrs;
        input['Attributes'] = ip;
      }
      await rejectsWith(cloudMap(registry).RegisterInstance(input), 'InvalidInput', undefined, message).catch((err) => assert.fail(`${name}: ${err.message}`));
    }
    // Valid edge cases.
    await register(registry, http.Id, 'v1', thirty);
    await register(registry, http.Id, 'v2', { k: 'a b\tc', AWS_INSTANCE_IPV4: '198.18.0.1', AWS_INSTANCE_IPV6: '2001:db8::1' });
    await register(registry, http.Id, 'arn:aws:x/y@z.1_2-3', { AWS_EC2_INSTANCE_ID: 'i-123', AWS_INIT_HEALTH_STATUS: 'HEALTHY' });
    // A `__proto__` key from a JSON body is an ordinary attribute.
    await register(registry, http.Id, 'v3', JSON.parse('{"__proto__":"x","a":"b"}'));
    const v3 = ((await cloudMap(registry).GetInstance({ ServiceId: http.Id, InstanceId: 'v3' })) as Any).Instance.Attributes;
    assert.equal(JSON.stringify(v3), '{"__proto__":"x","a":"b"}');
    await register(registry, srv.Id, 's1', { AWS_INSTANCE_IPV6: '2001:db8::2', AWS_INSTANCE_PORT: '65535' });
    await register(registry, cname.Id, 'c1', { AWS_INSTANCE_CNAME: 'target.example.com' });
    await register(registry, weighted.Id, 'w1', { AWS_ALIAS_DNS_NAME: 'lb-1.elb.example.com' });
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: 'srv-nope', InstanceId: 'x', Attributes: {} }), 'ServiceNotFound');
  });
});

describe('instances with a slow operation worker', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness({ config: { opDelayMs: 60_000 } });
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('open registration: DuplicateRequest, not visible yet, DeleteService ResourceInUse', async () => {
    const { registry, kv } = h;
    // Create the namespace directly in the store: the worker would take a minute.
    const ns = { id: 'ns-slow000000000000', arn: 'arn', name: 'slow', type: 'HTTP', httpName: 'slow', createDate: Date.now(), tags: [] };
    await kv.create(`/ns/${ns.id}`, JSON.stringify(ns));
    const svc = await service(registry, { Name: 'api', NamespaceId: ns.id });
    const a = (await cloudMap(registry).RegisterInstance({ ServiceId: svc.Id, InstanceId: 'x1', CreatorRequestId: 'tok', Attributes: {} })) as Any;
    const op = ((await cloudMap(registry).GetOperation({ OperationId: a.OperationId })) as Any).Operation;
    assert.equal(op.Status, 'SUBMITTED');
    assert.deepEqual(op.Targets, { INSTANCE: 'x1', SERVICE: svc.Id });
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: svc.Id, InstanceId: 'x1', CreatorRequestId: 'tok', Attributes: {} }), 'DuplicateRequest', {
      DuplicateOperationId: a.OperationId,
    });
    await rejectsWith(cloudMap(registry).RegisterInstance({ ServiceId: svc.Id, InstanceId: 'x1', Attributes: { b: '1' } }), 'DuplicateRequest', {
      DuplicateOperationId: a.OperationId,
    });
    await rejectsWith(cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'x1' }), 'DuplicateRequest', { DuplicateOperationId: a.OperationId });
    await rejectsWith(cloudMap(registry).GetInstance({ ServiceId: svc.Id, InstanceId: 'x1' }), 'InstanceNotFound');
    await rejectsWith(cloudMap(registry).DeleteService({ Id: svc.Id }), 'ResourceInUse');
    const listed = (await cloudMap(registry).ListOperations({ Filters: [{ Name: 'SERVICE_ID', Values: [svc.Id] }, { Name: 'TYPE', Values: ['REGISTER_INSTANCE'] }] })) as Any;
    assert.deepEqual(listed.Operations, [{ Id: a.OperationId, Status: 'SUBMITTED' }]);
  });
});

describe('concurrency', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('concurrent requests: one CreateService per name, one open registration per instance, none lost', async () => {
    const { registry } = h;
    const ns = await httpNamespace(registry, 'conc');
    const creates = await Promise.allSettled(Array.from({ length: 8 }, () => cloudMap(registry).CreateService({ Name: 'api', NamespaceId: ns })));
    const created = creates.filter((r) => r.status === 'fulfilled');
    assert.equal(created.length, 1);
    for (const r of creates) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'ServiceAlreadyExists');
    const svc = ((created[0] as PromiseFulfilledResult<Any>).value).Service;

    // 200 distinct instances at once, and each of the first 20 asked for twice in the same tick.
    const calls = [
      ...Array.from({ length: 200 }, (_, i) => cloudMap(registry).RegisterInstance({ ServiceId: svc.Id, InstanceId: `i${i}`, Attributes: { n: String(i) } })),
      ...Array.from({ length: 20 }, (_, i) => cloudMap(registry).RegisterInstance({ ServiceId: svc.Id, InstanceId: `i${i}`, Attributes: { n: 'again' } })),
    ];
    const results = await Promise.allSettled(calls);
    const ops = results.filter((r): r is PromiseFulfilledResult<Any> => r.status === 'fulfilled').map((r) => r.value.OperationId as string);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ops.length, 200);
    assert.equal(rejected.length, 20);
    for (const r of rejected) assert.equal(r.reason.code, 'DuplicateRequest');
    for (const id of ops) assert.equal((await registry.waitForOperation(id)).status, 'SUCCESS');
    assert.equal(h.snapshot.instances(svc.Id).size, 200);
    assert.equal(((await cloudMap(registry).GetService({ Id: svc.Id })) as Any).Service.InstanceCount, 200);
  });

  test('without an operation delay, (de)registration commits once, already SUCCESS, before it is acknowledged', async () => {
    const { registry } = h;
    const ns = await httpNamespace(registry, 'once');
    const svc = (await cloudMap(registry).CreateService({ Name: 'api', NamespaceId: ns })) as Any;
    const reg = (await cloudMap(registry).RegisterInstance({ ServiceId: svc.Service.Id, InstanceId: 'one', Attributes: { AWS_INSTANCE_IPV4: '198.18.150.9' } })) as Any;
    // Visible at once: the instance and the op's SUCCESS were in the acknowledged commit (before,
    // the reply followed the SUBMITTED record's commit and the worker's commit came a turn later).
    assert.equal(((await cloudMap(registry).GetOperation({ OperationId: reg.OperationId })) as Any).Operation.Status, 'SUCCESS');
    assert.equal(((await cloudMap(registry).GetInstance({ ServiceId: svc.Service.Id, InstanceId: 'one' })) as Any).Instance.Id, 'one');
    const dereg = (await cloudMap(registry).DeregisterInstance({ ServiceId: svc.Service.Id, InstanceId: 'one' })) as Any;
    assert.equal(((await cloudMap(registry).GetOperation({ OperationId: dereg.OperationId })) as Any).Operation.Status, 'SUCCESS');
    await rejectsWith(cloudMap(registry).GetInstance({ ServiceId: svc.Service.Id, InstanceId: 'one' }), 'InstanceNotFound');
  });
});

describe('waitForInstancesRevision', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('wakes on register and deregister, not on health; aborts with the current revision', async () => {
    const { registry } = h;
    const ns = await httpNamespace(registry, 'poll');
    const svc = await service(registry, { Name: 'api', NamespaceId: ns, HealthCheckCustomConfig: {} });
    await register(registry, svc.Id, 'i1', {});
    const rev0 = h.snapshot.instancesRevision(svc.Id);
    const abort = new AbortController();
    let woke = false;
    const waiting = registry.waitForInstancesRevision(svc.Id, rev0, abort.signal).then((r) => {
      woke = true;
      return r;
    });
    await cloudMap(registry).UpdateInstanceCustomHealthStatus({ ServiceId: svc.Id, InstanceId: 'i1', Status: 'UNHEALTHY' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(woke, false, 'a health change does not wake the poll');
    await register(registry, svc.Id, 'i2', {});
    const rev1 = await waiting;
    assert.ok(rev1 > rev0);
    const next = registry.waitForInstancesRevision(svc.Id, rev1);
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'i2' }));
    assert.ok((await next) > rev1);
    const ac = new AbortController();
    const idle = registry.waitForInstancesRevision(svc.Id, h.snapshot.instancesRevision(svc.Id), ac.signal);
    ac.abort();
    assert.equal(await idle, h.snapshot.instancesRevision(svc.Id));
    abort.abort();
  });
});
