import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry, eventually, isPharosError } from '../lib/index.ts';
import { runKvConformance } from './conformance.ts';
import { EtcdKV, parseEtcdUrl } from './etcd.ts';
import { STORE_COMPACTED, STORE_INVALID_ARGUMENT, STORE_KEY_EXISTS, STORE_REVISION_MISMATCH, STORE_UNAVAILABLE, etcdConnection, openStore, type KV, type WatchEvent } from './index.ts';
import { EtcdTestCluster, etcdSkip } from './testkit.ts';

const skip = etcdSkip();

test('etcd URLs: endpoints, key prefix, TLS scheme; bad ones are refused', () => {
  assert.deepEqual(parseEtcdUrl('etcd://127.0.0.1:2379'), { endpoints: ['127.0.0.1:2379'], prefix: '/pharos', tls: false });
  assert.deepEqual(parseEtcdUrl('etcds://a:1,b.example:2,[::1]:3/team/x/'), { endpoints: ['a:1', 'b.example:2', '[::1]:3'], prefix: '/team/x', tls: true });
  for (const bad of ['etcd://', 'etcd://host', 'etcd://a:1,,b:2', 'http://a:1', 'etcd://a:99999999', 'etcd://a:1/x\0y']) {
    assert.throws(() => parseEtcdUrl(bad), (err) => isPharosError(err, STORE_INVALID_ARGUMENT), bad);
  }
});

test('etcd settings: TLS files need etcds://, cert and key and user and password go in pairs', async () => {
  const bad = [
    ['etcd://a:1', { caFile: '/x' }],
    ['etcds://a:1', { certFile: '/x' }],
    ['etcds://a:1', { caFile: '/nonexistent/ca.pem' }],
    ['etcd://a:1', { username: 'u' }],
  ] as const;
  for (const [url, settings] of bad) await assert.rejects(etcdConnection(url, settings), (err) => isPharosError(err, STORE_INVALID_ARGUMENT), JSON.stringify(settings));
  assert.deepEqual((await etcdConnection('etcd://a:1', { username: 'u', password: 'p' })).auth, { username: 'u', password: 'p' });
});

