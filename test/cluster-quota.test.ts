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
import { httpNamespace, sdClient, spawnServer, startTestServer, tempDir, waitOp, type TestServer } from './helpers.ts';

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
  const assertDistinctSlots = async (serviceId: string): Promise<void> => {
    const slots = (await kv.list(`/inst/${serviceId}/`)).items.map((i) => (JSON.parse(i.value) as { slots?: { service: number; namespace: number } }).slots);
    assert.ok(slots.every((x) => x !== undefined && x.service < QUOTAS.maxInstancesPerService), 'every instance holds a slot below the quota');
    assert.equal(new Set(slots.map((x) => x!.service)).size, slots.length, 'one service slot per instance');
    assert.equal(new Set(slots.map((x) => x!.namespace)).size, slots.length, 'one namespace slot per instance');
  };

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
      await assertDistinctSlots(serviceId);
      const listed = await eventually(async () => {
        const l = (await b.sd.listInstances({ ServiceId: serviceId })).Instances!;
        return l.length === 4 ? l : undefined;
      }, { message: 'B lists the four' });
      // Empty the service through the other server: the slots go with the instances.
      for (const inst of listed) await waitOp(a.sd, (await (round % 2 === 0 ? a : b).sd.deregisterInstance({ ServiceId: serviceId, InstanceId: inst.Id! })).OperationId);
      assert.equal(await count(`/inst/.quota/svc/${serviceId}/slot/`), 0, 'no slot keys: the records hold the slots');
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

/** Enough places that quota blocks hold more than one slot (`blockSize`: 2 at 128), so servers hold blocks across registrations. */
const BLOCK_QUOTA = 128;

describe('quota blocks across servers on one etcd cluster', { skip }, () => {
  let etcd: EtcdTestCluster;
  let kv: KV;
  const servers: TestServer[] = [];
  const url = (): string => etcd.url(`${PREFIX}-blocks`);
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
    for (let i = 0; i < 2; i++) servers.push(await startTestServer({ store: url(), maxInstancesPerService: BLOCK_QUOTA, leaseTtlMs: 2000 }));
    kv = await openStore(url());
  });
  after(async () => {
    await kv?.close();
    for (const s of servers) await s.destroy();
    await etcd?.stop();
  });

  const instancesOf = async (serviceId: string) => (await kv.list(`/inst/${serviceId}/`)).items.map((i) => JSON.parse(i.value) as { id: string; slots?: { service: number } });
  const blocksOf = async (serviceId: string) => (await kv.list(`/inst/.quota/svc/${serviceId}/block/`)).items;
  async function newService(name: string): Promise<string> {
    const [a, b] = servers as [TestServer, TestServer];
    const nsId = await httpNamespace(a.sd, name);
    const { Service } = await a.sd.createService({ Name: 'api', NamespaceId: nsId });
    await eventually(async () => (await b.sd.getService({ Id: Service!.Id! }).catch(() => undefined)) !== undefined, { message: 'B knows the service' });
    return Service!.Id!;
  }
  /** Exactly the quota registered, each instance on its own slot below it. */
  async function assertExactlyFull(serviceId: string): Promise<void> {
    const all = await instancesOf(serviceId);
    assert.equal(all.length, BLOCK_QUOTA);
    const slots = all.map((i) => i.slots?.service ?? -1);
    assert.ok(slots.every((n) => n >= 0 && n < BLOCK_QUOTA), 'every slot below the quota');
    assert.equal(new Set(slots).size, BLOCK_QUOTA, 'no slot twice');
  }

  test('two servers racing past the quota in blocks: exactly the quota wins, each instance on its own slot', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const serviceId = await newService('blocks-race');
    // 150 registrations for 128 places, 8 at a time through each server: near the end every free
    // slot may sit in a block the other server holds, which it gives back when idle or full.
    let next = 0;
    const lost: Error[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        for (let i = next++; i < 150; i = next++) {
          await (worker % 2 === 0 ? a : b).sd.registerInstance({ ServiceId: serviceId, InstanceId: `i-${i}`, Attributes: { n: String(i) } }).catch((err: Error) => lost.push(err));
        }
      }),
    );
    assert.equal(lost.length, 150 - BLOCK_QUOTA, lost.map((e) => e.name).join(','));
    for (const err of lost) assert.equal(err.name, 'ResourceLimitExceeded', err.message);
    await assertExactlyFull(serviceId);
    // Full blocks go back at once, the rest after a second idle.
    await eventually(async () => (await blocksOf(serviceId)).length === 0, { timeoutMs: 10_000, message: 'every block released' });
  });

  test('a block holder killed: its blocks go with its lease, and the others fill the quota exactly', async () => {
    const [a] = servers as [TestServer];
    const serviceId = await newService('blocks-expiry');
    const child = await spawnServer(['--store', url(), '--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', tempDir('pharos-i10-node-'), '--lease-ttl', '3s', '--max-instances-per-service', String(BLOCK_QUOTA), '--log-level', 'info']);
    try {
      const c = sdClient(child.apiUrl);
      // Registrations through C, back to back, killed mid-stream: it holds the blocks it draws from.
      let acked = 0;
      let next = 0;
      let tenAcked: () => void = () => undefined;
      const ten = new Promise<void>((resolve) => (tenAcked = resolve));
      const load = Array.from({ length: 4 }, async () => {
        for (let i = next++; i < 100; i = next++) {
          const ok = await c.registerInstance({ ServiceId: serviceId, InstanceId: `c-${i}`, Attributes: { n: String(i) } }).then(() => true, () => false);
          if (!ok) return;
          if (++acked === 10) tenAcked();
        }
      });
      await ten;
      // C must hold a block when it dies, but a small block goes back the moment it fills, so at a
      // given instant C may hold none: freeze it (no release, no lease renewal) while it holds one.
      // A txn it sent just before may still land (a block taken or given back), so its blocks are
      // read once two readings 100 ms apart agree.
      const keysNow = async () => (await blocksOf(serviceId)).map((b) => b.key).join(',');
      let last: string | undefined;
      const held = await eventually(
        async () => {
          if (last === undefined) {
            if ((await keysNow()) === '') return undefined;
            child.child.kill('SIGSTOP');
            last = await keysNow();
            return undefined;
          }
          const now = await keysNow();
          if (now === last && now !== '') return now.split(',');
          if (now === '') {
            child.child.kill('SIGCONT');
            last = undefined;
          } else last = now;
          return undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, message: 'C frozen holding a block' },
      );
      child.child.kill('SIGKILL');
      await child.exited;
      await Promise.all(load);
      const after = new Set((await blocksOf(serviceId)).map((b) => b.key));
      for (const key of held) assert.ok(after.has(key), `C's block ${key} outlives it until its lease expires`);
      await eventually(async () => (await blocksOf(serviceId)).length === 0, { timeoutMs: 10_000, message: "C's blocks gone with its lease" });
    } finally {
      child.child.kill('SIGKILL');
    }
    // A fills the rest, drawing in C's old blocks too (after seeing every instance C committed in them).
    const had = (await instancesOf(serviceId)).length;
    let refused = 0;
    for (let i = 0; i < BLOCK_QUOTA - had + 2; i++) {
      await a.sd.registerInstance({ ServiceId: serviceId, InstanceId: `a-${i}`, Attributes: { n: String(i) } }).catch((err: Error) => {
        assert.equal(err.name, 'ResourceLimitExceeded', err.message);
        refused++;
      });
    }
    assert.equal(refused, 2);
    await assertExactlyFull(serviceId);
  });
});
