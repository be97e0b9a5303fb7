/**
 * A compacted watch re-lists. Server A reaches etcd through TCP gates; while A is cut off, server B
 * registers, updates and deregisters instances and etcd is compacted past everything A has seen.
 * When the gates heal, A's watches find their history gone: A must list again and converge, in
 * DNS and DiscoverInstances, to what B sees.
 */
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { openStore, type KV } from '../src/store/index.ts';
import { EtcdTestCluster, TcpGate, etcdSkip } from '../src/store/testkit.ts';
import { privateNamespace, startTestServer, waitOp, type TestServer } from './helpers.ts';

const skip = etcdSkip();
const PREFIX = '/pharos-compaction-test';
/** The default lease (3 s) running out, an election, and the operation itself, on a loaded CI machine. */
const LEASE_TAKEOVER_MS = 20_000;

describe('a server whose etcd watch history was compacted', { skip }, () => {
  let etcd: EtcdTestCluster;
  let gates: TcpGate[] = [];
  let a: TestServer;
  let b: TestServer;
  let kv: KV;
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
    gates = await Promise.all(etcd.endpoints.map((e) => TcpGate.open(e)));
    b = await startTestServer({ store: etcd.url(PREFIX) });
    a = await startTestServer({ store: `etcd://${gates.map((g) => g.address).join(',')}${PREFIX}` });
    kv = await openStore(etcd.url(PREFIX));
  });
  after(async () => {
    await kv?.close();
    await a?.destroy();
    await b?.destroy();
    await Promise.all(gates.map((g) => g.stop()));
    await etcd?.stop();
  });

  test('lists again at the current revision and converges in DNS and DiscoverInstances', async () => {
    const nsId = await privateNamespace(b.sd, 'compact.test');
    const { Service } = await b.sd.createService({ Name: 'web', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] } });
    const serviceId = Service!.Id!;
    for (const [id, ip] of [['keep', '198.18.100.1'], ['gone', '198.18.100.2']]) {
      await waitOp(b.sd, (await b.sd.registerInstance({ ServiceId: serviceId, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: ip! } })).OperationId);
    }
    const resolver = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([a.dnsAddress!]);
    const answers = async () => (await resolver.resolve4('web.compact.test').catch(() => [] as string[])).sort();
    await eventually(async () => (await answers()).join() === '198.18.100.1,198.18.100.2', { message: 'A answers both instances before the cut' });

    for (const g of gates) g.partition();
    // If A led, B finishes operations only once A's lease has expired and B leads: allow for it.
    const duringCut = LEASE_TAKEOVER_MS;
    await waitOp(b.sd, (await b.sd.deregisterInstance({ ServiceId: serviceId, InstanceId: 'gone' })).OperationId, duringCut);
    await waitOp(b.sd, (await b.sd.registerInstance({ ServiceId: serviceId, InstanceId: 'keep', Attributes: { AWS_INSTANCE_IPV4: '198.18.100.11' } })).OperationId, duringCut);
    await waitOp(b.sd, (await b.sd.registerInstance({ ServiceId: serviceId, InstanceId: 'new', Attributes: { AWS_INSTANCE_IPV4: '198.18.100.3' } })).OperationId, duringCut);
    await kv.compact(await kv.revision());
    // Cut off, A still answers from its snapshot: the state before the cut.
    assert.deepEqual(await answers(), ['198.18.100.1', '198.18.100.2']);

    for (const g of gates) g.heal();
    await eventually(async () => (await answers()).join() === '198.18.100.11,198.18.100.3', { timeoutMs: 20_000, message: 'A answers DNS as B does' });
    const found = await a.sd.discoverInstances({ NamespaceName: 'compact.test', ServiceName: 'web' });
    assert.deepEqual(found.Instances!.map((i) => `${i.InstanceId}=${i.Attributes!['AWS_INSTANCE_IPV4']}`).sort(), ['keep=198.18.100.11', 'new=198.18.100.3']);
    // And A's watches go on from the re-listed revision: a later write through B reaches A.
    await waitOp(b.sd, (await b.sd.registerInstance({ ServiceId: serviceId, InstanceId: 'later', Attributes: { AWS_INSTANCE_IPV4: '198.18.100.4' } })).OperationId, duringCut);
    await eventually(async () => (await answers()).includes('198.18.100.4'), { timeoutMs: 10_000, message: 'a write after the re-list reaches A' });
    // The operations index re-listed too: A knows the operations that finished while it was away.
    // It follows its own watch, which may still be backing off after the heal when DNS has converged.
    await eventually(async () => (await a.sd.listOperations({})).Operations!.length >= 7, { timeoutMs: 10_000, message: 'A lists all 7 operations (the namespace, 6 (de)registrations)' });
  });
});
