import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ManualClock, eventually } from '../lib/index.ts';
import { keys, type InstanceRecord } from './model.ts';
import { cloudMap } from './ops/index.ts';
import type { Registry } from './registry.ts';
import { httpNamespace, openHarness, rejectsWith, removeDir, service, type Harness } from './testkit.ts';

/**
 * Quotas and RegisterInstance's CreatorRequestId with two servers on one store: two registries,
 * each with its own snapshot and operation index, on one real SQLite file (the store decides, as
 * etcd does for several servers; test/cluster.test.ts races two servers on a 3-member etcd).
 */

type Any = Record<string, any>;

const settle = async (calls: Promise<unknown>[]) => {
  const results = await Promise.allSettled(calls);
  const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Any>[];
  const lost = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as { code: string; message: string });
  return { won: won.map((r) => r.value), lost };
};

/**
 * An HTTP namespace written straight into the store: with an operation delay, its own
 * CreateHttpNamespace operation would wait for the manual clock too.
 */
async function storedNamespace(h: Harness, clock: ManualClock, id: string, name: string): Promise<{ id: string }> {
  const ns = { id, arn: 'arn', name, type: 'HTTP', httpName: name, createDate: clock.now(), tags: [] };
  await h.kv.create(keys.namespace(ns.id), JSON.stringify(ns));
  return ns;
}

async function slotKeys(h: Harness, prefix: string): Promise<Map<string, string>> {
  return new Map((await h.kv.list(prefix)).items.map((i) => [i.key, i.value]));
}

const slotKeyPrefix = (kind: 'svc' | 'ns', id: string) => `/inst/.quota/${kind}/${id}/slot/`;

/**
 * Every instance of the service holds a slot in it and one in the namespace, no other instance of
 * the namespace holds the same one, and slot keys (registrations applied after submit) belong to
 * live instances holding those slots.
 */
async function assertSlotsMatch(h: Harness, serviceId: string, namespaceId: string): Promise<void> {
  const all = (await h.kv.list(keys.instancePrefix)).items.filter((i) => !i.key.startsWith(keys.instanceQuotaPrefix)).map((i) => JSON.parse(i.value) as InstanceRecord);
  const inNamespace = all.filter((i) => i.slots?.namespaceId === namespaceId);
  const instances = all.filter((i) => i.serviceId === serviceId);
  for (const inst of instances) assert.ok(inst.slots, `${inst.id} holds slots`);
  const distinct = (xs: number[]) => new Set(xs).size === xs.length;
  assert.ok(distinct(instances.map((i) => i.slots!.service)), 'service slots are distinct');
  assert.ok(distinct(inNamespace.map((i) => i.slots!.namespace)), 'namespace slots are distinct');
  for (const [kind, id, slotOf] of [['svc', serviceId, (i: InstanceRecord) => i.slots!.service], ['ns', namespaceId, (i: InstanceRecord) => i.slots!.namespace]] as const) {
    const holders = kind === 'svc' ? instances : inNamespace;
    for (const [key, value] of await slotKeys(h, slotKeyPrefix(kind, id))) {
      const holder = holders.find((i) => i.id === JSON.parse(value));
      assert.ok(holder?.slots?.keyed, `${key} belongs to a live instance with keyed slots`);
      assert.equal(key, `${slotKeyPrefix(kind, id)}${slotOf(holder)}`);
    }
  }
}

const reg = (r: Registry, serviceId: string, id: string, extra: Any = {}) =>
  cloudMap(r).RegisterInstance({ ServiceId: serviceId, InstanceId: id, Attributes: { n: id }, ...extra });

