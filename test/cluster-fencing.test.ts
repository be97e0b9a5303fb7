/**
 * Fencing: the leader's own writes carry a check on its leader record, so a deposed leader that has
 * not noticed yet (a GC pause, a partition) has its late writes refused. On a 3-member etcd:
 * the leader record is deleted behind the leader's back (as an expired lease does), another
 * server wins, and the old leader, still believing it leads, tries to write.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { eventually, isPharosError, silentLogger } from '../src/lib/index.ts';
import { fencedKV, openCoordinator, openStore, STORE_FENCED, type Coordinator, type KV } from '../src/store/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { startTestServer, waitOp, type TestServer } from './helpers.ts';

const skip = etcdSkip();
const LEASE_TTL_MS = 2000;
const LEADER_KEY = '/cluster/leader';

describe('fencing of the leader work on etcd', { skip }, () => {
  let etcd: EtcdTestCluster;
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
  });
  after(() => etcd?.stop());

  test("a deposed leader's late write is refused with StoreFenced; the new leader's goes through", async () => {
    const url = etcd.url('/fencing-unit');
    const kvs: KV[] = await Promise.all([openStore(url), openStore(url), openStore(url)]);
    const [kvA, kvB, admin] = kvs as [KV, KV, KV];
    const coordinators: Coordinator[] = [];
    try {
      const a = await openCoordinator(url, kvA, { leaseTtlMs: LEASE_TTL_MS, logger: silentLogger() });
      coordinators.push(a);
      await a.start({ apiUrl: 'http://a', version: 'test' });
      await eventually(() => a.isLeader(), { message: 'A leads' });
      const leaderA = fencedKV(kvA, a);
      const rev = await leaderA.create('/work/status', 'from A, term 1');
      // Unfenced servers never write the fence; one that does not lead gets no fence at all.
      const b = await openCoordinator(url, kvB, { leaseTtlMs: LEASE_TTL_MS, logger: silentLogger() });
      coordinators.push(b);
      await b.start({ apiUrl: 'http://b', version: 'test' });
      const leaderB = fencedKV(kvB, b);
      await assert.rejects(leaderB.update('/work/status', 'from B, not leading', rev), (err) => isPharosError(err, STORE_FENCED));

      // A's leader record goes (its lease expired, say, during a long pause); B wins.
      await admin.delete(LEADER_KEY);
      await eventually(() => b.isLeader(), { timeoutMs: 10_000, message: 'B leads' });
      assert.ok(a.isLeader(), 'A has not noticed yet: the case fencing is for');
      assert.notEqual(a.term(), b.term());

      // A's late write, a create and a delete too, are refused and change nothing.
      for (const write of [
        () => leaderA.update('/work/status', 'late, from A', rev),
        () => leaderA.create('/work/other', 'late, from A'),
        () => leaderA.delete('/work/status'),
        () => leaderA.txn([{ type: 'put', key: '/work/status', value: 'late, from A' }]),
      ]) {
        await assert.rejects(write(), (err) => isPharosError(err, STORE_FENCED), 'refused as fenced');
      }
      assert.equal((await admin.get('/work/status'))?.value, 'from A, term 1');
      assert.equal(await admin.get('/work/other'), undefined);
      // The new leader's write goes through.
      await leaderB.update('/work/status', 'from B, term 2', rev);
      assert.equal((await admin.get('/work/status'))?.value, 'from B, term 2');
    } finally {
      for (const c of coordinators) await c.stop();
      for (const kv of kvs) await kv.close();
    }
  });

  describe('through real servers', () => {
    const servers: TestServer[] = [];
    let backend: Server;
    let admin: KV;
    before(async () => {
      const url = etcd.url('/fencing-servers');
      backend = createServer((_, res) => res.end('ok')).listen(0, '127.0.0.1');
      for (let i = 0; i < 2; i++) servers.push(await startTestServer({ store: url, leaseTtlMs: LEASE_TTL_MS, healthIntervalMs: 200 }));
      admin = await openStore(url);
    });
    after(async () => {
      for (const s of servers) await s.destroy();
      await admin?.close();
      backend?.close();
    });

    test("the deposed leader's health checker keeps probing but its status writes are refused", async () => {
      const status = async (s: TestServer) => (await (await fetch(`${s.apiUrl}/cluster`)).json()) as { self: string; leader?: { id: string } };
      const leaderOf = async () => {
        const st = await Promise.all(servers.map(status));
        const i = st.findIndex((x) => x.leader && x.self === x.leader.id);
        return i < 0 ? undefined : i;
      };
      const oldIndex = await eventually(leaderOf, { timeoutMs: 10_000, message: 'a leader' });
      const [old, next] = oldIndex === 0 ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
      const sd = old.sd;
      const ns = await sd.createHttpNamespace({ Name: 'fencing' });
      const nsId = (await waitOp(sd, ns.OperationId)).Targets!['NAMESPACE']!;
      const { Service } = await sd.createService({ Name: 'web', NamespaceId: nsId, HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/', FailureThreshold: 1 } });
      const port = String((backend.address() as { port: number }).port);
      await waitOp(sd, (await sd.registerInstance({ ServiceId: Service!.Id!, InstanceId: 'web-1', Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: port } })).OperationId);
      const health = async () => (await sd.getInstancesHealthStatus({ ServiceId: Service!.Id! })).Status?.['web-1'];
      await eventually(async () => (await health()) === 'HEALTHY', { message: 'the leader marks web-1 HEALTHY' });
      const reportErrors = async (s: TestServer) => Number(/^pharos_health_report_errors_total (\d+)/m.exec(await (await fetch(`${s.apiUrl}/metrics`)).text())?.[1] ?? 0);
      const before = await reportErrors(old);

      // Depose the old leader behind its back; the other server wins, then stops (handing over:
      // it deletes its record), so only the deposed leader's checker is left running.
      await admin.delete(LEADER_KEY);
      await eventually(async () => {
        const st = await status(next);
        return st.leader?.id === st.self;
      }, { timeoutMs: 10_000, message: 'the other server leads' });
      await next.destroy();
      servers.splice(servers.indexOf(next), 1);
      // The backend fails: the deposed leader's checker sees it, and its write is refused.
      backend.close();
      backend.closeAllConnections();
      await eventually(async () => (await reportErrors(old)) > before, { timeoutMs: 10_000, message: "the old leader's status write was refused" });
      assert.equal((await old.sd.getInstancesHealthStatus({ ServiceId: Service!.Id! })).Status?.['web-1'], 'HEALTHY', 'the refused write changed nothing');
      assert.equal((JSON.parse((await admin.get(`/health/${Service!.Id!}/web-1`))?.value ?? '{}') as { status?: string }).status, 'HEALTHY');
    });
  });
});
