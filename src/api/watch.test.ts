import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetricsRegistry } from '../lib/index.ts';
import type { SnapshotChange } from '../registry/index.ts';
import { WatchHub } from './watch.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("WatchHub: a change wakes its own service's waiters only, once each, and unsubscribing is final", async () => {
  let emit: (change: SnapshotChange) => void = () => undefined;
  const view = {
    onChange(listener: (change: SnapshotChange) => void) {
      emit = listener;
      return () => (emit = () => undefined);
    },
  };
  const metrics = createMetricsRegistry();
  const hub = new WatchHub(view, metrics);
  const woken: string[] = [];
  const waiters = ['a', 'a', 'b'].map((svc, i) => ({ svc: `srv-${svc}`, waiter: { wake: (at?: number) => woken.push(`${i}:${at}`) } }));
  for (const { svc, waiter } of waiters) hub.add(svc, waiter);
  const subs = waiters.map(({ svc, waiter }) => () => hub.remove(svc, waiter));
  assert.equal(hub.size, 3);
  // The changes of one commit wake each waiter once, on the next turn, with the first commit time.
  emit({ kind: 'instance', serviceId: 'srv-a', instanceId: 'i', revision: 7, committedAt: 1000 });
  emit({ kind: 'health', serviceId: 'srv-a', instanceId: 'i', revision: 8, committedAt: 1001 });
  assert.deepEqual(woken, []);
  await turn();
  assert.deepEqual(woken, ['0:1000', '1:1000']);
  emit({ kind: 'health', serviceId: 'srv-b', instanceId: 'i', revision: 8 });
  emit({ kind: 'namespace', namespaceId: 'ns-x', revision: 9 });
  emit({ kind: 'recordset', namespaceId: 'ns-x', revision: 10 });
  emit({ kind: 'instance', serviceId: 'srv-nobody', revision: 10 });
  await turn();
  assert.deepEqual(woken, ['0:1000', '1:1000', '2:undefined']);
  subs[0]!();
  subs[0]!(); // repeatable
  assert.equal(hub.size, 2);
  emit({ kind: 'instance', serviceId: 'srv-a', instanceId: 'j', revision: 11 });
  await turn();
  assert.deepEqual(woken.slice(3), ['1:undefined']);
  subs[1]!();
  subs[2]!();
  assert.equal(hub.size, 0);
  assert.match(await metrics.metrics(), /^pharos_watch_waiters 0$/m);
  hub.close();
});