describe('quotas across servers', () => {
  const harnesses: Harness[] = [];
  after(async () => {
    for (const h of harnesses) {
      await h.close();
      removeDir(h.dir);
    }
  });
  const open = async (options: Parameters<typeof openHarness>[0]) => {
    const h = await openHarness(options);
    harnesses.push(h);
    return { h, a: h.registry, b: await h.peer() };
  };

  test('two servers racing for the last instance slots: exactly the quota, the others ResourceLimitExceeded, nothing half-written', async () => {
    const { h, a, b } = await open({ sharedStore: true, config: { quotas: { instancesPerService: 3, instancesPerNamespace: 5 } } });
    const ns = await httpNamespace(a, 'race');
    const svc = await service(a, { Name: 'api', NamespaceId: ns });
    await a.waitForOperation(((await reg(a, svc.Id, 'first')) as Any).OperationId);
    // Two places left in the service; four new instances at once, two through each server.
    const { won, lost } = await settle([reg(a, svc.Id, 'a1'), reg(b, svc.Id, 'b1'), reg(a, svc.Id, 'a2'), reg(b, svc.Id, 'b2')]);
    assert.equal(won.length, 2, `won ${won.length}: ${lost.map((e) => e.code)}`);
    for (const err of lost) assert.equal(err.code, 'ResourceLimitExceeded', err.message);
    assert.equal((await h.kv.list(keys.serviceInstances(svc.Id))).items.length, 3);
    await assertSlotsMatch(h, svc.Id, ns);

    // The namespace's quota (5) across two services: one place left, one instance through each server.
    const other = await service(b, { Name: 'other', NamespaceId: ns });
    await b.waitForOperation(((await reg(b, other.Id, 'o1')) as Any).OperationId);
    const second = await settle([reg(a, other.Id, 'o2'), reg(b, other.Id, 'o3')]);
    assert.equal(second.won.length, 1);
    assert.equal(second.lost[0]?.code, 'ResourceLimitExceeded');
    assert.match(second.lost[0]!.message, /namespace/);
    await assertSlotsMatch(h, other.Id, ns);
  });

  test('a re-registration keeps its slots; a deregistration through the other server releases them', async () => {
    const { h, a, b } = await open({ sharedStore: true, config: { quotas: { instancesPerService: 2 } } });
    const ns = await httpNamespace(a, 'keep');
    const svc = await service(a, { Name: 'api', NamespaceId: ns });
    await a.waitForOperation(((await reg(a, svc.Id, 'x')) as Any).OperationId);
    const before = h.snapshot.instance(svc.Id, 'x')!.slots;
    await b.waitForOperation(((await reg(b, svc.Id, 'x', { Attributes: { n: 'again' } })) as Any).OperationId);
    assert.deepEqual(h.snapshot.instance(svc.Id, 'x')!.slots, before);
    assert.equal(h.snapshot.instance(svc.Id, 'x')!.attributes['n'], 'again');
    await assertSlotsMatch(h, svc.Id, ns);
    await b.waitForOperation(((await cloudMap(b).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'x' })) as Any).OperationId);
    assert.equal([...(await slotKeys(h, keys.instanceQuotaPrefix)).keys()].filter((k) => k.includes('/slot/')).length, 0);
    // Both places are free again.
    for (const id of ['y', 'z']) await a.waitForOperation(((await reg(a, svc.Id, id)) as Any).OperationId);
    await rejectsWith(reg(b, svc.Id, 'w'), 'ResourceLimitExceeded');
    await assertSlotsMatch(h, svc.Id, ns);
  });

  test('slots held by slot keys (registrations waiting to be applied elsewhere) are not drawn; then ResourceLimitExceeded', async () => {
    const { h, a } = await open({ sharedStore: true, config: { quotas: { instancesPerService: 3 } } });
    const ns = await httpNamespace(a, 'unseen');
    const svc = await service(a, { Name: 'api', NamespaceId: ns });
    // Slots 0 and 1 taken by registrations whose instances do not exist yet.
    for (const n of [0, 1]) await h.kv.create(keys.serviceInstanceSlot(svc.Id, n), JSON.stringify(`elsewhere-${n}`));
    await a.waitForOperation(((await reg(a, svc.Id, 'mine')) as Any).OperationId);
    assert.equal(h.snapshot.instance(svc.Id, 'mine')!.slots!.service, 2);
    await rejectsWith(reg(a, svc.Id, 'more'), 'ResourceLimitExceeded');
    assert.equal((await h.kv.list(keys.serviceInstances(svc.Id))).items.length, 1);
  });

  test('with an operation delay, slots are taken at submit: the quota holds while registrations wait', async () => {
    const clock = new ManualClock(Date.now());
    const { h, a, b } = await open({ sharedStore: true, clock, config: { opDelayMs: 1000, quotas: { instancesPerService: 2 } } });
    const ns = await storedNamespace(h, clock, 'ns-delayed0000000000', 'delayed');
    const svc = await service(a, { Name: 'api', NamespaceId: ns.id });
    const { won, lost } = await settle([reg(a, svc.Id, 'p'), reg(b, svc.Id, 'q'), reg(a, svc.Id, 'r'), reg(b, svc.Id, 's')]);
    assert.equal(won.length, 2);
    for (const err of lost) assert.equal(err.code, 'ResourceLimitExceeded');
    assert.equal((await slotKeys(h, slotKeyPrefix('svc', svc.Id))).size, 2, 'slot keys taken at submit');
    await eventually(async () => {
      await clock.advance(250);
      return (await h.kv.list(keys.serviceInstances(svc.Id))).items.length === 2;
    });
    await assertSlotsMatch(h, svc.Id, ns.id);
  });

  test('with an operation delay, one new instance registered through both servers at once keeps one pair of slots; so does a deregistration racing a re-registration', async () => {
    const clock = new ManualClock(Date.now());
    const { h, a, b } = await open({ sharedStore: true, clock, config: { opDelayMs: 1000, quotas: { instancesPerService: 5 } } });
    const ns = await storedNamespace(h, clock, 'ns-delayed1111111111', 'delayed2');
    const svc = await service(a, { Name: 'api', NamespaceId: ns.id });
    const run = async (calls: Promise<unknown>[]) => {
      const ids = (await Promise.all(calls)).map((o) => (o as Any).OperationId as string);
      await eventually(async () => {
        await clock.advance(250);
        const ops = await Promise.all(ids.map((id) => h.kv.get(keys.operation(id))));
        return ops.every((op) => op && ['SUCCESS', 'FAIL'].includes((JSON.parse(op.value) as Any).status));
      });
    };
    await run([reg(a, svc.Id, 'same'), reg(b, svc.Id, 'same', { Attributes: { n: 'b' } })]);
    assert.equal((await h.kv.list(keys.serviceInstances(svc.Id))).items.length, 1);
    await assertSlotsMatch(h, svc.Id, ns.id);
    assert.equal((await slotKeys(h, slotKeyPrefix('ns', ns.id))).size, 1, 'the second pair went back');
    await run([cloudMap(a).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'same' }), reg(b, svc.Id, 'same', { Attributes: { n: 'again' } })]);
    await assertSlotsMatch(h, svc.Id, ns.id);
    assert.equal((await slotKeys(h, slotKeyPrefix('ns', ns.id))).size, (await h.kv.list(keys.serviceInstances(svc.Id))).items.length);
  });

  test('two servers racing for the last namespace: one wins', async () => {
    const { h, a, b } = await open({ sharedStore: true, config: { quotas: { namespacesPerRegion: 2 } } });
    await httpNamespace(a, 'one');
    const { won, lost } = await settle([cloudMap(a).CreateHttpNamespace({ Name: 'two-a' }), cloudMap(b).CreateHttpNamespace({ Name: 'two-b' })]);
    assert.equal(won.length, 1);
    assert.equal(lost[0]?.code, 'ResourceLimitExceeded');
    await a.waitForOperation(won[0]!.OperationId);
    assert.equal((await h.kv.list(keys.namespacePrefix)).items.length, 2);
    assert.equal((await slotKeys(h, '/quota/ns/')).size, 2);
    // Deleting one frees its slot.
    const gone = [...h.snapshot.namespaces()].find((n) => n.name === 'one')!;
    await a.waitForOperation(((await cloudMap(b).DeleteNamespace({ Id: gone.id })) as Any).OperationId);
    assert.equal((await slotKeys(h, '/quota/ns/')).size, 1);
    await httpNamespace(b, 'three');
  });
});

