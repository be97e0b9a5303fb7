/**
 * Every documented error code of every operation (docs/compatibility.md#errors), as the SDK sees it:
 * `e.name` is the code, HTTP 400, and the modeled members are there. The operations of one table
 * row run against a server whose asynchronous operations stay pending for a while
 * (`--op-delay`), so DuplicateRequest and ResourceInUse can be produced on purpose.
 * (RequestLimitExceeded is not emulated: Pharos has no rate quota.)
 */
import type { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rejectsWith, startTestServer, waitOp, type TestServer } from './helpers.ts';

/** Long enough that the calls made while an operation is pending land inside it, even on a loaded machine. */
const OP_DELAY_MS = 700;
const NO_NS = 'ns-doesnotexist0000';
const NO_SRV = 'srv-doesnotexist000';
const NO_ARN = 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-doesnotexist000';
const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));

interface Ids {
  httpNs: string;
  privNs: string;
  pubNs: string;
  httpSvc: string;
  dnsSvc: string;
  svcArn: string;
}

type Case = [operation: string, code: string, call: (sd: ServiceDiscovery, ids: Ids) => Promise<unknown>, members?: string[]];

const CASES: Case[] = [
  ['CreateHttpNamespace', 'InvalidInput', (sd) => sd.createHttpNamespace({ Name: '' })],
  ['CreateHttpNamespace', 'NamespaceAlreadyExists', (sd) => sd.createHttpNamespace({ Name: 'e-http' }), ['NamespaceId']],
  ['CreateHttpNamespace', 'TooManyTagsException', (sd) => sd.createHttpNamespace({ Name: 'e-tags', Tags: tags(51) })],
  ['CreatePrivateDnsNamespace', 'InvalidInput', (sd) => sd.createPrivateDnsNamespace({ Name: 'x.local', Vpc: 'v'.repeat(65) })],
  ['CreatePrivateDnsNamespace', 'NamespaceAlreadyExists', (sd) => sd.createPrivateDnsNamespace({ Name: 'e.local', Vpc: 'vpc-1' }), ['NamespaceId']],
  ['CreatePrivateDnsNamespace', 'TooManyTagsException', (sd) => sd.createPrivateDnsNamespace({ Name: 't.local', Vpc: 'vpc-1', Tags: tags(51) })],
  ['CreatePublicDnsNamespace', 'InvalidInput', (sd) => sd.createPublicDnsNamespace({ Name: '-bad-.test' })],
  ['CreatePublicDnsNamespace', 'NamespaceAlreadyExists', (sd) => sd.createPublicDnsNamespace({ Name: 'e.test' }), ['NamespaceId']],
  ['CreatePublicDnsNamespace', 'TooManyTagsException', (sd) => sd.createPublicDnsNamespace({ Name: 't.test', Tags: tags(51) })],
  ['CreateService', 'InvalidInput', (sd, ids) => sd.createService({ Name: 'x', NamespaceId: ids.httpNs, Type: 'DNS' as never })],
  ['CreateService', 'NamespaceNotFound', (sd) => sd.createService({ Name: 'x', NamespaceId: NO_NS })],
  ['CreateService', 'ServiceAlreadyExists', (sd, ids) => sd.createService({ Name: 'api', NamespaceId: ids.httpNs }), ['ServiceId', 'ServiceArn', 'CreatorRequestId']],
  ['CreateService', 'TooManyTagsException', (sd, ids) => sd.createService({ Name: 'tagged', NamespaceId: ids.httpNs, Tags: tags(51) })],
  ['DeleteNamespace', 'InvalidInput', (sd) => sd.deleteNamespace({ Id: 'x'.repeat(256) })],
  ['DeleteNamespace', 'NamespaceNotFound', (sd) => sd.deleteNamespace({ Id: NO_NS })],
  ['DeleteNamespace', 'ResourceInUse', (sd, ids) => sd.deleteNamespace({ Id: ids.httpNs })],
  ['DeleteService', 'InvalidInput', (sd) => sd.deleteService({ Id: 'x'.repeat(256) })],
  ['DeleteService', 'ServiceNotFound', (sd) => sd.deleteService({ Id: NO_SRV })],
  ['DeleteService', 'ResourceInUse', (sd, ids) => sd.deleteService({ Id: ids.httpSvc })],
  ['DeleteServiceAttributes', 'InvalidInput', (sd, ids) => sd.deleteServiceAttributes({ ServiceId: ids.httpSvc, Attributes: [] })],
  ['DeleteServiceAttributes', 'ServiceNotFound', (sd) => sd.deleteServiceAttributes({ ServiceId: NO_SRV, Attributes: ['a'] })],
  ['DeregisterInstance', 'InvalidInput', (sd, ids) => sd.deregisterInstance({ ServiceId: ids.httpSvc, InstanceId: 'x'.repeat(65) })],
  ['DeregisterInstance', 'InstanceNotFound', (sd, ids) => sd.deregisterInstance({ ServiceId: ids.httpSvc, InstanceId: 'nope' })],
  ['DeregisterInstance', 'ServiceNotFound', (sd) => sd.deregisterInstance({ ServiceId: NO_SRV, InstanceId: 'a' })],
  ['DiscoverInstances', 'InvalidInput', (sd) => sd.discoverInstances({ NamespaceName: 'e-http', ServiceName: 'api', MaxResults: 0 })],
  ['DiscoverInstances', 'NamespaceNotFound', (sd) => sd.discoverInstances({ NamespaceName: 'nope', ServiceName: 'api' })],
  ['DiscoverInstances', 'ServiceNotFound', (sd) => sd.discoverInstances({ NamespaceName: 'e-http', ServiceName: 'nope' })],
  ['DiscoverInstancesRevision', 'InvalidInput', (sd) => sd.discoverInstancesRevision({ NamespaceName: '', ServiceName: 'api' })],
  ['DiscoverInstancesRevision', 'NamespaceNotFound', (sd) => sd.discoverInstancesRevision({ NamespaceName: 'nope', ServiceName: 'api' })],
  ['DiscoverInstancesRevision', 'ServiceNotFound', (sd) => sd.discoverInstancesRevision({ NamespaceName: 'e-http', ServiceName: 'nope' })],
  ['GetInstance', 'InvalidInput', (sd, ids) => sd.getInstance({ ServiceId: ids.httpSvc, InstanceId: 'x'.repeat(65) })],
  ['GetInstance', 'InstanceNotFound', (sd, ids) => sd.getInstance({ ServiceId: ids.httpSvc, InstanceId: 'nope' })],
  ['GetInstance', 'ServiceNotFound', (sd) => sd.getInstance({ ServiceId: NO_SRV, InstanceId: 'a' })],
  ['GetInstancesHealthStatus', 'InvalidInput', (sd, ids) => sd.getInstancesHealthStatus({ ServiceId: ids.httpSvc, MaxResults: 101 })],
  ['GetInstancesHealthStatus', 'InstanceNotFound', (sd, ids) => sd.getInstancesHealthStatus({ ServiceId: ids.httpSvc, Instances: ['nope'] })],
  ['GetInstancesHealthStatus', 'ServiceNotFound', (sd) => sd.getInstancesHealthStatus({ ServiceId: NO_SRV })],
  ['GetNamespace', 'InvalidInput', (sd) => sd.getNamespace({ Id: 'x'.repeat(256) })],
  ['GetNamespace', 'NamespaceNotFound', (sd) => sd.getNamespace({ Id: NO_NS })],
  ['GetOperation', 'InvalidInput', (sd) => sd.getOperation({ OperationId: 'x'.repeat(256) })],
  ['GetOperation', 'OperationNotFound', (sd) => sd.getOperation({ OperationId: 'nope' })],
  ['GetService', 'InvalidInput', (sd) => sd.getService({ Id: 'x'.repeat(256) })],
  ['GetService', 'ServiceNotFound', (sd) => sd.getService({ Id: NO_SRV })],
  ['GetServiceAttributes', 'InvalidInput', (sd) => sd.getServiceAttributes({ ServiceId: 'x'.repeat(256) })],
  ['GetServiceAttributes', 'ServiceNotFound', (sd) => sd.getServiceAttributes({ ServiceId: NO_SRV })],
  ['ListInstances', 'InvalidInput', (sd, ids) => sd.listInstances({ ServiceId: ids.httpSvc, MaxResults: 0 })],
  ['ListInstances', 'ServiceNotFound', (sd) => sd.listInstances({ ServiceId: NO_SRV })],
  ['ListNamespaces', 'InvalidInput', (sd) => sd.listNamespaces({ MaxResults: 101 })],
  ['ListOperations', 'InvalidInput', (sd) => sd.listOperations({ Filters: [{ Name: 'STATUS', Values: ['SUCCESS'], Condition: 'BETWEEN' }] })],
  ['ListServices', 'InvalidInput', (sd) => sd.listServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [] }] })],
  ['ListTagsForResource', 'InvalidInput', (sd) => sd.listTagsForResource({ ResourceARN: '' })],
  ['ListTagsForResource', 'ResourceNotFoundException', (sd) => sd.listTagsForResource({ ResourceARN: NO_ARN })],
  ['RegisterInstance', 'InvalidInput', (sd, ids) => sd.registerInstance({ ServiceId: ids.dnsSvc, InstanceId: 'noip', Attributes: {} })],
  ['RegisterInstance', 'ServiceNotFound', (sd) => sd.registerInstance({ ServiceId: NO_SRV, InstanceId: 'a', Attributes: {} })],
  ['TagResource', 'InvalidInput', (sd, ids) => sd.tagResource({ ResourceARN: ids.svcArn, Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] })],
  ['TagResource', 'ResourceNotFoundException', (sd) => sd.tagResource({ ResourceARN: NO_ARN, Tags: [{ Key: 'k', Value: 'v' }] })],
  ['TagResource', 'TooManyTagsException', (sd, ids) => sd.tagResource({ ResourceARN: ids.svcArn, Tags: tags(51) }), ['ResourceName']],
  ['UntagResource', 'InvalidInput', (sd, ids) => sd.untagResource({ ResourceARN: ids.svcArn, TagKeys: [''] })],
  ['UntagResource', 'ResourceNotFoundException', (sd) => sd.untagResource({ ResourceARN: NO_ARN, TagKeys: ['k'] })],
  ['UpdateHttpNamespace', 'InvalidInput', (sd, ids) => sd.updateHttpNamespace({ Id: ids.httpNs, Namespace: { Description: 'x'.repeat(1025) } })],
  ['UpdateHttpNamespace', 'NamespaceNotFound', (sd) => sd.updateHttpNamespace({ Id: NO_NS, Namespace: { Description: 'x' } })],
  ['UpdateInstanceCustomHealthStatus', 'InvalidInput', (sd, ids) => sd.updateInstanceCustomHealthStatus({ ServiceId: ids.dnsSvc, InstanceId: 'd1', Status: 'UNKNOWN' as never })],
  ['UpdateInstanceCustomHealthStatus', 'InstanceNotFound', (sd, ids) => sd.updateInstanceCustomHealthStatus({ ServiceId: ids.dnsSvc, InstanceId: 'nope', Status: 'HEALTHY' })],
  ['UpdateInstanceCustomHealthStatus', 'ServiceNotFound', (sd) => sd.updateInstanceCustomHealthStatus({ ServiceId: NO_SRV, InstanceId: 'a', Status: 'HEALTHY' })],
  ['UpdateInstanceCustomHealthStatus', 'CustomHealthNotFound', (sd, ids) => sd.updateInstanceCustomHealthStatus({ ServiceId: ids.httpSvc, InstanceId: 'h1', Status: 'HEALTHY' })],
  ['UpdatePrivateDnsNamespace', 'InvalidInput', (sd, ids) => sd.updatePrivateDnsNamespace({ Id: ids.privNs, Namespace: { Properties: { DnsProperties: { SOA: { TTL: -1 } } } } })],
  ['UpdatePrivateDnsNamespace', 'NamespaceNotFound', (sd) => sd.updatePrivateDnsNamespace({ Id: NO_NS, Namespace: { Description: 'x' } })],
  ['UpdatePublicDnsNamespace', 'InvalidInput', (sd, ids) => sd.updatePublicDnsNamespace({ Id: ids.pubNs, Namespace: { Description: 'x'.repeat(1025) } })],
  ['UpdatePublicDnsNamespace', 'NamespaceNotFound', (sd) => sd.updatePublicDnsNamespace({ Id: NO_NS, Namespace: { Description: 'x' } })],
  ['UpdateService', 'InvalidInput', (sd, ids) => sd.updateService({ Id: ids.dnsSvc, Service: { DnsConfig: { DnsRecords: [{ Type: 'CNAME', TTL: 1 }] } } })],
  ['UpdateService', 'ServiceNotFound', (sd) => sd.updateService({ Id: NO_SRV, Service: { Description: 'x' } })],
  ['UpdateServiceAttributes', 'InvalidInput', (sd, ids) => sd.updateServiceAttributes({ ServiceId: ids.httpSvc, Attributes: {} })],
  ['UpdateServiceAttributes', 'ServiceNotFound', (sd) => sd.updateServiceAttributes({ ServiceId: NO_SRV, Attributes: { a: '1' } })],
  [
    'UpdateServiceAttributes',
    'ServiceAttributesLimitExceededException',
    (sd, ids) => sd.updateServiceAttributes({ ServiceId: ids.httpSvc, Attributes: Object.fromEntries(tags(31).map((t) => [t.Key, t.Value])) }),
  ],
];

