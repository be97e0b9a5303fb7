/**
 * Several Pharos servers on one etcd cluster (3 members on loopback): every server answers API and
 * DNS from its own watch-fed snapshot, and a write through one is visible on the others.
 */
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { main } from '../src/cli/main.ts';
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

  test('two servers creating the same namespace name at once: exactly one wins', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}.test`;
      const results = await Promise.allSettled([
        a.sd.createPrivateDnsNamespace({ Name: name, Vpc: 'vpc-race' }),
        b.sd.createPrivateDnsNamespace({ Name: name, Vpc: 'vpc-race' }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}: ${results.map((r) => (r.status === 'rejected' ? (r.reason as Error).name : 'ok'))}`);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as Error).name, 'NamespaceAlreadyExists');
      await waitOp(a.sd, (won[0] as PromiseFulfilledResult<{ OperationId?: string }>).value.OperationId);
    }
    const listed = await b.sd.listNamespaces({});
    for (let round = 0; round < 5; round++) assert.equal(listed.Namespaces!.filter((n) => n.Name === `race-${round}.test`).length, 1);
  });

  test('the same CreatorRequestId sent to both servers at once gives one operation', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const input = { Name: 'retried.test', Vpc: 'vpc-race', CreatorRequestId: 'req-both' };
    const [ra, rb] = await Promise.all([a.sd.createPrivateDnsNamespace(input), b.sd.createPrivateDnsNamespace(input)]);
    assert.equal(ra.OperationId, rb.OperationId);
    await waitOp(b.sd, rb.OperationId);
  });

  test('two servers creating the same service name at once: exactly one wins; the same CreatorRequestId gets one service', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const nsId = await privateNamespace(a.sd, 'svc-race.test');
    await eventually(async () => (await b.sd.getNamespace({ Id: nsId }).catch(() => undefined)) !== undefined, { message: 'B knows the namespace' });
    const dns = { DnsRecords: [{ Type: 'A' as const, TTL: 5 }] };
    for (let round = 0; round < 5; round++) {
      // DNS names compare case-insensitively: the two spellings are one name.
      const results = await Promise.allSettled([
        a.sd.createService({ Name: `web-${round}`, NamespaceId: nsId, DnsConfig: dns }),
        b.sd.createService({ Name: `WEB-${round}`, NamespaceId: nsId, DnsConfig: dns }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}: ${results.map((r) => (r.status === 'rejected' ? (r.reason as Error).name : 'ok'))}`);
      assert.equal(((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error).name, 'ServiceAlreadyExists');
    }
    const input = { Name: 'retried', NamespaceId: nsId, DnsConfig: dns, CreatorRequestId: 'svc-req-both' };
    const [ra, rb] = await Promise.all([a.sd.createService(input), b.sd.createService(input)]);
    assert.equal(ra.Service!.Id, rb.Service!.Id);
    const listed = await eventually(async () => {
      const all = (await b.sd.listServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [nsId], Condition: 'EQ' }] })).Services!;
      return all.length === 6 ? all : undefined;
    }, { message: 'B lists one service per name' });
    assert.deepEqual(listed.map((x) => x.Name!.toLowerCase()).sort(), ['retried', 'web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
    // A deleted service gives its name back.
    await a.sd.deleteService({ Id: ra.Service!.Id! });
    await eventually(async () => (await b.sd.createService({ Name: 'retried', NamespaceId: nsId, DnsConfig: dns }).then(() => true, () => false)), { message: 'the name is free again' });
  });

  test('GET /cluster and pharos cluster status: both members, one leader, the store revision', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const status = await eventually(async () => {
      const s = (await (await fetch(`${a.apiUrl}/cluster`)).json()) as { store: string; leader?: { id: string }; members: { id: string; apiUrl: string }[]; revision: number; roles: Record<string, string> };
      return s.members.length === 2 && s.leader ? s : undefined;
    }, { message: 'two members and a leader' });
    assert.equal(status.store, 'etcd');
    assert.ok(status.revision > 0);
    assert.deepEqual(status.members.map((m) => m.apiUrl).sort(), [a.apiUrl, b.apiUrl].sort());
    assert.ok(status.members.some((m) => m.id === status.leader!.id));
    assert.equal(status.roles['health-checker'], status.leader!.id);
    const fromB = (await (await fetch(`${b.apiUrl}/cluster`)).json()) as { leader: { id: string } };
    assert.equal(fromB.leader.id, status.leader!.id);

    let out = '';
    const code = await main(['cluster', 'status', '--server', b.apiUrl], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true }, env: {} });
    assert.equal(code, 0);
    assert.match(out, new RegExp(`leader: ${status.leader!.id}`));
    assert.match(out, new RegExp(a.apiUrl.replace(/[.]/g, '\\.')));
    const metrics = await (await fetch(`${a.apiUrl}/metrics`)).text();
    assert.match(metrics, /pharos_cluster_leadership_changes_total/);
    assert.match(metrics, /pharos_store_watch_lag_seconds_count/);
  });
});