describe('RegisterInstance CreatorRequestId across servers', () => {
  let h: Harness;
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('the same request at both servers at once: one registration, one OperationId; another instance with the token: DuplicateRequest', async () => {
    h = await openHarness({ sharedStore: true });
    const a = h.registry;
    const b = await h.peer();
    const ns = await httpNamespace(a, 'tokens');
    const svc = await service(a, { Name: 'api', NamespaceId: ns });
    for (let round = 0; round < 5; round++) {
      const input = { ServiceId: svc.Id, InstanceId: `i${round}`, CreatorRequestId: `tok-${round}`, Attributes: { n: String(round) } };
      const [ra, rb] = (await Promise.all([cloudMap(a).RegisterInstance(input), cloudMap(b).RegisterInstance(input)])) as Any[];
      assert.equal(ra.OperationId, rb.OperationId, `round ${round}`);
      assert.equal((await b.waitForOperation(rb.OperationId)).status, 'SUCCESS');
      const ops = (await h.kv.list(keys.operationPrefix)).items.map((i) => JSON.parse(i.value) as Any).filter((o) => o.requestId === `tok-${round}`);
      assert.equal(ops.length, 1, 'one operation record');
      assert.equal(b.snapshot.instance(svc.Id, `i${round}`)?.attributes['n'], String(round));
      // The token again for another instance, through either server (one has not run it): DuplicateRequest.
      for (const r of [a, b]) {
        await rejectsWith(cloudMap(r).RegisterInstance({ ...input, InstanceId: 'other' }), 'DuplicateRequest', { DuplicateOperationId: ra.OperationId });
      }
    }
    assert.equal(a.snapshot.instance(svc.Id, 'other'), undefined);
  });

  test('another instance with a token a moment after the other server used it: DuplicateRequest from the store', async () => {
    const a = h.registry;
    const b = await h.peer();
    const svc = [...a.snapshot.services()][0]!;
    const input = { ServiceId: svc.id, InstanceId: 'j1', CreatorRequestId: 'tok-j', Attributes: { n: 'j' } };
    const results = await Promise.allSettled([cloudMap(a).RegisterInstance(input), cloudMap(b).RegisterInstance({ ...input, InstanceId: 'j2' })]);
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal(lost.reason.code, 'DuplicateRequest');
    assert.equal([a.snapshot.instance(svc.id, 'j1'), a.snapshot.instance(svc.id, 'j2')].filter(Boolean).length, 1);
  });
});
