import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACCOUNT, REGION, completed, httpNamespace, openHarness, privateNamespace, rejectsWith, removeDir, service, type Harness } from './testkit.ts';
import { cloudMap } from './ops/index.ts';

type Any = Record<string, any>;

describe('namespaces', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness({ config: { quotas: { namespacesPerRegion: 8 } } });
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('CreateHttpNamespace → operation → GetNamespace by id and by ARN', async () => {
    const { registry } = h;
    const op = await completed(registry, cloudMap(registry).CreateHttpNamespace({ Name: 'demo-http', CreatorRequestId: 'req-1', Description: 'd' }));
    assert.equal(op.type, 'CREATE_NAMESPACE');
    const id = op.targets.NAMESPACE!;
    assert.match(id, /^ns-[a-z0-9]{16}$/);
    const got = (await cloudMap(registry).GetOperation({ OperationId: op.id })) as Any;
    assert.equal(got.Operation.Status, 'SUCCESS');
    assert.equal(got.Operation.OwnerAccount, ACCOUNT);
    assert.equal(typeof got.Operation.CreateDate, 'number');
    assert.equal(typeof got.Operation.UpdateDate, 'number');
    assert.deepEqual(got.Operation.Targets, { NAMESPACE: id });
    assert.equal(got.Operation.ErrorCode, undefined);

    const byId = (await cloudMap(registry).GetNamespace({ Id: id })) as Any;
    const arn = `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:namespace/${id}`;
    const byArn = (await cloudMap(registry).GetNamespace({ Id: arn })) as Any;
    assert.deepEqual(byArn, byId);
    const ns = byId.Namespace;
    assert.equal(ns.Arn, arn);
    assert.equal(ns.Type, 'HTTP');
    assert.equal(ns.Name, 'demo-http');
    assert.equal(ns.Description, 'd');
    assert.equal(ns.ServiceCount, 0);
    assert.equal(ns.ResourceOwner, ACCOUNT);
    assert.equal(ns.CreatorRequestId, 'req-1');
    assert.deepEqual(ns.Properties, { DnsProperties: {}, HttpProperties: { HttpName: 'demo-http' } });
    assert.ok(Math.abs(ns.CreateDate - Date.now() / 1000) < 60);
  });

  test('same name again: NamespaceAlreadyExists with the existing NamespaceId and CreatorRequestId', async () => {
    const { registry } = h;
    const existing = (await cloudMap(registry).ListNamespaces({ Filters: [{ Name: 'NAME', Values: ['demo-http'] }] })) as Any;
    const id = existing.Namespaces[0].Id;
    await rejectsWith(cloudMap(registry).CreateHttpNamespace({ Name: 'demo-http', CreatorRequestId: 'req-other' }), 'NamespaceAlreadyExists', {
      NamespaceId: id,
      CreatorRequestId: 'req-1',
    });
  });

  test('same CreatorRequestId and parameters after completion: the same OperationId', async () => {
    const { registry } = h;
    const first = (await cloudMap(registry).CreateHttpNamespace({ Name: 'idem', CreatorRequestId: 'tok-idem' })) as Any;
    await registry.waitForOperation(first.OperationId);
    const again = (await cloudMap(registry).CreateHttpNamespace({ Name: 'idem', CreatorRequestId: 'tok-idem' })) as Any;
    assert.equal(again.OperationId, first.OperationId);
  });

  test('private DNS namespaces: hosted zone, unique per (name, VPC), reused name gets a suffixed HttpName', async () => {
    const { registry } = h;
    const id = await privateNamespace(registry, 'demo.local', 'vpc-1');
    const ns = ((await cloudMap(registry).GetNamespace({ Id: id })) as Any).Namespace;
    assert.equal(ns.Type, 'DNS_PRIVATE');
    assert.match(ns.Properties.DnsProperties.HostedZoneId, /^Z[A-Z0-9]{20}$/);
    assert.deepEqual(ns.Properties.DnsProperties.SOA, {});
    assert.equal(ns.Properties.HttpProperties.HttpName, 'demo.local');
    await rejectsWith(cloudMap(registry).CreatePrivateDnsNamespace({ Name: 'DEMO.local', Vpc: 'vpc-1' }), 'NamespaceAlreadyExists', { NamespaceId: id });
    const second = await privateNamespace(registry, 'demo.local', 'vpc-2');
    const ns2 = ((await cloudMap(registry).GetNamespace({ Id: second })) as Any).Namespace;
    assert.notEqual(ns2.Properties.HttpProperties.HttpName, 'demo.local');
    assert.ok(ns2.Properties.HttpProperties.HttpName.startsWith('demo.local-'));
  });

  test('public DNS namespace with SOA TTL', async () => {
    const { registry } = h;
    const op = await completed(
      registry,
      cloudMap(registry).CreatePublicDnsNamespace({ Name: 'example.com', Properties: { DnsProperties: { SOA: { TTL: 60 } } } }),
    );
    const ns = ((await cloudMap(registry).GetNamespace({ Id: op.targets.NAMESPACE })) as Any).Namespace;
    assert.equal(ns.Type, 'DNS_PUBLIC');
    assert.deepEqual(ns.Properties.DnsProperties.SOA, { TTL: 60 });
    await rejectsWith(cloudMap(registry).CreatePublicDnsNamespace({ Name: 'Example.COM' }), 'NamespaceAlreadyExists');
  });

  test('validation of namespace creation', async () => {
    const { registry } = h;
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['missing Name', () => cloudMap(registry).CreateHttpNamespace({}), /^Name: is required/],
      ['Name not a string', () => cloudMap(registry).CreateHttpNamespace({ Name: 5 }), /^Name: must be a string/],
      ['Name too long', () => cloudMap(registry).CreateHttpNamespace({ Name: 'a'.repeat(1025) }), /^Name: must be at most 1024/],
      ['Name starting with arn:', () => cloudMap(registry).CreateHttpNamespace({ Name: 'arn:x' }), /^Name: must match/],
      ['Name with a space', () => cloudMap(registry).CreateHttpNamespace({ Name: 'a b' }), /^Name: must match/],
      ['CreatorRequestId too long', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', CreatorRequestId: 'a'.repeat(65) }), /^CreatorRequestId:/],
      ['Description too long', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', Description: 'a'.repeat(1025) }), /^Description:/],
      ['Tags not a list', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', Tags: {} }), /^Tags: must be a list/],
      ['Tag without Key', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', Tags: [{ Value: 'v' }] }), /^Tags\[0\]\.Key: is required/],
      ['Tag Key too long', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', Tags: [{ Key: 'k'.repeat(129), Value: '' }] }), /^Tags\[0\]\.Key:/],
      ['Tag Value too long', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] }), /^Tags\[0\]\.Value:/],
      ['duplicate tag keys', () => cloudMap(registry).CreateHttpNamespace({ Name: 'x', Tags: [{ Key: 'k', Value: '' }, { Key: 'k', Value: '' }] }), /^Tags: duplicate/],
      ['body not an object', () => cloudMap(registry).CreateHttpNamespace([1]), /JSON object/],
      ['private without Vpc', () => cloudMap(registry).CreatePrivateDnsNamespace({ Name: 'p.local' }), /^Vpc: is required/],
      ['private Vpc too long', () => cloudMap(registry).CreatePrivateDnsNamespace({ Name: 'p.local', Vpc: 'v'.repeat(65) }), /^Vpc:/],
      ['private Name too long', () => cloudMap(registry).CreatePrivateDnsNamespace({ Name: 'a'.repeat(254), Vpc: 'v' }), /^Name:/],
      ['private Name with an empty label', () => cloudMap(registry).CreatePrivateDnsNamespace({ Name: 'a..b', Vpc: 'v' }), /^Name: "a\.\.b" is not a DNS name/],
      ['private Name with a 64-character label', () => cloudMap(registry).CreatePrivateDnsNamespace({ Name: `${'a'.repeat(64)}.local`, Vpc: 'v' }), /is not a DNS name/],
      ['public Name not a domain', () => cloudMap(registry).CreatePublicDnsNamespace({ Name: 'nodots' }), /^Name: must match/],
      ['public Name with underscore', () => cloudMap(registry).CreatePublicDnsNamespace({ Name: 'a_b.com' }), /^Name: must match/],
      ['SOA without TTL', () => cloudMap(registry).CreatePublicDnsNamespace({ Name: 'a.com', Properties: { DnsProperties: { SOA: {} } } }), /^Properties\.DnsProperties\.SOA\.TTL: is required/],
      ['SOA TTL negative', () => cloudMap(registry).CreatePublicDnsNamespace({ Name: 'a.com', Properties: { DnsProperties: { SOA: { TTL: -1 } } } }), /TTL: must be between/],
      ['SOA TTL not integer', () => cloudMap(registry).CreatePublicDnsNamespace({ Name: 'a.com', Properties: { DnsProperties: { SOA: { TTL: 1.5 } } } }), /TTL: must be an integer/],
      ['Properties without DnsProperties', () => cloudMap(registry).CreatePublicDnsNamespace({ Name: 'a.com', Properties: {} }), /^Properties\.DnsProperties: is required/],
      ['GetNamespace without Id', () => cloudMap(registry).GetNamespace({}), /^Id: is required/],
      ['GetNamespace with a service ARN', () => cloudMap(registry).GetNamespace({ Id: `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:service/srv-x` }), /^Id: must be a namespace/],
    ];
    for (const [name, call, message] of cases) {
      await rejectsWith(call(), 'InvalidInput', undefined, message).catch((err) => assert.fail(`${name}: ${err.message}`));
    }
  });

  test('GetNamespace of unknown id or other account: NamespaceNotFound', async () => {
    await rejectsWith(cloudMap(h.registry).GetNamespace({ Id: 'ns-doesnotexist0000' }), 'NamespaceNotFound');
    await rejectsWith(cloudMap(h.registry).GetNamespace({ Id: `arn:aws:servicediscovery:${REGION}:999999999999:namespace/ns-x` }), 'NamespaceNotFound');
  });

  test('UpdateHttpNamespace / UpdatePrivateDnsNamespace', async () => {
    const { registry } = h;
    const id = await httpNamespace(registry, 'upd-http');
    const op = await completed(registry, cloudMap(registry).UpdateHttpNamespace({ Id: id, Namespace: { Description: 'new' } }));
    assert.equal(op.type, 'UPDATE_NAMESPACE');
    assert.equal(((await cloudMap(registry).GetNamespace({ Id: id })) as Any).Namespace.Description, 'new');
    await rejectsWith(cloudMap(registry).UpdateHttpNamespace({ Id: id, Namespace: {} }), 'InvalidInput', undefined, /^Namespace\.Description: is required/);
    await rejectsWith(cloudMap(registry).UpdateHttpNamespace({ Id: id }), 'InvalidInput', undefined, /^Namespace: is required/);
    await rejectsWith(cloudMap(registry).UpdatePrivateDnsNamespace({ Id: id, Namespace: { Description: 'x' } }), 'InvalidInput', undefined, /type HTTP/);
    await rejectsWith(cloudMap(registry).UpdateHttpNamespace({ Id: 'ns-nope', Namespace: { Description: 'x' } }), 'NamespaceNotFound');

    const pid = await privateNamespace(registry, 'upd.local');
    await completed(registry, cloudMap(registry).UpdatePrivateDnsNamespace({ Id: pid, Namespace: { Properties: { DnsProperties: { SOA: { TTL: 30 } } } } }));
    assert.deepEqual(((await cloudMap(registry).GetNamespace({ Id: pid })) as Any).Namespace.Properties.DnsProperties.SOA, { TTL: 30 });
    // UpdaterRequestId: the same update again gives the same operation.
    const a = (await cloudMap(registry).UpdatePrivateDnsNamespace({ Id: pid, UpdaterRequestId: 'u1', Namespace: { Description: 'z' } })) as Any;
    await registry.waitForOperation(a.OperationId);
    const b = (await cloudMap(registry).UpdatePrivateDnsNamespace({ Id: pid, UpdaterRequestId: 'u1', Namespace: { Description: 'z' } })) as Any;
    assert.equal(b.OperationId, a.OperationId);
  });

  test('ListNamespaces: filters, pagination with distinct tokens', async () => {
    const { registry } = h;
    const all = (await cloudMap(registry).ListNamespaces({})) as Any;
    assert.ok(all.Namespaces.length >= 5);
    assert.equal(all.NextToken, undefined);
    assert.deepEqual(all.Namespaces.find((n: Any) => n.Type === 'HTTP').Properties.DnsProperties, { SOA: {} });
    const seen: string[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const p = (await cloudMap(registry).ListNamespaces({ MaxResults: 2, NextToken: token })) as Any;
      assert.ok(p.Namespaces.length <= 2);
      seen.push(...p.Namespaces.map((n: Any) => n.Id));
      token = p.NextToken;
      if (token) {
        assert.ok(!tokens.has(token), 'tokens differ on every page');
        tokens.add(token);
      }
    } while (token);
    assert.deepEqual(seen, all.Namespaces.map((n: Any) => n.Id));

    const types = (await cloudMap(registry).ListNamespaces({ Filters: [{ Name: 'TYPE', Values: ['DNS_PRIVATE'], Condition: 'EQ' }] })) as Any;
    assert.ok(types.Namespaces.length >= 2 && types.Namespaces.every((n: Any) => n.Type === 'DNS_PRIVATE'));
    const inTypes = (await cloudMap(registry).ListNamespaces({ Filters: [{ Name: 'TYPE', Values: ['DNS_PRIVATE', 'DNS_PUBLIC'], Condition: 'IN' }] })) as Any;
    assert.ok(inTypes.Namespaces.every((n: Any) => n.Type !== 'HTTP'));
    const begins = (await cloudMap(registry).ListNamespaces({ Filters: [{ Name: 'NAME', Values: ['demo'], Condition: 'BEGINS_WITH' }] })) as Any;
    assert.ok(begins.Namespaces.length >= 3 && begins.Namespaces.every((n: Any) => n.Name.startsWith('demo')));
    const others = (await cloudMap(registry).ListNamespaces({ Filters: [{ Name: 'RESOURCE_OWNER', Values: ['OTHER_ACCOUNTS'] }] })) as Any;
    assert.deepEqual(others.Namespaces, []);

    const bad: [unknown, RegExp][] = [
      [{ MaxResults: 0 }, /^MaxResults: must be between 1 and 100/],
      [{ MaxResults: 101 }, /^MaxResults/],
      [{ NextToken: 'garbage' }, /^NextToken/],
      [{ Filters: [{ Name: 'BOGUS', Values: ['x'] }] }, /^Filters\[0\]\.Name: must be one of/],
      [{ Filters: [{ Name: 'TYPE', Values: ['x'] }] }, /^Filters\[0\]\.Values\[0\]: must be one of/],
      [{ Filters: [{ Name: 'TYPE', Values: ['HTTP'], Condition: 'BETWEEN' }] }, /Condition/],
      [{ Filters: [{ Name: 'NAME', Values: ['a', 'b'], Condition: 'EQ' }] }, /exactly one value/],
      [{ Filters: [{ Name: 'NAME', Values: [] }] }, /Values: must have at least 1/],
      [{ Filters: [{ Name: 'NAME' }] }, /Values: is required/],
      [{ Filters: [{ Name: 'NAME', Values: [''] }] }, /Values\[0\]: must be at least 1/],
    ];
    for (const [input, message] of bad) await rejectsWith(cloudMap(registry).ListNamespaces(input), 'InvalidInput', undefined, message);
    // A token of another list is refused.
    const svcs = (await cloudMap(registry).ListNamespaces({ MaxResults: 1 })) as Any;
    await rejectsWith(cloudMap(registry).ListServices({ NextToken: svcs.NextToken }), 'InvalidInput', undefined, /^NextToken/);
  });

  test('DeleteNamespace: ResourceInUse with services, then deleted', async () => {
    const { registry } = h;
    const id = await privateNamespace(registry, 'del.local');
    const svc = await service(registry, { Name: 'web', NamespaceId: id, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] } });
    await rejectsWith(cloudMap(registry).DeleteNamespace({ Id: id }), 'ResourceInUse');
    await cloudMap(registry).DeleteService({ Id: svc.Id });
    const op = await completed(registry, cloudMap(registry).DeleteNamespace({ Id: id }));
    assert.equal(op.type, 'DELETE_NAMESPACE');
    await rejectsWith(cloudMap(registry).GetNamespace({ Id: id }), 'NamespaceNotFound');
    await rejectsWith(cloudMap(registry).DeleteNamespace({ Id: id }), 'NamespaceNotFound');
  });

  test('namespaces per region quota: ResourceLimitExceeded', async () => {
    const { registry } = h;
    let n = ((await cloudMap(registry).ListNamespaces({})) as Any).Namespaces.length;
    while (n < 8) {
      await httpNamespace(registry, `fill-${n}`);
      n++;
    }
    await rejectsWith(cloudMap(registry).CreateHttpNamespace({ Name: 'one-too-many' }), 'ResourceLimitExceeded');
  });
});