describe('documented error codes', () => {
  let s: TestServer;
  const ids = {} as Ids;
  before(async () => {
    s = await startTestServer({ opDelayMs: OP_DELAY_MS, maxNamespaces: 5 });
    const sd = s.sd;
    ids.httpNs = (await waitOp(sd, (await sd.createHttpNamespace({ Name: 'e-http' })).OperationId)).Targets!['NAMESPACE']!;
    ids.privNs = (await waitOp(sd, (await sd.createPrivateDnsNamespace({ Name: 'e.local', Vpc: 'vpc-1' })).OperationId)).Targets!['NAMESPACE']!;
    ids.pubNs = (await waitOp(sd, (await sd.createPublicDnsNamespace({ Name: 'e.test' })).OperationId)).Targets!['NAMESPACE']!;
    const api = (await sd.createService({ Name: 'api', NamespaceId: ids.httpNs })).Service!;
    ids.httpSvc = api.Id!;
    ids.svcArn = api.Arn!;
    ids.dnsSvc = (
      await sd.createService({ Name: 'web', NamespaceId: ids.privNs, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] }, HealthCheckCustomConfig: {} })
    ).Service!.Id!;
    await waitOp(sd, (await sd.registerInstance({ ServiceId: ids.httpSvc, InstanceId: 'h1', Attributes: {} })).OperationId);
    await waitOp(sd, (await sd.registerInstance({ ServiceId: ids.dnsSvc, InstanceId: 'd1', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.1' } })).OperationId);
  });
  after(() => s.destroy());

  for (const [operation, code, call, members] of CASES) {
    test(`${operation} → ${code}`, async () => {
      const e = await rejectsWith(() => call(s.sd, ids), code);
      assert.equal(e['$fault'], 'client');
      assert.ok(e.message.length > 0, 'has a message');
      for (const m of members ?? []) assert.equal(typeof e[m], 'string', `${code}.${m}`);
    });
  }

  test('pending operations: DuplicateRequest and ResourceInUse', async () => {
    const sd = s.sd;
    // Register pending → a second register, a deregister of the same instance: DuplicateRequest.
    const reg = await sd.registerInstance({ ServiceId: ids.httpSvc, InstanceId: 'p1', Attributes: {} });
    const d1 = await rejectsWith(() => sd.registerInstance({ ServiceId: ids.httpSvc, InstanceId: 'p1', Attributes: { v: '2' } }), 'DuplicateRequest');
    assert.equal(d1['DuplicateOperationId'], reg.OperationId);
    await waitOp(sd, reg.OperationId);
    const dereg = await sd.deregisterInstance({ ServiceId: ids.httpSvc, InstanceId: 'p1' });
    const d2 = await rejectsWith(() => sd.deregisterInstance({ ServiceId: ids.httpSvc, InstanceId: 'p1' }), 'DuplicateRequest');
    assert.equal(d2['DuplicateOperationId'], dereg.OperationId);
    await waitOp(sd, dereg.OperationId);

    // UpdateService pending → another UpdateService: DuplicateRequest.
    const upd = await sd.updateService({ Id: ids.dnsSvc, Service: { Description: 'one' } });
    await rejectsWith(() => sd.updateService({ Id: ids.dnsSvc, Service: { Description: 'two' } }), 'DuplicateRequest');
    await waitOp(sd, upd.OperationId);

    // Namespace updates: same UpdaterRequestId while pending → DuplicateRequest; another → ResourceInUse.
    for (const [update, id] of [
      [(body: object) => sd.updateHttpNamespace(body as never), ids.httpNs],
      [(body: object) => sd.updatePrivateDnsNamespace(body as never), ids.privNs],
      [(body: object) => sd.updatePublicDnsNamespace(body as never), ids.pubNs],
    ] as const) {
      const first = (await update({ Id: id, UpdaterRequestId: `u-${id}`, Namespace: { Description: 'first' } })) as { OperationId: string };
      await rejectsWith(() => update({ Id: id, UpdaterRequestId: `u-${id}`, Namespace: { Description: 'first' } }), 'DuplicateRequest');
      await rejectsWith(() => update({ Id: id, Namespace: { Description: 'second' } }), 'ResourceInUse');
      await waitOp(sd, first.OperationId);
    }

    // A namespace being deleted: a second delete is DuplicateRequest; a new service in it is refused.
    const nsId = (await waitOp(sd, (await sd.createHttpNamespace({ Name: 'doomed' })).OperationId)).Targets!['NAMESPACE']!;
    const svc = (await sd.createService({ Name: 'svc', NamespaceId: nsId })).Service!.Id!;
    await sd.deleteService({ Id: svc });
    const del = await sd.deleteNamespace({ Id: nsId });
    await rejectsWith(() => sd.deleteNamespace({ Id: nsId }), 'DuplicateRequest');
    // CreateService's model lists no ResourceInUse; Pharos may answer it or NamespaceNotFound.
    await assert.rejects(sd.createService({ Name: 'late', NamespaceId: nsId }), (e: Error) => ['ResourceInUse', 'NamespaceNotFound'].includes(e.name));
    await waitOp(sd, del.OperationId);
  });

  test('CreateHttpNamespace → ResourceLimitExceeded (quota 5)', async () => {
    await waitOp(s.sd, (await s.sd.createHttpNamespace({ Name: 'fourth' })).OperationId);
    await waitOp(s.sd, (await s.sd.createHttpNamespace({ Name: 'fifth' })).OperationId);
    await rejectsWith(() => s.sd.createHttpNamespace({ Name: 'sixth' }), 'ResourceLimitExceeded');
    await rejectsWith(() => s.sd.createPrivateDnsNamespace({ Name: 'sixth.local', Vpc: 'vpc-1' }), 'ResourceLimitExceeded');
    await rejectsWith(() => s.sd.createPublicDnsNamespace({ Name: 'sixth.test' }), 'ResourceLimitExceeded');
  });
});
