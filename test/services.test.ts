/**
 * Services, service attributes and tags through `@aws-sdk/client-servicediscovery`
 * (docs/compatibility.md#services, #tags; conformance cases 6-9, 18, 20-22).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpNamespace, privateNamespace, register, rejectsWith, startTestServer, waitOp, type TestServer } from './helpers.ts';

const SRV_ID = /^srv-[a-z0-9]{16}$/;

describe('services', () => {
  let s: TestServer;
  let privNs = '';
  let httpNs = '';
  let webId = '';
  before(async () => {
    s = await startTestServer();
    privNs = await privateNamespace(s.sd, 'svc.local');
    httpNs = await httpNamespace(s.sd, 'svc-http');
  });
  after(() => s.destroy());

  test('CreateService in a private DNS namespace is DNS_HTTP and synchronous (case 6)', async () => {
    const { Service } = await s.sd.createService({
      Name: 'web',
      NamespaceId: privNs,
      Description: 'the web tier',
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
      Tags: [{ Key: 'tier', Value: 'web' }],
    });
    assert.match(Service!.Id!, SRV_ID);
    webId = Service!.Id!;
    assert.equal(Service!.Type, 'DNS_HTTP');
    assert.equal(Service!.Name, 'web');
    assert.equal(Service!.NamespaceId, privNs);
    assert.equal(Service!.DnsConfig?.NamespaceId, privNs);
    assert.equal(Service!.DnsConfig?.RoutingPolicy, 'MULTIVALUE');
    assert.deepEqual(Service!.DnsConfig?.DnsRecords, [{ Type: 'A', TTL: 10 }]);
    assert.equal(Service!.HealthCheckCustomConfig?.FailureThreshold, 1);
    assert.ok(Service!.CreatorRequestId);
    assert.ok(Service!.CreateDate instanceof Date);
    assert.equal(Service!.Arn, `arn:aws:servicediscovery:us-east-1:000000000000:service/${webId}`);

    const { Service: got } = await s.sd.getService({ Id: webId });
    assert.equal(got?.Id, webId);
    assert.equal(got?.InstanceCount, 0);
    assert.equal((await s.sd.getService({ Id: got!.Arn! })).Service?.Id, webId, 'GetService accepts the ARN');
    assert.equal((await s.sd.getNamespace({ Id: privNs })).Namespace?.ServiceCount, 1);
  });

  test('ServiceAlreadyExists is case-insensitive in DNS namespaces and carries ServiceId, ServiceArn (case 7)', async () => {
    const e = await rejectsWith(
      () => s.sd.createService({ Name: 'WEB', NamespaceId: privNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] } }),
      'ServiceAlreadyExists',
    );
    assert.equal(e['ServiceId'], webId);
    assert.equal(e['ServiceArn'], `arn:aws:servicediscovery:us-east-1:000000000000:service/${webId}`);
    assert.ok(e['CreatorRequestId']);
  });

  test('HTTP namespaces compare service names case-sensitively; HTTP services have DnsConfig {}', async () => {
    const a = await s.sd.createService({ Name: 'api', NamespaceId: httpNs });
    assert.equal(a.Service?.Type, 'HTTP');
    const b = await s.sd.createService({ Name: 'API', NamespaceId: httpNs });
    assert.notEqual(b.Service?.Id, a.Service?.Id);
    assert.deepEqual((await s.sd.getService({ Id: a.Service!.Id! })).Service?.DnsConfig ?? {}, {});
  });

  test('CreateService with the same CreatorRequestId returns the same service', async () => {
    const first = await s.sd.createService({ Name: 'idem', NamespaceId: httpNs, CreatorRequestId: 'svc-idem-1' });
    const again = await s.sd.createService({ Name: 'idem', NamespaceId: httpNs, CreatorRequestId: 'svc-idem-1' });
    assert.equal(again.Service?.Id, first.Service?.Id);
  });

  test('HealthCheckConfig is accepted in a private namespace (a Pharos decision; AWS refuses, case 8)', async () => {
    const { Service } = await s.sd.createService({
      Name: 'probed',
      NamespaceId: privNs,
      DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] },
      HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/health', FailureThreshold: 2 },
    });
    assert.deepEqual(Service?.HealthCheckConfig, { Type: 'HTTP', ResourcePath: '/health', FailureThreshold: 2 });
  });

  test('DNS namespace: SRV with A (ECS awsvpc style) and the deprecated DnsConfig.NamespaceId', async () => {
    const { Service } = await s.sd.createService({
      Name: '_grpc._tcp',
      DnsConfig: { NamespaceId: privNs, RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'SRV', TTL: 30 }, { Type: 'A', TTL: 30 }] },
    });
    assert.equal(Service?.NamespaceId, privNs);
  });

  const invalid: [string, () => Promise<unknown>][] = [
    ['CNAME with MULTIVALUE (case 9)', () => s.sd.createService({ Name: 'cn', NamespaceId: privNs, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'CNAME', TTL: 60 }] } })],
    ['no namespace at all', () => s.sd.createService({ Name: 'orphan' })],
    ['DnsConfig in an HTTP namespace', () => s.sd.createService({ Name: 'dnsy', NamespaceId: httpNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } })],
    ['DNS namespace without DnsConfig or Type HTTP', () => s.sd.createService({ Name: 'neither', NamespaceId: privNs })],
    ['empty DnsRecords', () => s.sd.createService({ Name: 'empty', NamespaceId: privNs, DnsConfig: { DnsRecords: [] } })],
    ['CNAME with A', () => s.sd.createService({ Name: 'mix', NamespaceId: privNs, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 1 }, { Type: 'A', TTL: 1 }] } })],
    ['bad service name', () => s.sd.createService({ Name: '-bad-', NamespaceId: httpNs })],
    ['record type enum violation', () => s.sd.createService({ Name: 'enum', NamespaceId: privNs, DnsConfig: { DnsRecords: [{ Type: 'MX' as never, TTL: 1 }] } })],
    ['FailureThreshold 11', () => s.sd.createService({ Name: 'ft', NamespaceId: httpNs, HealthCheckCustomConfig: { FailureThreshold: 11 } })],
    ['UpdateService in an HTTP namespace', async () => {
      const { Service } = await s.sd.createService({ Name: 'http-upd', NamespaceId: httpNs });
      return s.sd.updateService({ Id: Service!.Id!, Service: { Description: 'x' } });
    }],
    ['UpdateService changing record types', () => s.sd.updateService({ Id: webId, Service: { DnsConfig: { DnsRecords: [{ Type: 'AAAA', TTL: 5 }] } } })],
  ];
  for (const [name, call] of invalid) {
    test(`InvalidInput: ${name}`, async () => {
      await rejectsWith(call, 'InvalidInput');
    });
  }

  test('NamespaceNotFound and ServiceNotFound', async () => {
    await rejectsWith(() => s.sd.createService({ Name: 'x', NamespaceId: 'ns-doesnotexist0000' }), 'NamespaceNotFound');
    await rejectsWith(() => s.sd.getService({ Id: 'srv-doesnotexist000' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.updateService({ Id: 'srv-doesnotexist000', Service: { Description: 'x' } }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.deleteService({ Id: 'srv-doesnotexist000' }), 'ServiceNotFound');
  });

  test('UpdateService: UPDATE_SERVICE operation, new TTL and description', async () => {
    const { OperationId } = await s.sd.updateService({
      Id: webId,
      Service: { Description: 'updated', DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 99 }] } },
    });
    const op = await waitOp(s.sd, OperationId);
    assert.equal(op.Type, 'UPDATE_SERVICE');
    assert.equal(op.Targets!['SERVICE'], webId);
    const { Service } = await s.sd.getService({ Id: webId });
    assert.equal(Service?.Description, 'updated');
    assert.deepEqual(Service?.DnsConfig?.DnsRecords, [{ Type: 'A', TTL: 99 }]);
    assert.equal(Service?.HealthCheckCustomConfig?.FailureThreshold, 1, 'custom health is never touched');
  });

  test('ListServices: NAMESPACE_ID filter, pages with distinct tokens (case 20)', async () => {
    const inPriv = (await s.sd.listServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [privNs], Condition: 'EQ' }] })).Services!;
    assert.ok(inPriv.length >= 3);
    assert.ok(inPriv.some((x) => x.Id === webId && x.Type === 'DNS_HTTP' && x.Arn && x.CreateDate instanceof Date));
    const all = (await s.sd.listServices({})).Services!;
    const seen: string[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await s.sd.listServices({ MaxResults: 1, NextToken: token });
      assert.ok(page.Services!.length <= 1);
      seen.push(...page.Services!.map((x) => x.Id!));
      token = page.NextToken;
      if (token) {
        assert.ok(!tokens.has(token), 'every token differs');
        tokens.add(token);
      }
    } while (token);
    assert.deepEqual([...seen].sort(), all.map((x) => x.Id!).sort());
  });

  test('service attributes: update merges, get returns ServiceArn and ResourceOwner, delete removes, 31 is too many (case 22)', async () => {
    await s.sd.updateServiceAttributes({ ServiceId: webId, Attributes: { a: '1', b: '2' } });
    await s.sd.updateServiceAttributes({ ServiceId: webId, Attributes: { c: '3' } });
    const got = (await s.sd.getServiceAttributes({ ServiceId: webId })).ServiceAttributes!;
    assert.equal(got.ServiceArn, `arn:aws:servicediscovery:us-east-1:000000000000:service/${webId}`);
    assert.equal(got.ResourceOwner, '000000000000');
    assert.deepEqual(got.Attributes, { a: '1', b: '2', c: '3' });
    await s.sd.deleteServiceAttributes({ ServiceId: webId, Attributes: ['a', 'unknown-key'] });
    assert.deepEqual((await s.sd.getServiceAttributes({ ServiceId: webId })).ServiceAttributes?.Attributes, { b: '2', c: '3' });

    const many = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, 'v']));
    await rejectsWith(() => s.sd.updateServiceAttributes({ ServiceId: webId, Attributes: many }), 'ServiceAttributesLimitExceededException');
    const fill = Object.fromEntries(Array.from({ length: 29 }, (_, i) => [`f${i}`, 'v']));
    await rejectsWith(() => s.sd.updateServiceAttributes({ ServiceId: webId, Attributes: fill }), 'ServiceAttributesLimitExceededException');
    await rejectsWith(() => s.sd.getServiceAttributes({ ServiceId: 'srv-doesnotexist000' }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.updateServiceAttributes({ ServiceId: 'srv-doesnotexist000', Attributes: { a: '1' } }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.deleteServiceAttributes({ ServiceId: 'srv-doesnotexist000', Attributes: ['a'] }), 'ServiceNotFound');
    await rejectsWith(() => s.sd.deleteServiceAttributes({ ServiceId: webId, Attributes: [] }), 'InvalidInput');
  });

  test('tags: tag, list, untag; unknown ARN; at most 50 per resource (case 21)', async () => {
    const arn = (await s.sd.getNamespace({ Id: privNs })).Namespace!.Arn!;
    await s.sd.tagResource({ ResourceARN: arn, Tags: [{ Key: 'team', Value: 'a' }, { Key: 'env', Value: 'dev' }] });
    await s.sd.tagResource({ ResourceARN: arn, Tags: [{ Key: 'team', Value: 'b' }] });
    const tags = (await s.sd.listTagsForResource({ ResourceARN: arn })).Tags!;
    assert.deepEqual([...tags].sort((x, y) => x.Key!.localeCompare(y.Key!)), [{ Key: 'env', Value: 'dev' }, { Key: 'team', Value: 'b' }]);
    await s.sd.untagResource({ ResourceARN: arn, TagKeys: ['env', 'never-there'] });
    assert.deepEqual((await s.sd.listTagsForResource({ ResourceARN: arn })).Tags, [{ Key: 'team', Value: 'b' }]);

    const svcArn = (await s.sd.getService({ Id: webId })).Service!.Arn!;
    assert.deepEqual((await s.sd.listTagsForResource({ ResourceARN: svcArn })).Tags, [{ Key: 'tier', Value: 'web' }]);

    const unknown = 'arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-doesnotexist0000';
    await rejectsWith(() => s.sd.tagResource({ ResourceARN: unknown, Tags: [{ Key: 'a', Value: 'b' }] }), 'ResourceNotFoundException');
    await rejectsWith(() => s.sd.listTagsForResource({ ResourceARN: unknown }), 'ResourceNotFoundException');
    await rejectsWith(() => s.sd.untagResource({ ResourceARN: unknown, TagKeys: ['a'] }), 'ResourceNotFoundException');

    const fifty = Array.from({ length: 49 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await s.sd.tagResource({ ResourceARN: arn, Tags: fifty });
    const e = await rejectsWith(() => s.sd.tagResource({ ResourceARN: arn, Tags: [{ Key: 'one-more', Value: 'v' }] }), 'TooManyTagsException');
    assert.equal(e['ResourceName'], arn);
    await rejectsWith(() => s.sd.tagResource({ ResourceARN: arn, Tags: [{ Key: '', Value: 'v' }] }), 'InvalidInput');
  });

  test('DeleteService: ResourceInUse with instances (case 18), {} when empty, removes it', async () => {
    await register(s.sd, webId, 'i1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
    await rejectsWith(() => s.sd.deleteService({ Id: webId }), 'ResourceInUse');
    await waitOp(s.sd, (await s.sd.deregisterInstance({ ServiceId: webId, InstanceId: 'i1' })).OperationId);
    const out = await s.sd.deleteService({ Id: webId });
    assert.deepEqual(Object.keys(out).filter((k) => k !== '$metadata'), []);
    await rejectsWith(() => s.sd.getService({ Id: webId }), 'ServiceNotFound');
  });
});