describe('namespaces with a slow operation worker', () => {
  let h: Harness;
  before(async () => {
    // A real clock and a long delay: operations stay open for the whole test.
    h = await openHarness({ config: { opDelayMs: 60_000 } });
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('open operations: GetOperation at once, DuplicateRequest, ResourceInUse, names taken at submit', async () => {
    const { registry } = h;
    const a = (await cloudMap(registry).CreateHttpNamespace({ Name: 'slow', CreatorRequestId: 't1' })) as Any;
    const got = (await cloudMap(registry).GetOperation({ OperationId: a.OperationId })) as Any;
    assert.equal(got.Operation.Status, 'SUBMITTED');
    await rejectsWith(cloudMap(registry).CreateHttpNamespace({ Name: 'slow', CreatorRequestId: 't1' }), 'DuplicateRequest', {
      DuplicateOperationId: a.OperationId,
    });
    // A different token for a name taken by an open create: NamespaceAlreadyExists.
    await rejectsWith(cloudMap(registry).CreateHttpNamespace({ Name: 'slow', CreatorRequestId: 't2' }), 'NamespaceAlreadyExists', {
      CreatorRequestId: 't1',
    });
    await rejectsWith(cloudMap(registry).GetNamespace({ Id: got.Operation.Targets.NAMESPACE }), 'NamespaceNotFound');
    const listed = (await cloudMap(registry).ListOperations({ Filters: [{ Name: 'STATUS', Values: ['SUBMITTED', 'PENDING'], Condition: 'IN' }] })) as Any;
    assert.deepEqual(listed.Operations, [{ Id: a.OperationId, Status: 'SUBMITTED' }]);
    await rejectsWith(cloudMap(registry).GetOperation({ OperationId: 'nope' }), 'OperationNotFound');
    await rejectsWith(cloudMap(registry).GetOperation({ OperationId: a.OperationId, OwnerAccount: '999999999999' }), 'OperationNotFound');
    await rejectsWith(cloudMap(registry).GetOperation({ OperationId: a.OperationId, OwnerAccount: '1' }), 'InvalidInput', undefined, /^OwnerAccount/);
  });
});

describe('open operations block conflicting requests', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness({ config: { opDelayMs: 60_000 } });
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  // The worker takes a minute here, so records are put straight into the store.
  const putNamespace = async (id: string, name: string, type = 'HTTP') => {
    const ns = { id, arn: `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:namespace/${id}`, name, type, httpName: name, createDate: Date.now(), tags: [] };
    await h.kv.create(`/ns/${id}`, JSON.stringify(ns));
    return id;
  };

  test('UpdateNamespace: ResourceInUse while another is open, DuplicateRequest for the same token', async () => {
    const { registry } = h;
    const id = await putNamespace('ns-open000000000001', 'open-1');
    const a = (await cloudMap(registry).UpdateHttpNamespace({ Id: id, UpdaterRequestId: 'u', Namespace: { Description: 'x' } })) as Any;
    await rejectsWith(cloudMap(registry).UpdateHttpNamespace({ Id: id, UpdaterRequestId: 'u', Namespace: { Description: 'x' } }), 'DuplicateRequest', {
      DuplicateOperationId: a.OperationId,
    });
    await rejectsWith(cloudMap(registry).UpdateHttpNamespace({ Id: id, Namespace: { Description: 'y' } }), 'ResourceInUse');
    await rejectsWith(cloudMap(registry).DeleteNamespace({ Id: id }), 'ResourceInUse');
  });

  test('DeleteNamespace twice: DuplicateRequest with the first operation; CreateService meanwhile: ResourceInUse', async () => {
    const { registry } = h;
    const id = await putNamespace('ns-open000000000002', 'open-2');
    const a = (await cloudMap(registry).DeleteNamespace({ Id: id })) as Any;
    await rejectsWith(cloudMap(registry).DeleteNamespace({ Id: id }), 'DuplicateRequest', { DuplicateOperationId: a.OperationId });
    await rejectsWith(cloudMap(registry).CreateService({ Name: 'late', NamespaceId: id }), 'ResourceInUse');
    await rejectsWith(cloudMap(registry).UpdateHttpNamespace({ Id: id, Namespace: { Description: 'y' } }), 'ResourceInUse');
  });

  test('UpdateService twice: DuplicateRequest; DeleteService meanwhile: ResourceInUse', async () => {
    const { registry } = h;
    const id = await putNamespace('ns-open000000000003', 'open-3.local', 'DNS_PRIVATE');
    const svc = ((await cloudMap(registry).CreateService({ Name: 'web', NamespaceId: id, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } })) as Any).Service;
    const a = (await cloudMap(registry).UpdateService({ Id: svc.Id, Service: { Description: 'x' } })) as Any;
    await rejectsWith(cloudMap(registry).UpdateService({ Id: svc.Id, Service: { Description: 'y' } }), 'DuplicateRequest', { DuplicateOperationId: a.OperationId });
    await rejectsWith(cloudMap(registry).DeleteService({ Id: svc.Id }), 'ResourceInUse');
  });

  test('ListOperations: filter names and conditions', async () => {
    const { registry } = h;
    const all = (await cloudMap(registry).ListOperations({})) as Any;
    assert.equal(all.Operations.length, 3);
    const updates = (await cloudMap(registry).ListOperations({ Filters: [{ Name: 'TYPE', Values: ['UPDATE_NAMESPACE', 'UPDATE_SERVICE'], Condition: 'IN' }] })) as Any;
    assert.equal(updates.Operations.length, 2);
    const ns2 = (await cloudMap(registry).ListOperations({ Filters: [{ Name: 'NAMESPACE_ID', Values: ['ns-open000000000002'] }] })) as Any;
    assert.equal(ns2.Operations.length, 1);
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const p = (await cloudMap(registry).ListOperations({ MaxResults: 2, NextToken: token })) as Any;
      ids.push(...p.Operations.map((o: Any) => o.Id));
      token = p.NextToken;
    } while (token);
    assert.deepEqual(ids, all.Operations.map((o: Any) => o.Id));
    const bad: [unknown, RegExp][] = [
      [{ Filters: [{ Name: 'NAMESPACE_ID', Values: ['a'], Condition: 'IN' }] }, /supports only EQ/],
      [{ Filters: [{ Name: 'SERVICE_ID', Values: ['a', 'b'] }] }, /exactly one value/],
      [{ Filters: [{ Name: 'STATUS', Values: ['DONE'] }] }, /Values\[0\]: must be one of/],
      [{ Filters: [{ Name: 'STATUS', Values: ['SUCCESS'], Condition: 'BETWEEN' }] }, /supports EQ and IN/],
      [{ Filters: [{ Name: 'TYPE', Values: ['CREATE_NAMESPACE', 'DELETE_NAMESPACE'], Condition: 'EQ' }] }, /exactly one value/],
      [{ Filters: [{ Name: 'UPDATE_DATE', Values: ['1'] , Condition: 'BETWEEN' }] }, /exactly two values/],
      [{ Filters: [{ Name: 'UPDATE_DATE', Values: ['1', '2'] }] }, /requires BETWEEN/],
      [{ Filters: [{ Name: 'UPDATE_DATE', Values: ['x', '2'], Condition: 'BETWEEN' }] }, /epoch seconds/],
      [{ Filters: [{ Name: 'UPDATE_DATE', Values: ['3', '2'], Condition: 'BETWEEN' }] }, /start must not be after/],
      [{ Filters: [{ Name: 'BOGUS', Values: ['x'] }] }, /Name: must be one of/],
      [{ Filters: [{ Name: 'TYPE', Values: ['UPDATE_SERVICE'], Condition: 'NE' }] }, /Condition: must be one of/],
      [{ Filters: 'x' }, /Filters: must be a list/],
      [{ MaxResults: 'x' }, /MaxResults: must be an integer/],
      [{ NextToken: 'x'.repeat(4097) }, /NextToken: must be at most 4096/],
    ];
    for (const [input, message] of bad) await rejectsWith(cloudMap(registry).ListOperations(input), 'InvalidInput', undefined, message);
  });

  test('TooManyTagsException on namespace creation', async () => {
    const tags = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: '' }));
    await rejectsWith(cloudMap(h.registry).CreateHttpNamespace({ Name: 'tags', Tags: tags }), 'TooManyTagsException', (f) =>
      assert.match(String(f['ResourceName']), /:namespace\/ns-/),
    );
    const over = Array.from({ length: 201 }, (_, i) => ({ Key: `k${i}`, Value: '' }));
    await rejectsWith(cloudMap(h.registry).CreateHttpNamespace({ Name: 'tags', Tags: over }), 'InvalidInput', undefined, /^Tags: must have at most 200/);
  });
});
