/**
 * The server as a whole: the target table covers the SDK's 30 operations, raw-HTTP edge cases
 * (unknown target, bad JSON, `Host: data-localhost`), /ping and /metrics, and restart persistence.
 */
import * as sdk from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { REGISTRY_OPERATIONS } from '../src/registry/ops/index.ts';
import { CLOUD_MAP_PREFIX, httpNamespace, privateNamespace, rawPost, rawRequest, register, startTestServer, type TestServer } from './helpers.ts';

test('the registry serves exactly the 30 operations of the SDK model', () => {
  const fromSdk = Object.keys(sdk)
    .filter((k) => /^[A-Z]\w+Command$/.test(k))
    .map((k) => k.slice(0, -'Command'.length))
    .sort();
  assert.equal(fromSdk.length, 30);
  assert.deepEqual([...REGISTRY_OPERATIONS].sort(), fromSdk);
});

describe('raw HTTP', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    const ns = await privateNamespace(s.sd, 'raw.local');
    const svc = (await s.sd.createService({ Name: 'web', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] } })).Service!.Id!;
    await register(s.sd, svc, 'r1', { AWS_INSTANCE_IPV4: '198.18.0.9' });
  });
  after(() => s.destroy());

  test('unknown operation → 400 UnknownOperationException (case 23)', async () => {
    const r = await rawPost(s.apiUrl, `${CLOUD_MAP_PREFIX}.Nope`, '{}');
    assert.equal(r.status, 400);
    assert.equal(r.json?.['__type'], 'UnknownOperationException');
    assert.equal(r.headers['content-type'], 'application/x-amz-json-1.1');
    assert.ok(r.headers['x-amzn-requestid']);
    assert.equal((await rawPost(s.apiUrl, undefined, '{}')).json?.['__type'], 'UnknownOperationException');
  });

  test('unparsable or non-object JSON → 400 SerializationException', async () => {
    for (const body of ['{not json', '[]', '42', 'null']) {
      const r = await rawPost(s.apiUrl, `${CLOUD_MAP_PREFIX}.ListNamespaces`, body);
      assert.equal(r.status, 400, body);
      assert.equal(r.json?.['__type'], 'SerializationException', body);
    }
  });

  test('wrong member types are InvalidInput, never a crash', async () => {
    const bodies: [string, string][] = [
      ['CreateHttpNamespace', '{"Name":42}'],
      ['CreateHttpNamespace', '{"Name":"x","Tags":"nope"}'],
      ['RegisterInstance', '{"ServiceId":"srv-x","InstanceId":"i","Attributes":[1]}'],
      ['DiscoverInstances', '{"NamespaceName":"raw.local","ServiceName":"web","QueryParameters":{"a":1}}'],
      ['ListServices', '{"Filters":[null]}'],
      ['GetNamespace', '{}'],
      ['ListOperations', '{"MaxResults":"ten"}'],
      ['UpdateService', '{"Id":"srv-x","Service":null}'],
    ];
    for (const [op, body] of bodies) {
      const r = await rawPost(s.apiUrl, `${CLOUD_MAP_PREFIX}.${op}`, body);
      assert.equal(r.status, 400, `${op} ${body}: ${r.text}`);
      assert.equal(r.json?.['__type'], 'InvalidInput', `${op} ${body}: ${r.text}`);
      assert.equal(typeof r.json?.['Message'], 'string');
    }
  });

  test('DiscoverInstances on Host: data-localhost (the SDK host prefix) is served', async () => {
    const r = await rawPost(s.apiUrl, `${CLOUD_MAP_PREFIX}.DiscoverInstances`, '{"NamespaceName":"raw.local","ServiceName":"web","HealthStatus":"ALL"}', {
      Host: 'data-localhost:7700',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal((r.json?.['Instances'] as { InstanceId: string }[])[0]?.InstanceId, 'r1');
    assert.equal(typeof r.json?.['InstancesRevision'], 'number');
  });

  test('timestamps are epoch seconds on the wire; empty outputs are {}', async () => {
    const r = await rawPost(s.apiUrl, `${CLOUD_MAP_PREFIX}.ListNamespaces`, '{}');
    const ns = (r.json?.['Namespaces'] as { CreateDate: unknown }[])[0]!;
    assert.equal(typeof ns.CreateDate, 'number');
    assert.ok(Math.abs((ns.CreateDate as number) - Date.now() / 1000) < 600);
    const arn = (r.json?.['Namespaces'] as { Arn: string }[])[0]!.Arn;
    const t = await rawPost(s.apiUrl, `${CLOUD_MAP_PREFIX}.TagResource`, JSON.stringify({ ResourceARN: arn, Tags: [{ Key: 'a', Value: 'b' }] }));
    assert.equal(t.status, 200);
    assert.equal(t.text, '{}');
  });

  test('/ping is 200 and /metrics counts API requests', async () => {
    assert.equal((await rawRequest(s.apiUrl, 'GET', '/ping')).status, 200);
    const m = await rawRequest(s.apiUrl, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /pharos_api_requests_total\{operation="DiscoverInstances",code="OK"\} \d+/);
    assert.match(m.text, /pharos_api_requests_total\{operation="ListNamespaces",code="SerializationException"\} 4/);
    assert.match(m.text, /pharos_snapshot_apply_delay_seconds_count \d+/);
    assert.match(m.text, /process_resident_memory_bytes \d+/);
  });
});