describe('etcd backend on a 3-member cluster', { skip }, () => {
  let cluster: EtcdTestCluster;
  let n = 0;
  before(async () => {
    cluster = await EtcdTestCluster.start(3);
  });
  after(() => cluster?.stop());

  // Each test gets its own key prefix on the shared cluster, so tests do not see each other's keys.
  runKvConformance('etcd', async () => {
    const url = cluster.url(`/conformance/${++n}`);
    const kv = await openStore(url);
    return Object.assign(kv, {
      reopen: async () => {
        await kv.close();
        return openStore(url);
      },
    });
  });

  /** Collects a watch's events and errors. */
  function collect(kv: KV, prefix: string, from: number) {
    const events: WatchEvent[] = [];
    const errors: Error[] = [];
    const watch = kv.watch(prefix, from, (evs) => events.push(...evs), (err) => errors.push(err));
    return { events, errors, watch };
  }

  test('group commit: writes of one turn share a txn; a failed guard rejects only its own write, the others commit', async () => {
    const metrics = createMetricsRegistry();
    const kv = await openStore(cluster.url(`/group/${++n}`), { metrics });
    try {
      const taken = await kv.create('/g/taken', 'x');
      const seen = new Set<string>();
      kv.watch('/g/', taken, (evs) => evs.forEach((e) => seen.add(e.key)));
      const results = await Promise.allSettled([
        ...Array.from({ length: 60 }, (_, i) => kv.create(`/g/${i}`, String(i))),
        kv.create('/g/taken', 'y'),
        kv.update('/g/taken', 'z', taken + 1000),
        kv.txn([{ type: 'put', key: '/g/t1', value: '1' }, { type: 'delete', key: '/g/taken', prevRevision: taken }]),
      ]);
      assert.equal(results.slice(0, 60).filter((r) => r.status === 'fulfilled').length, 60);
      assert.equal((results[60] as PromiseRejectedResult).reason.code, STORE_KEY_EXISTS);
      assert.equal((results[61] as PromiseRejectedResult).reason.code, STORE_REVISION_MISMATCH);
      assert.equal(results[62]!.status, 'fulfilled', 'the txn whose guard held commits after the failed round');
      assert.equal(await kv.get('/g/taken'), undefined);
      // Read-your-writes holds for every write of a batch.
      for (let i = 0; i < 60; i++) assert.ok(seen.has(`/g/${i}`));
      const json = await metrics.getMetricsAsJSON();
      const batches = json.find((m) => m.name === 'pharos_store_commit_batch_writes')!;
      const count = batches.values.find((v) => (v as { metricName?: string }).metricName === 'pharos_store_commit_batch_writes_count')!.value;
      assert.ok(count <= 5, `${count} txns for 64 writes`);
      const writes = json.find((m) => m.name === 'pharos_store_writes_total')!;
      assert.deepEqual(Object.fromEntries(writes.values.map((v) => [v.labels.result, v.value])), { ok: 62, conflict: 2 });
    } finally {
      await kv.close();
    }
  });

  test('a watch resumes from the last revision it delivered after its member dies: no gap, no duplicate', async () => {
    // One client on member 0 only (its watch stream must break), one writing through the others.
    const watching = await openStore(`etcd://${cluster.endpoints[0]}/resume`);
    const writer = await openStore(`etcd://${cluster.endpoints[1]},${cluster.endpoints[2]}/resume`);
    try {
      const w = collect(watching, '/r/', await writer.revision());
      const before = [await writer.create('/r/a', '1'), await writer.create('/r/b', '2')];
      await eventually(() => w.events.length === 2);
      await cluster.kill(0);
      const during: number[] = [];
      for (let i = 0; i < 5; i++) during.push(await writer.create(`/r/d${i}`, String(i)));
      await cluster.restart(0);
      const afterRestart = await writer.create('/r/z', 'z');
      await eventually(() => w.events.length >= 8, { timeoutMs: 15_000, message: 'watch caught up after the member restarted' });
      assert.deepEqual(w.events.map((e) => e.revision), [...before, ...during, afterRestart]);
      assert.deepEqual(w.errors, []);
      w.watch.cancel();
    } finally {
      await Promise.all([watching.close(), writer.close()]);
    }
  });

  test('a watch whose history was compacted while it was away fails with Compacted', async () => {
    const watching = await openStore(`etcd://${cluster.endpoints[0]}/compacted`);
    const writer = await openStore(`etcd://${cluster.endpoints[1]},${cluster.endpoints[2]}/compacted`);
    try {
      const w = collect(watching, '/c/', await writer.revision());
      const r1 = await writer.create('/c/a', '1');
      await eventually(() => w.events.length === 1);
      await cluster.kill(0);
      let rev = r1;
      for (let i = 0; i < 3; i++) rev = await writer.update('/c/a', String(i), rev);
      await writer.compact(rev);
      await cluster.restart(0);
      await eventually(() => w.errors.length === 1, { timeoutMs: 15_000, message: 'Compacted reported after the restart' });
      assert.ok(isPharosError(w.errors[0], STORE_COMPACTED), String(w.errors[0]));
      assert.equal(w.events.length, 1);
    } finally {
      await Promise.all([watching.close(), writer.close()]);
    }
  });

  test('one member killed: reads and writes go on; all members stopped: StoreUnavailable; back: works again', async () => {
    const kv = (await openStore(cluster.url('/quorum'))) as EtcdKV;
    try {
      const r1 = await kv.create('/q/a', '1');
      await cluster.kill(2);
      let rev = r1;
      for (let i = 0; i < 10; i++) rev = await kv.update('/q/a', String(i), rev);
      assert.equal((await kv.get('/q/a'))?.value, '9');
      await cluster.kill(0);
      await cluster.kill(1);
      const started = Date.now();
      await assert.rejects(kv.update('/q/a', 'lost', rev), (err) => isPharosError(err, STORE_UNAVAILABLE));
      await assert.rejects(kv.get('/q/a'), (err) => isPharosError(err, STORE_UNAVAILABLE));
      assert.ok(Date.now() - started < 15_000, 'fails within the call timeout');
      await Promise.all([cluster.restart(0), cluster.restart(1), cluster.restart(2)]);
      const back = await eventually(() => kv.update('/q/a', 'back', rev), { timeoutMs: 20_000, intervalMs: 200, message: 'writes work again' });
      assert.ok(back > rev);
    } finally {
      await kv.close();
    }
  });

  test('open fails with StoreOpenFailed when no member answers', async () => {
    await assert.rejects(openStore('etcd://127.0.0.1:1'), (err) => isPharosError(err, 'StoreOpenFailed'));
  });
});
