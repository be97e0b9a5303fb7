/**
 * Several Pharos servers on one etcd cluster (3 members on loopback): every server answers API and
 * DNS from its own watch-fed snapshot, and a write through one is visible on the others.
 */
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { privateNamespace, startTestServer, waitOp, type TestServer } from './helpers.ts';

const skip = etcdSkip();

function resolverFor(server: TestServer): dnsPromises.Resolver {
  const r = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
  r.setServers([server.dnsAddress!]);
  return r;
}

describe('several servers on one etcd cluster', { skip }, () => {
  let etcd: EtcdTestCluster;
  const servers: TestServer[] = [];
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
    for (let i = 0; i < 2; i++) servers.push(await startTestServer({ store: etcd.url('/pharos-cluster-test') }));
  });
  after(async () => {
    for (const s of servers) await s.destroy();
    await etcd?.stop();
  });

  test('a registration through server A is in DNS and DiscoverInstances on server B', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const nsId = await privateNamespace(a.sd, 'cross.test');
    const { Service } = await a.sd.createService({ Name: 'web', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] } });
    const { OperationId } = await a.sd.registerInstance({ ServiceId: Service!.Id!, InstanceId: 'i-1', Attributes: { AWS_INSTANCE_IPV4: '198.18.100.1' } });
    await waitOp(a.sd, OperationId);
    // B learns of the operation, the namespace and the instance from its own etcd watch.
    await waitOp(b.sd, OperationId);
    const found = await b.sd.discoverInstances({ NamespaceName: 'cross.test', ServiceName: 'web' });
    assert.deepEqual(found.Instances?.map((i) => i.InstanceId), ['i-1']);
    const addrs = await eventually(() => resolverFor(b).resolve4('web.cross.test').catch(() => undefined), { message: 'B answers DNS' });
    assert.deepEqual(addrs, ['198.18.100.1']);
  });
});
