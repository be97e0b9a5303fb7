import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../lib/index.ts';
import { ACCOUNT, REGION, completed, httpNamespace, openHarness, privateNamespace, register, rejectsWith, removeDir, service, type Harness } from './testkit.ts';
import { cloudMap } from './ops/index.ts';

type Any = Record<string, any>;
const A10 = { DnsRecords: [{ Type: 'A', TTL: 10 }] };

describe('services', () => {
  let h: Harness;
  let dnsNs: string;
  let httpNs: string;
  before(async () => {
    h = await openHarness();
    dnsNs = await privateNamespace(h.registry, 'svc.local');
    httpNs = await httpNamespace(h.registry, 'svc-http');
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('CreateService in a private DNS namespace: DNS_HTTP, synchronous, echoes DnsConfig.NamespaceId', async () => {
    const { registry } = h;
    const svc = await service(registry, {
      Name: 'web',
      NamespaceId: dnsNs,
      CreatorRequestId: 'c-web',
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
      HealthCheckCustomConfig: { FailureThreshold: 5 },
    });
    assert.match(svc.Id, /^srv-[a-z0-9]{16}$/);
    assert.equal(svc.Arn, `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:service/${svc.Id}`);
    assert.equal(svc['Type'], 'DNS_HTTP');
    assert.deepEqual(svc['DnsConfig'], { NamespaceId: dnsNs, RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] });
    assert.deepEqual(svc['HealthCheckCustomConfig'], { FailureThreshold: 1 });
    assert.equal(svc['CreatorRequestId'], 'c-web');
    assert.equal(svc['InstanceCount'], 0);
    assert.equal(svc['ResourceOwner'], ACCOUNT);
    assert.equal(svc['CreatedByAccount'], ACCOUNT);
    assert.equal(svc['NamespaceId'], dnsNs);
    const got = ((await cloudMap(registry).GetService({ Id: svc.Arn })) as Any).Service;
    assert.deepEqual(got, svc);
    assert.equal(((await cloudMap(registry).GetNamespace({ Id: dnsNs })) as Any).Namespace.ServiceCount, 1);
  });

  test('duplicate names: case-insensitive in DNS namespaces, exact in HTTP ones; same token returns the service', async () => {
    const { registry } = h;
    const web = ((await cloudMap(registry).ListServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [dnsNs] }] })) as Any).Services.find(
      (s: Any) => s.Name === 'web',
    );
    await rejectsWith(cloudMap(registry).CreateService({ Name: 'WEB', NamespaceId: dnsNs, DnsConfig: A10 }), 'ServiceAlreadyExists', {
      ServiceId: web.Id,
      ServiceArn: web.Arn,
      CreatorRequestId: 'c-web',
    });
    const again = (await cloudMap(registry).CreateService({ Name: 'web', NamespaceId: dnsNs, CreatorRequestId: 'c-web', DnsConfig: A10 })) as Any;
    assert.equal(again.Service.Id, web.Id);
    const api = await service(registry, { Name: 'api', NamespaceId: httpNs });
    const API = await service(registry, { Name: 'API', NamespaceId: httpNs });
    assert.notEqual(api.Id, API.Id);
    assert.equal(api['Type'], 'HTTP');
    assert.deepEqual(api['DnsConfig'], {});
    await rejectsWith(cloudMap(registry).CreateService({ Name: 'api', NamespaceId: httpNs }), 'ServiceAlreadyExists', { ServiceId: api.Id });
  });

  test('resulting Type and DnsConfig rules', async () => {
    const { registry } = h;
    const httpInDns = await service(registry, { Name: 'only-api', NamespaceId: dnsNs, Type: 'HTTP' });
    assert.equal(httpInDns['Type'], 'HTTP');
    const deprecated = await service(registry, { Name: 'old', DnsConfig: { NamespaceId: dnsNs, DnsRecords: [{ Type: 'SRV', TTL: 5 }] } });
    assert.equal(deprecated['NamespaceId'], dnsNs);
    const mixed = await service(registry, { Name: 'ecs', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }, { Type: 'SRV', TTL: 5 }] } });
    assert.equal(mixed['Type'], 'DNS_HTTP');
    const cname = await service(registry, { Name: 'alias', NamespaceId: dnsNs, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 5 }] } });
    assert.equal((cname['DnsConfig'] as Any).RoutingPolicy, 'WEIGHTED');
    // Pharos decision: Route 53-style checks are allowed in private namespaces too.
    const probed = await service(registry, { Name: 'probed', NamespaceId: dnsNs, DnsConfig: A10, HealthCheckConfig: { Type: 'HTTP' } });
    assert.deepEqual(probed['HealthCheckConfig'], { Type: 'HTTP', ResourcePath: '/', FailureThreshold: 3 });
    const tcp = await service(registry, { Name: 'tcp', NamespaceId: httpNs, HealthCheckConfig: { Type: 'TCP', FailureThreshold: 2 } });
    assert.deepEqual(tcp['HealthCheckConfig'], { Type: 'TCP', FailureThreshold: 2 });

    const bad: [string, Any, RegExp][] = [
      ['no name', { NamespaceId: dnsNs, DnsConfig: A10 }, /^Name: is required/],
      ['bad name', { Name: '-web', NamespaceId: dnsNs, DnsConfig: A10 }, /^Name: must match/],
      ['long label', { Name: 'a'.repeat(64), NamespaceId: dnsNs, DnsConfig: A10 }, /^Name: must match/],
      ['no namespace', { Name: 'x', DnsConfig: A10 }, /^NamespaceId: is required/],
      ['namespace ids differ', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { ...A10, NamespaceId: httpNs } }, /differs/],
      ['DNS namespace without DnsConfig', { Name: 'x', NamespaceId: dnsNs }, /^DnsConfig: is required/],
      ['DnsConfig in HTTP namespace', { Name: 'x', NamespaceId: httpNs, DnsConfig: A10 }, /^DnsConfig: is not allowed/],
      ['Type HTTP with DnsConfig', { Name: 'x', NamespaceId: dnsNs, Type: 'HTTP', DnsConfig: A10 }, /^DnsConfig: is not allowed/],
      ['Type DNS_HTTP', { Name: 'x', NamespaceId: dnsNs, Type: 'DNS_HTTP', DnsConfig: A10 }, /^Type: must be one of HTTP/],
      ['empty DnsRecords', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [] } }, /^DnsConfig\.DnsRecords: must have at least 1/],
      ['duplicate type', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }, { Type: 'A', TTL: 2 }] } }, /more than once/],
      ['bad type', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'MX', TTL: 1 }] } }, /^DnsConfig\.DnsRecords\[0\]\.Type: must be one of/],
      ['TTL missing', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A' }] } }, /^DnsConfig\.DnsRecords\[0\]\.TTL: is required/],
      ['TTL too big', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 2147483648 }] } }, /TTL: must be between/],
      ['TTL string', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: '10' }] } }, /TTL: must be an integer/],
      ['bad routing', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { RoutingPolicy: 'RANDOM', ...A10 } }, /^DnsConfig\.RoutingPolicy: must be one of/],
      ['CNAME multivalue', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'CNAME', TTL: 1 }] } }, /CNAME records require WEIGHTED/],
      ['CNAME with A', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 1 }, { Type: 'A', TTL: 1 }] } }, /CNAME record cannot be combined/],
      ['CNAME with health check', { Name: 'x', NamespaceId: dnsNs, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 1 }] }, HealthCheckConfig: { Type: 'TCP' } }, /^HealthCheckConfig: is not allowed/],
      ['both health configs', { Name: 'x', NamespaceId: dnsNs, DnsConfig: A10, HealthCheckConfig: { Type: 'TCP' }, HealthCheckCustomConfig: {} }, /^HealthCheckCustomConfig: cannot be combined/],
      ['TCP with ResourcePath', { Name: 'x', NamespaceId: httpNs, HealthCheckConfig: { Type: 'TCP', ResourcePath: '/' } }, /^HealthCheckConfig\.ResourcePath: must be absent/],
      ['bad check type', { Name: 'x', NamespaceId: httpNs, HealthCheckConfig: { Type: 'UDP' } }, /^HealthCheckConfig\.Type/],
      ['threshold 0', { Name: 'x', NamespaceId: httpNs, HealthCheckConfig: { Type: 'HTTP', FailureThreshold: 0 } }, /^HealthCheckConfig\.FailureThreshold/],
      ['threshold 11', { Name: 'x', NamespaceId: httpNs, HealthCheckCustomConfig: { FailureThreshold: 11 } }, /^HealthCheckCustomConfig\.FailureThreshold/],
      ['long ResourcePath', { Name: 'x', NamespaceId: httpNs, HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/'.repeat(256) } }, /ResourcePath/],
      ['long Description', { Name: 'x', NamespaceId: httpNs, Description: 'd'.repeat(1025) }, /^Description/],
      ['NamespaceId too long', { Name: 'x', NamespaceId: 'n'.repeat(256) }, /^NamespaceId/],
    ];
    for (const [name, input, message] of bad) {
      await rejectsWith(cloudMap(registry).CreateService(input), 'InvalidInput', undefined, message).catch((err) => assert.fail(`${name}: ${err.message}`));
    }
    await rejectsWith(cloudMap(registry).CreateService({ Name: 'x', NamespaceId: 'ns-nope' }), 'NamespaceNotFound');
  });

  test('tags on create: more than 50 is TooManyTagsException', async () => {
    const tags = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await rejectsWith(cloudMap(h.registry).CreateService({ Name: 'tagged', NamespaceId: httpNs, Tags: tags }), 'TooManyTagsException', (f) =>
      assert.match(String(f['ResourceName']), /^arn:aws:servicediscovery:.*:service\/srv-/),
    );
    const svc = await service(h.registry, { Name: 'tagged', NamespaceId: httpNs, Tags: tags.slice(0, 2) });
    const listed = (await cloudMap(h.registry).ListTagsForResource({ ResourceARN: svc.Arn })) as Any;
    assert.deepEqual(listed.Tags, [{ Key: 'k0', Value: 'v' }, { Key: 'k1', Value: 'v' }]);
  });

  test('ListServices: NAMESPACE_ID filter, pagination with distinct tokens', async () => {
    const { registry } = h;
    const inNs = (await cloudMap(registry).ListServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [httpNs], Condition: 'EQ' }] })) as Any;
    assert.ok(inNs.Services.length >= 3);
    const summary = inNs.Services[0];
    assert.equal(summary.NamespaceId, undefined, 'ServiceSummary has no NamespaceId');
    assert.equal(typeof summary.CreateDate, 'number');
    const ids: string[] = [];
    let token: string | undefined;
    let previous: string | undefined;
    do {
      const p = (await cloudMap(registry).ListServices({ MaxResults: 1, NextToken: token })) as Any;
      ids.push(...p.Services.map((s: Any) => s.Id));
      previous = token;
      token = p.NextToken;
      assert.notEqual(token, previous);
    } while (token);
    const all = (await cloudMap(registry).ListServices({})) as Any;
    assert.deepEqual(ids, all.Services.map((s: Any) => s.Id));
    await rejectsWith(cloudMap(registry).ListServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [httpNs], Condition: 'IN' }] }), 'InvalidInput');
    await rejectsWith(cloudMap(registry).ListServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [httpNs, dnsNs] }] }), 'InvalidInput');
    await rejectsWith(cloudMap(registry).ListServices({ Filters: [{ Name: 'TYPE', Values: ['HTTP'] }] }), 'InvalidInput');
  });

  test('UpdateService: TTLs, health check added and removed, types fixed, HTTP namespace refused', async () => {
    const { registry } = h;
    const svc = await service(registry, { Name: 'upd', NamespaceId: dnsNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'AAAA', TTL: 10 }] } });
    const op = await completed(
      registry,
      cloudMap(registry).UpdateService({
        Id: svc.Id,
        Service: { Description: 'new', DnsConfig: { DnsRecords: [{ Type: 'AAAA', TTL: 99 }, { Type: 'A', TTL: 30 }] }, HealthCheckConfig: { Type: 'HTTPS', ResourcePath: '/h' } },
      }),
    );
    assert.equal(op.type, 'UPDATE_SERVICE');
    assert.deepEqual(op.targets, { SERVICE: svc.Id });
    let got = ((await cloudMap(registry).GetService({ Id: svc.Id })) as Any).Service;
    assert.equal(got.Description, 'new');
    assert.deepEqual(got.DnsConfig.DnsRecords, [{ Type: 'AAAA', TTL: 99 }, { Type: 'A', TTL: 30 }]);
    assert.deepEqual(got.HealthCheckConfig, { Type: 'HTTPS', ResourcePath: '/h', FailureThreshold: 3 });
    await cloudMap(registry).RegisterInstance({ ServiceId: svc.Id, InstanceId: 'u1', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', AWS_INSTANCE_IPV6: '::1', AWS_INSTANCE_PORT: '80' } });
    await eventually(() => h.snapshot.instance(svc.Id, 'u1'));
    assert.equal(await registry.setHealth(svc.Id, 'u1', 'UNHEALTHY', 'HTTP 503'), true);
    await completed(registry, cloudMap(registry).UpdateService({ Id: svc.Id, Service: {} }));
    assert.equal(h.snapshot.healthRecord(svc.Id, 'u1'), undefined, 'probe results go with the removed check');
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'u1' }));
    got = ((await cloudMap(registry).GetService({ Id: svc.Id })) as Any).Service;
    assert.equal(got.HealthCheckConfig, undefined, 'a missing HealthCheckConfig removes it');
    assert.equal(got.Description, 'new');
    assert.equal(got.DnsConfig.DnsRecords.length, 2, 'a missing DnsConfig changes no DNS');

    await rejectsWith(cloudMap(registry).UpdateService({ Id: svc.Id, Service: { DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } } }), 'InvalidInput', undefined, /record types cannot change/);
    await rejectsWith(cloudMap(registry).UpdateService({ Id: svc.Id }), 'InvalidInput', undefined, /^Service: is required/);
    const custom = await service(registry, { Name: 'cust', NamespaceId: dnsNs, DnsConfig: A10, HealthCheckCustomConfig: {} });
    await rejectsWith(cloudMap(registry).UpdateService({ Id: custom.Id, Service: { HealthCheckConfig: { Type: 'TCP' } } }), 'InvalidInput');
    const inHttp = await service(registry, { Name: 'upd-http', NamespaceId: httpNs });
    await rejectsWith(cloudMap(registry).UpdateService({ Id: inHttp.Id, Service: { Description: 'x' } }), 'InvalidInput', undefined, /HTTP namespace/);
    await rejectsWith(cloudMap(registry).UpdateService({ Id: 'srv-nope', Service: {} }), 'ServiceNotFound');
  });

  test('service attributes: merge, 30 limit, delete ignores unknown keys', async () => {
    const { registry } = h;
    const svc = await service(registry, { Name: 'attrs', NamespaceId: httpNs });
    assert.deepEqual(await cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Id, Attributes: { a: '1', b: '2' } }), {});
    await cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Arn, Attributes: { b: '3' } });
    assert.deepEqual(await cloudMap(registry).GetServiceAttributes({ ServiceId: svc.Id }), {
      ServiceAttributes: { ServiceArn: svc.Arn, ResourceOwner: ACCOUNT, Attributes: { a: '1', b: '3' } },
    });
    const many = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, 'v']));
    await rejectsWith(cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Id, Attributes: many }), 'ServiceAttributesLimitExceededException');
    const fill = Object.fromEntries(Array.from({ length: 28 }, (_, i) => [`f${i}`, 'v']));
    await cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Id, Attributes: fill });
    await rejectsWith(cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Id, Attributes: { one: 'more' } }), 'ServiceAttributesLimitExceededException');
    await cloudMap(registry).DeleteServiceAttributes({ ServiceId: svc.Id, Attributes: ['a', 'nope', ...Object.keys(fill)] });
    assert.deepEqual(((await cloudMap(registry).GetServiceAttributes({ ServiceId: svc.Id })) as Any).ServiceAttributes.Attributes, { b: '3' });
    await rejectsWith(cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Id, Attributes: {} }), 'InvalidInput', undefined, /^Attributes: must have at least 1/);
    await rejectsWith(cloudMap(registry).UpdateServiceAttributes({ ServiceId: svc.Id, Attributes: { k: 'v'.repeat(1025) } }), 'InvalidInput', undefined, /^Attributes\.k/);
    await rejectsWith(cloudMap(registry).DeleteServiceAttributes({ ServiceId: svc.Id, Attributes: [] }), 'InvalidInput');
    await rejectsWith(cloudMap(registry).GetServiceAttributes({ ServiceId: 'srv-nope' }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).UpdateServiceAttributes({ ServiceId: 'srv-nope', Attributes: { a: 'b' } }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).DeleteServiceAttributes({ ServiceId: 'srv-nope', Attributes: ['a'] }), 'ServiceNotFound');
  });

  test('DeleteService: ResourceInUse while instances are registered, then {} and ServiceNotFound', async () => {
    const { registry } = h;
    const svc = await service(registry, { Name: 'gone', NamespaceId: httpNs });
    await register(registry, svc.Id, 'i1', {});
    await rejectsWith(cloudMap(registry).DeleteService({ Id: svc.Id }), 'ResourceInUse');
    await completed(registry, cloudMap(registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'i1' }));
    assert.deepEqual(await cloudMap(registry).DeleteService({ Id: svc.Arn }), {});
    await rejectsWith(cloudMap(registry).GetService({ Id: svc.Id }), 'ServiceNotFound');
    await rejectsWith(cloudMap(registry).DeleteService({ Id: svc.Id }), 'ServiceNotFound');
  });

  test('tags: tag, list, untag, limits, unknown ARN', async () => {
    const { registry } = h;
    const arn = ((await cloudMap(registry).GetNamespace({ Id: httpNs })) as Any).Namespace.Arn;
    assert.deepEqual(await cloudMap(registry).TagResource({ ResourceARN: arn, Tags: [{ Key: 'team', Value: 'a' }] }), {});
    await cloudMap(registry).TagResource({ ResourceARN: arn, Tags: [{ Key: 'team', Value: 'b' }, { Key: 'env', Value: '' }] });
    assert.deepEqual(((await cloudMap(registry).ListTagsForResource({ ResourceARN: arn })) as Any).Tags, [{ Key: 'team', Value: 'b' }, { Key: 'env', Value: '' }]);
    await cloudMap(registry).UntagResource({ ResourceARN: arn, TagKeys: ['team', 'missing'] });
    assert.deepEqual(((await cloudMap(registry).ListTagsForResource({ ResourceARN: arn })) as Any).Tags, [{ Key: 'env', Value: '' }]);
    const fifty = Array.from({ length: 49 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await cloudMap(registry).TagResource({ ResourceARN: arn, Tags: fifty });
    await rejectsWith(cloudMap(registry).TagResource({ ResourceARN: arn, Tags: [{ Key: 'x51', Value: '' }] }), 'TooManyTagsException', { ResourceName: arn });
    const unknown = `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:namespace/ns-unknown00000000`;
    await rejectsWith(cloudMap(registry).TagResource({ ResourceARN: unknown, Tags: [] }), 'ResourceNotFoundException');
    await rejectsWith(cloudMap(registry).ListTagsForResource({ ResourceARN: unknown }), 'ResourceNotFoundException');
    await rejectsWith(cloudMap(registry).UntagResource({ ResourceARN: unknown, TagKeys: [] }), 'ResourceNotFoundException');
    await rejectsWith(cloudMap(registry).ListTagsForResource({ ResourceARN: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/x` }), 'ResourceNotFoundException');
    await rejectsWith(cloudMap(registry).ListTagsForResource({ ResourceARN: 'not-an-arn' }), 'InvalidInput', undefined, /^ResourceARN/);
    await rejectsWith(cloudMap(registry).ListTagsForResource({ ResourceARN: '' }), 'InvalidInput', undefined, /^ResourceARN/);
    await rejectsWith(cloudMap(registry).TagResource({ ResourceARN: arn }), 'InvalidInput', undefined, /^Tags: is required/);
    await rejectsWith(cloudMap(registry).UntagResource({ ResourceARN: arn, TagKeys: [''] }), 'InvalidInput', undefined, /^TagKeys\[0\]/);
  });
});