describe('restart persistence', () => {
  test('namespaces, services, instances, health, tags and operations survive a restart', async () => {
    const first = await startTestServer();
    const { sd } = first;
    const ns = await privateNamespace(sd, 'keep.local');
    const httpNs = await httpNamespace(sd, 'keep-http');
    const svc = (
      await sd.createService({
        Name: 'web',
        NamespaceId: ns,
        DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
        Tags: [{ Key: 'k', Value: 'v' }],
      })
    ).Service!.Id!;
    await register(sd, svc, 'i1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
    await register(sd, svc, 'i2', { AWS_INSTANCE_IPV4: '198.18.0.2' });
    await sd.updateInstanceCustomHealthStatus({ ServiceId: svc, InstanceId: 'i2', Status: 'UNHEALTHY' });
    await sd.updateServiceAttributes({ ServiceId: svc, Attributes: { owner: 'me' } });
    const revision = (await sd.discoverInstancesRevision({ NamespaceName: 'keep.local', ServiceName: 'web' })).InstancesRevision;
    const ops = (await sd.listOperations({})).Operations!.map((o) => o.Id).sort();
    const dataDir = first.dataDir;
    sd.destroy();
    await first.close();

    const second = await startTestServer({}, dataDir);
    after(() => second.destroy());
    const sd2 = second.sd;
    assert.deepEqual((await sd2.listNamespaces({})).Namespaces!.map((n) => n.Id).sort(), [ns, httpNs].sort());
    assert.equal((await sd2.getService({ Id: svc })).Service?.InstanceCount, 2);
    const found = await sd2.discoverInstances({ NamespaceName: 'keep.local', ServiceName: 'web', HealthStatus: 'ALL' });
    assert.deepEqual(found.Instances!.map((i) => [i.InstanceId, i.HealthStatus]).sort(), [['i1', 'HEALTHY'], ['i2', 'UNHEALTHY']]);
    assert.equal(found.InstancesRevision, revision);
    assert.deepEqual((await sd2.getServiceAttributes({ ServiceId: svc })).ServiceAttributes?.Attributes, { owner: 'me' });
    const arn = (await sd2.getService({ Id: svc })).Service!.Arn!;
    assert.deepEqual((await sd2.listTagsForResource({ ResourceARN: arn })).Tags, [{ Key: 'k', Value: 'v' }]);
    assert.deepEqual((await sd2.listOperations({})).Operations!.map((o) => o.Id).sort(), ops);
  });
});
