/**
 * Quotas and RegisterInstance's CreatorRequestId across two servers on a 3-member etcd: both
 * decided in the store txn (src/registry/quota.ts, src/registry/ops/register.ts), not from either
 * server's snapshot, so two servers writing at once cannot together go past a quota or register
 * one request twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { openStore, type KV } from '../src/store/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { httpNamespace, startTestServer, waitOp, type TestServer } from './helpers.ts';

const skip = etcdSkip();
const PREFIX = '/pharos-quota-test';
/** Low quotas, so a handful of requests race for the last places. */
const QUOTAS = { maxNamespaces: 3, maxInstancesPerService: 4, maxInstancesPerNamespace: 6 };

type Settled = { won: { OperationId?: string }[]; lost: Error[] };
async function settle(calls: Promise<{ OperationId?: string }>[]): Promise<Settled> {
  const results = await Promise.allSettled(calls);
  return {
    won: results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ OperationId?: string }>).value),
    lost: results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error),
  };
}

describe('quotas and CreatorRequestId across servers on one etcd cluster', { skip }, () => {
  let etcd: EtcdTestCluster;
  let kv: KV;
  const servers: TestServer[] = [];
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
    for (let i = 0; i < 2; i++) servers.push(await startTestServer({ store: etcd.url(PREFIX), ...QUOTAS }));
    kv = await openStore(etcd.url(PREFIX));
  });
  after(async () => {
    await kv?.close();
    for (const s of servers) await s.destroy();
    await etcd?.stop();
  });

  const count = async (prefix: string): Promise<number> => (await kv.list(prefix)).items.length;

  test('two servers racing for the last instance places: exactly the quota, the rest ResourceLimitExceeded, one slot per instance', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const nsId = await httpNamespace(a.sd, 'quota-race');
    const { Service } = await a.sd.createService({ Name: 'api', NamespaceId: nsId });
    const serviceId = Service!.Id!;
    await eventually(async () => (await b.sd.getService({ Id: serviceId }).catch(() => undefined)) !== undefined, { message: 'B knows the service' });
    for (let round = 0; round < 3; round++) {
      // Four places, six new instances at once: three through each server.
      const { won, lost } = await settle(
        Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).sd.registerInstance({ ServiceId: serviceId, InstanceId: `r${round}-${i}`, Attributes: { n: String(i) } })),
      );
      assert.equal(won.length, 4, `round ${round}: ${won.length} won, lost ${lost.map((e) => e.name)}`);
      for (const err of lost) assert.equal(err.name, 'ResourceLimitExceeded', err.message);
      for (const out of won) await waitOp(b.sd, out.OperationId);
      assert.equal(await count(`/inst/${serviceId}/`), 4);
      assert.equal(await count(`/quota/svc-inst/${serviceId}/`), 4, 'one service slot per instance');
      assert.equal(await count(`/quota/ns-inst/${nsId}/`), 4, 'one namespace slot per instance');
      const listed = await eventually(async () => {
        const l = (await b.sd.listInstances({ ServiceId: serviceId })).Instances!;
        return l.length === 4 ? l : undefined;
      }, { message: 'B lists the four' });
      // Empty the service through the other server: the slots go with the instances.
      for (const inst of listed) await waitOp(a.sd, (await (round % 2 === 0 ? a : b).sd.deregisterInstance({ ServiceId: serviceId, InstanceId: inst.Id! })).OperationId);
      assert.equal(await count(`/quota/svc-inst/${serviceId}/`), 0);
      assert.equal(await count(`/quota/ns-inst/${nsId}/`), 0);
      await eventually(async () => (await a.sd.listInstances({ ServiceId: serviceId })).Instances!.length === 0 && (await b.sd.listInstances({ ServiceId: serviceId })).Instances!.length === 0, { message: 'both see it empty' });
    }
    await a.sd.deleteService({ Id: serviceId });
    await waitOp(a.sd, (await a.sd.deleteNamespace({ Id: nsId })).OperationId);
  });

  test('two servers racing for the last namespace: one wins, the other ResourceLimitExceeded', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    await eventually(async () => (await b.sd.listNamespaces({})).Namespaces!.length === 0, { message: 'B sees no namespace' });
    await httpNamespace(a.sd, 'ns-keep-1');
    await httpNamespace(b.sd, 'ns-keep-2');
    for (let round = 0; round < 3; round++) {
      const { won, lost } = await settle([a.sd.createHttpNamespace({ Name: `ns-a-${round}` }), b.sd.createHttpNamespace({ Name: `ns-b-${round}` })]);
      assert.equal(won.length, 1, `round ${round}: lost ${lost.map((e) => e.name)}`);
      assert.equal(lost[0]!.name, 'ResourceLimitExceeded', lost[0]!.message);
      const op = await waitOp(a.sd, won[0]!.OperationId);
      assert.equal(await count('/ns/'), 3);
      assert.equal(await count('/quota/ns/'), 3);
      // Deleting the winner frees its place for the next round.
      await waitOp(b.sd, (await b.sd.deleteNamespace({ Id: op.Targets!['NAMESPACE']! })).OperationId);
      assert.equal(await count('/quota/ns/'), 2);
    }
  });

  test('the same CreatorRequestId at both servers at once: one registration, one OperationId; another instance with it: DuplicateRequest', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const nsId = (await a.sd.listNamespaces({})).Namespaces![0]!.Id!;
    const { Service } = await b.sd.createService({ Name: 'tokens', NamespaceId: nsId });
    const serviceId = Service!.Id!;
    await eventually(async () => (await a.sd.getService({ Id: serviceId }).catch(() => undefined)) !== undefined, { message: 'A knows the service' });
    for (let round = 0; round < 3; round++) {
      const input = { ServiceId: serviceId, InstanceId: `t${round}`, CreatorRequestId: `tok-both-${round}`, Attributes: { n: String(round) } };
      const [ra, rb] = await Promise.all([a.sd.registerInstance(input), b.sd.registerInstance(input)]);
      assert.equal(ra.OperationId, rb.OperationId, `round ${round}`);
      await waitOp(a.sd, ra.OperationId);
      const ops = (await kv.list('/op/')).items.filter((i) => (JSON.parse(i.value) as { requestId?: string }).requestId === input.CreatorRequestId);
      assert.equal(ops.length, 1, 'one operation record');
      // The token again for another instance, through each server: DuplicateRequest naming that operation.
      for (const s of [a, b]) {
        await assert.rejects(s.sd.registerInstance({ ...input, InstanceId: 'other' }), (err: Error & { DuplicateOperationId?: string }) => {
          assert.equal(err.name, 'DuplicateRequest');
          assert.equal(err.DuplicateOperationId, ra.OperationId);
          return true;
        });
      }
    }
    assert.equal(await count(`/inst/${serviceId}/`), 3);
  });
});
