/**
 * Namespaces and operations through `@aws-sdk/client-servicediscovery`: every namespace operation's
 * success path and documented errors, pagination, idempotency, and GetOperation/ListOperations.
 * (docs/compatibility.md#namespaces, #asynchronous-operations, #idempotency; conformance cases 1-5.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rejectsWith, startTestServer, waitOp, type TestServer } from './helpers.ts';

const OP_ID = /^[a-z0-9]{32}-[a-z0-9]{8}$/;
const NS_ID = /^ns-[a-z0-9]{16}$/;

describe('namespaces', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer()));
  after(() => s.destroy());

  test('CreateHttpNamespace → operation → GetNamespace by id and by ARN (cases 1, 2, 4)', async () => {
    const { OperationId } = await s.sd.createHttpNamespace({ Name: 'demo-http', Description: 'first', Tags: [{ Key: 'team', Value: 'a' }] });
    assert.match(OperationId!, OP_ID);
    const op = await waitOp(s.sd, OperationId);
    assert.equal(op.Type, 'CREATE_NAMESPACE');
    assert.equal(op.Id, OperationId);
    assert.ok(op.CreateDate instanceof Date && op.UpdateDate instanceof Date);
    const nsId = op.Targets!['NAMESPACE']!;
    assert.match(nsId, NS_ID);

    const { Namespace: ns } = await s.sd.getNamespace({ Id: nsId });
    assert.equal(ns?.Id, nsId);
    assert.equal(ns?.Name, 'demo-http');
    assert.equal(ns?.Type, 'HTTP');
    assert.equal(ns?.Description, 'first');
    assert.equal(ns?.ServiceCount, 0);
    assert.equal(ns?.ResourceOwner, '000000000000');
    assert.equal(ns?.Properties?.HttpProperties?.HttpName, 'demo-http');
    assert.equal(ns?.Arn, `arn:aws:servicediscovery:us-east-1:000000000000:namespace/${nsId}`);
    assert.ok(ns?.CreateDate instanceof Date);
    assert.ok(ns?.CreatorRequestId, 'the SDK filled CreatorRequestId');

    const byArn = await s.sd.getNamespace({ Id: ns!.Arn! });
    assert.deepEqual(byArn.Namespace, ns);

    const { Tags } = await s.sd.listTagsForResource({ ResourceARN: ns!.Arn! });
    assert.deepEqual(Tags, [{ Key: 'team', Value: 'a' }]);
  });

  test('NamespaceAlreadyExists carries the existing NamespaceId and CreatorRequestId (case 3)', async () => {
    const { OperationId } = await s.sd.createHttpNamespace({ Name: 'dup-ns', CreatorRequestId: 'token-1' });
    const nsId = (await waitOp(s.sd, OperationId)).Targets!['NAMESPACE'];
    const e = await rejectsWith(() => s.sd.createHttpNamespace({ Name: 'dup-ns', CreatorRequestId: 'token-2' }), 'NamespaceAlreadyExists');
    assert.equal(e['NamespaceId'], nsId);
    assert.equal(e['CreatorRequestId'], 'token-1');
    assert.equal(e['$fault'], 'client');
    assert.match(e.message, /./);
  });

  test('same CreatorRequestId and parameters after completion returns the same operation', async () => {
    const first = await s.sd.createHttpNamespace({ Name: 'idem-ns', CreatorRequestId: 'idem-1' });
    await waitOp(s.sd, first.OperationId);
    const again = await s.sd.createHttpNamespace({ Name: 'idem-ns', CreatorRequestId: 'idem-1' });
    assert.equal(again.OperationId, first.OperationId);
  });

  test('GetNamespace of an unknown id is NamespaceNotFound (case 4)', async () => {
    await rejectsWith(() => s.sd.getNamespace({ Id: 'ns-doesnotexist0000' }), 'NamespaceNotFound');
    await rejectsWith(() => s.sd.getNamespace({ Id: 'arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-doesnotexist0000' }), 'NamespaceNotFound');
  });

  test('CreatePrivateDnsNamespace (case 5) and UpdatePrivateDnsNamespace', async () => {
    const { OperationId } = await s.sd.createPrivateDnsNamespace({
      Name: 'demo.local',
      Vpc: 'vpc-1234',
      Properties: { DnsProperties: { SOA: { TTL: 60 } } },
    });
    const nsId = (await waitOp(s.sd, OperationId)).Targets!['NAMESPACE']!;
    const { Namespace: ns } = await s.sd.getNamespace({ Id: nsId });
    assert.equal(ns?.Type, 'DNS_PRIVATE');
    assert.match(ns?.Properties?.DnsProperties?.HostedZoneId ?? '', /^Z[A-Z0-9]+$/);
    assert.equal(ns?.Properties?.DnsProperties?.SOA?.TTL, 60);
    assert.equal(ns?.Properties?.HttpProperties?.HttpName, 'demo.local');
    assert.equal(ns?.ServiceCount, 0);

    const upd = await s.sd.updatePrivateDnsNamespace({
      Id: nsId,
      Namespace: { Description: 'changed', Properties: { DnsProperties: { SOA: { TTL: 120 } } } },
    });
    const op = await waitOp(s.sd, upd.OperationId);
    assert.equal(op.Type, 'UPDATE_NAMESPACE');
    const after = (await s.sd.getNamespace({ Id: nsId })).Namespace;
    assert.equal(after?.Description, 'changed');
    assert.equal(after?.Properties?.DnsProperties?.SOA?.TTL, 120);
  });

  test('CreatePublicDnsNamespace and UpdatePublicDnsNamespace', async () => {
    const { OperationId } = await s.sd.createPublicDnsNamespace({ Name: 'example.test' });
    const nsId = (await waitOp(s.sd, OperationId)).Targets!['NAMESPACE']!;
    assert.equal((await s.sd.getNamespace({ Id: nsId })).Namespace?.Type, 'DNS_PUBLIC');
    const upd = await s.sd.updatePublicDnsNamespace({ Id: nsId, Namespace: { Description: 'public' } });
    await waitOp(s.sd, upd.OperationId);
    assert.equal((await s.sd.getNamespace({ Id: nsId })).Namespace?.Description, 'public');
  });

  test('UpdateHttpNamespace changes the description; unknown id is NamespaceNotFound', async () => {
    const { OperationId } = await s.sd.createHttpNamespace({ Name: 'upd-http' });
    const nsId = (await waitOp(s.sd, OperationId)).Targets!['NAMESPACE']!;
    const upd = await s.sd.updateHttpNamespace({ Id: nsId, Namespace: { Description: 'new text' } });
    await waitOp(s.sd, upd.OperationId);
    assert.equal((await s.sd.getNamespace({ Id: nsId })).Namespace?.Description, 'new text');
    await rejectsWith(() => s.sd.updateHttpNamespace({ Id: 'ns-doesnotexist0000', Namespace: { Description: 'x' } }), 'NamespaceNotFound');
  });

  const invalid: [string, () => Promise<unknown>][] = [
    ['public name that is not a domain', () => s.sd.createPublicDnsNamespace({ Name: 'not_a_domain' })],
    ['HTTP name that looks like an ARN', () => s.sd.createHttpNamespace({ Name: 'arn:aws:x' })],
    ['missing Vpc', () => s.sd.createPrivateDnsNamespace({ Name: 'novpc.local' } as never)],
    ['over-long description', () => s.sd.createHttpNamespace({ Name: 'long-desc', Description: 'x'.repeat(1025) })],
    ['tag key too long', () => s.sd.createHttpNamespace({ Name: 'bad-tag', Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] })],
    ['UpdateHttpNamespace without Description', () => s.sd.updateHttpNamespace({ Id: 'ns-doesnotexist0000', Namespace: {} as never })],
    ['ListNamespaces MaxResults 0', () => s.sd.listNamespaces({ MaxResults: 0 })],
    ['ListNamespaces bad filter name', () => s.sd.listNamespaces({ Filters: [{ Name: 'BOGUS' as never, Values: ['x'] }] })],
    ['bad NextToken', () => s.sd.listNamespaces({ NextToken: 'garbage!' })],
  ];
  for (const [name, call] of invalid) {
    test(`InvalidInput: ${name}`, async () => {
      const e = await rejectsWith(call, 'InvalidInput');
      assert.ok(e.message.length > 0);
    });
  }

  test('ListNamespaces: filters, and pages with distinct tokens that cover everything', async () => {
    const all = (await s.sd.listNamespaces({})).Namespaces!;
    assert.ok(all.length >= 5);
    for (const ns of all) assert.match(ns.Id!, NS_ID);
    const http = (await s.sd.listNamespaces({ Filters: [{ Name: 'TYPE', Values: ['HTTP'], Condition: 'EQ' }] })).Namespaces!;
    assert.ok(http.length > 0 && http.every((n) => n.Type === 'HTTP'));
    const byName = (await s.sd.listNamespaces({ Filters: [{ Name: 'NAME', Values: ['demo.local'] }] })).Namespaces!;
    assert.deepEqual(byName.map((n) => n.Name), ['demo.local']);

    const seen: string[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await s.sd.listNamespaces({ MaxResults: 2, NextToken: token });
      assert.ok(page.Namespaces!.length <= 2);
      seen.push(...page.Namespaces!.map((n) => n.Id!));
      token = page.NextToken;
      if (token) {
        assert.ok(!tokens.has(token), 'tokens are distinct');
        tokens.add(token);
      }
    } while (token);
    assert.deepEqual([...seen].sort(), all.map((n) => n.Id!).sort());
    assert.equal(new Set(seen).size, seen.length, 'no namespace twice');
  });

  test('DeleteNamespace: ResourceInUse while it has services, then DELETE_NAMESPACE, then NamespaceNotFound (cases 18, 19)', async () => {
    const { OperationId } = await s.sd.createHttpNamespace({ Name: 'to-delete' });
    const nsId = (await waitOp(s.sd, OperationId)).Targets!['NAMESPACE']!;
    const { Service } = await s.sd.createService({ Name: 'svc', NamespaceId: nsId });
    await rejectsWith(() => s.sd.deleteNamespace({ Id: nsId }), 'ResourceInUse');
    await s.sd.deleteService({ Id: Service!.Id! });
    const del = await s.sd.deleteNamespace({ Id: nsId });
    const op = await waitOp(s.sd, del.OperationId);
    assert.equal(op.Type, 'DELETE_NAMESPACE');
    assert.equal(op.Targets!['NAMESPACE'], nsId);
    await rejectsWith(() => s.sd.getNamespace({ Id: nsId }), 'NamespaceNotFound');
    await rejectsWith(() => s.sd.deleteNamespace({ Id: nsId }), 'NamespaceNotFound');
  });

  test('GetOperation: OperationNotFound; ListOperations with filters and pages', async () => {
    await rejectsWith(() => s.sd.getOperation({ OperationId: 'nope' }), 'OperationNotFound');
    const all = (await s.sd.listOperations({})).Operations!;
    assert.ok(all.length >= 6);
    for (const o of all) assert.match(o.Id!, OP_ID);
    const creates = (await s.sd.listOperations({ Filters: [{ Name: 'TYPE', Values: ['CREATE_NAMESPACE'], Condition: 'EQ' }] })).Operations!;
    assert.ok(creates.length >= 5);
    const statusIn = (await s.sd.listOperations({ Filters: [{ Name: 'STATUS', Values: ['SUCCESS', 'FAIL'], Condition: 'IN' }] })).Operations!;
    assert.ok(statusIn.every((o) => o.Status === 'SUCCESS' || o.Status === 'FAIL'));
    const now = Date.now() / 1000;
    const recent = (
      await s.sd.listOperations({ Filters: [{ Name: 'UPDATE_DATE', Values: [String(now - 3600), String(now + 3600)], Condition: 'BETWEEN' }] })
    ).Operations!;
    assert.equal(recent.length, all.length);
    await rejectsWith(() => s.sd.listOperations({ Filters: [{ Name: 'NAMESPACE_ID', Values: ['a', 'b'], Condition: 'IN' }] }), 'InvalidInput');

    const seen: string[] = [];
    let token: string | undefined;
    const tokens = new Set<string>();
    do {
      const page = await s.sd.listOperations({ MaxResults: 3, NextToken: token });
      seen.push(...page.Operations!.map((o) => o.Id!));
      token = page.NextToken;
      if (token) {
        assert.ok(!tokens.has(token));
        tokens.add(token);
      }
    } while (token);
    assert.deepEqual([...seen].sort(), all.map((o) => o.Id!).sort());
  });
});

describe('namespace quota', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer({ maxNamespaces: 2 })));
  after(() => s.destroy());

  test('ResourceLimitExceeded above --max-namespaces', async () => {
    await waitOp(s.sd, (await s.sd.createHttpNamespace({ Name: 'q1' })).OperationId);
    await waitOp(s.sd, (await s.sd.createHttpNamespace({ Name: 'q2' })).OperationId);
    await rejectsWith(() => s.sd.createHttpNamespace({ Name: 'q3' }), 'ResourceLimitExceeded');
  });
});

describe('operations that stay pending (--op-delay)', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer({ opDelayMs: 700 })));
  after(() => s.destroy());

  test('GetOperation sees a new operation at once, before SUCCESS; a duplicate delete is DuplicateRequest', async () => {
    const { OperationId } = await s.sd.createHttpNamespace({ Name: 'slow', CreatorRequestId: 'slow-1' });
    const first = (await s.sd.getOperation({ OperationId })).Operation!;
    assert.ok(['SUBMITTED', 'PENDING'].includes(first.Status!), `status ${first.Status}`);
    const dup = await rejectsWith(() => s.sd.createHttpNamespace({ Name: 'slow', CreatorRequestId: 'slow-1' }), 'DuplicateRequest');
    assert.equal(dup['DuplicateOperationId'], OperationId);
    const nsId = (await waitOp(s.sd, OperationId)).Targets!['NAMESPACE']!;

    const del = await s.sd.deleteNamespace({ Id: nsId });
    const again = await rejectsWith(() => s.sd.deleteNamespace({ Id: nsId }), 'DuplicateRequest');
    assert.equal(again['DuplicateOperationId'], del.OperationId);
    await waitOp(s.sd, del.OperationId);
  });

  test('an update while another is pending is ResourceInUse', async () => {
    const nsId = (await waitOp(s.sd, (await s.sd.createHttpNamespace({ Name: 'busy' })).OperationId)).Targets!['NAMESPACE']!;
    const first = await s.sd.updateHttpNamespace({ Id: nsId, Namespace: { Description: 'one' } });
    await rejectsWith(() => s.sd.updateHttpNamespace({ Id: nsId, Namespace: { Description: 'two' } }), 'ResourceInUse');
    await waitOp(s.sd, first.OperationId);
  });
});
