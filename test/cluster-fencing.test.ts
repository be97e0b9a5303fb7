/**
 * Fencing and a deleted leader key, on a 3-member etcd. The leader's own writes carry a check on
 * its leader record, so a deposed leader's late writes (sent during a GC pause, a partition) are
 * refused. The leader watches its record: deleted behind its back (`etcdctl del`, a revoked lease),
 * it steps down at once and stops its work, and another server is elected.
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
/** A deleted leader key is seen on a watch: well under the lease watchdog's 70 % of the TTL (1.4 s). */
const STEP_DOWN_BOUND_MS = 1000;

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

      // A write A prepared while it led (its guard taken then) and sends late, as one in flight
      // during a long pause is.
      const staleGuard = a.fence();
      const termA = a.term();
      const lateA = fencedKV(kvA, { fence: () => staleGuard, term: () => termA });
      // A's leader record goes behind its back (an operator's `etcdctl del`, a revoked lease).
      await admin.delete(LEADER_KEY);
      // A notices at once (it watches its record) and steps down; B wins.
      await eventually(() => !a.isLeader(), { timeoutMs: 1500, intervalMs: 20, message: 'A steps down' });
      await eventually(() => b.isLeader(), { timeoutMs: 10_000, message: 'B leads' });
      assert.notEqual(termA, b.term());

      // A's late writes, a create and a delete too, are refused by etcd and change nothing; what A
      // writes now is refused before it leaves (it knows it does not lead).
      for (const kv of [lateA, leaderA]) {
        for (const write of [
          () => kv.update('/work/status', 'late, from A', rev),
          () => kv.create('/work/other', 'late, from A'),
          () => kv.delete('/work/status'),
          () => kv.txn([{ type: 'put', key: '/work/status', value: 'late, from A' }]),
        ]) {
          await assert.rejects(write(), (err) => isPharosError(err, STORE_FENCED), 'refused as fenced');
        }
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
    const PREFIX = '/fencing-servers';
    const servers: TestServer[] = [];
    let backend: Server;
    before(async () => {
      backend = createServer((_, res) => res.end('ok')).listen(0, '127.0.0.1');
      for (let i = 0; i < 2; i++) servers.push(await startTestServer({ store: etcd.url(PREFIX), leaseTtlMs: LEASE_TTL_MS, healthIntervalMs: 200 }));
    });
    after(async () => {
      for (const s of servers) await s.destroy();
      backend?.close();
    });

    test('`etcdctl del` of the leader key: the leader steps down at once and stops its work; the other server leads and checks health', async () => {
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
      const health = async () => (await next.sd.getInstancesHealthStatus({ ServiceId: Service!.Id! })).Status?.['web-1'];
      await eventually(async () => (await health()) === 'HEALTHY', { message: 'the leader marks web-1 HEALTHY' });
      const metrics = async (s: TestServer) => (await fetch(`${s.apiUrl}/metrics`)).text();
      assert.match(await metrics(old), /^pharos_cluster_leader 1$/m);
      assert.match(await metrics(old), /^pharos_health_probes_total/m, "the leader's health checker runs");

      // An operator deletes the leader key. The lease is fine, so only the leader's watch on its
      // record can make it step down this soon (the lease watchdog would take 70 % of the TTL).
      const deletedAt = Date.now();
      assert.equal((await etcd.ctl('del', `${PREFIX}${LEADER_KEY}`)).trim(), '1');
      await eventually(async () => /^pharos_cluster_leader 0$/m.test(await metrics(old)), { timeoutMs: 5000, intervalMs: 20, message: 'the old leader reports follower' });
      const steppedDownMs = Date.now() - deletedAt;
      assert.ok(steppedDownMs < STEP_DOWN_BOUND_MS, `stepped down after ${steppedDownMs} ms`);
      // Its leader-only work stops: the health checker's metrics leave with it.
      await eventually(async () => !/^pharos_health_probes_total/m.test(await metrics(old)), { timeoutMs: 5000, message: "the old leader's health checker stopped" });
      await eventually(async () => {
        const st = await status(next);
        return st.leader?.id === st.self;
      }, { timeoutMs: 10_000, message: 'the other server leads' });
      assert.match(await metrics(next), /^pharos_cluster_leader 1$/m);
      assert.equal((await status(old)).leader?.id, (await status(next)).self, 'both agree on the new leader');

      // The new leader checks health: the backend fails and web-1 turns UNHEALTHY.
      backend.close();
      backend.closeAllConnections();
      await eventually(async () => (await health()) === 'UNHEALTHY', { timeoutMs: 10_000, message: 'the new leader marks web-1 UNHEALTHY' });
    });
  });
});
