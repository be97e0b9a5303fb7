import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { ManualClock, eventually } from '../lib/index.ts';
import { completed, httpNamespace, openHarness, register, rejectsWith, removeDir, service, tempDir, type Harness } from './testkit.ts';
import { cloudMap } from './ops/index.ts';

type Any = Record<string, any>;

describe('restart', () => {
  const dir = tempDir();
  const open: Harness[] = [];
  const reopen = async (options: Parameters<typeof openHarness>[0] = {}) => {
    const h = await openHarness({ dir, ...options });
    open.push(h);
    return h;
  };
  after(async () => {
    for (const h of open) await h.close();
    removeDir(dir);
  });

  let svcId = '';
  let nsId = '';
  let revision = 0;
  let opId = '';

  test('data and InstancesRevision survive a restart, even when the last change was a deregistration', async () => {
    const h1 = await reopen();
    nsId = await httpNamespace(h1.registry, 'restart');
    const svc = await service(h1.registry, { Name: 'api', NamespaceId: nsId, HealthCheckCustomConfig: {} });
    svcId = svc.Id;
    await register(h1.registry, svcId, 'i1', { a: '1' });
    opId = (await register(h1.registry, svcId, 'i2', { a: '2' })).id;
    await cloudMap(h1.registry).UpdateInstanceCustomHealthStatus({ ServiceId: svcId, InstanceId: 'i1', Status: 'UNHEALTHY' });
    await completed(h1.registry, cloudMap(h1.registry).DeregisterInstance({ ServiceId: svcId, InstanceId: 'i2' }));
    revision = ((await cloudMap(h1.registry).DiscoverInstancesRevision({ NamespaceName: 'restart', ServiceName: 'api' })) as Any).InstancesRevision;
    await h1.close();

    const h2 = await reopen();
    assert.equal(((await cloudMap(h2.registry).GetNamespace({ Id: nsId })) as Any).Namespace.ServiceCount, 1);
    assert.equal(((await cloudMap(h2.registry).GetService({ Id: svcId })) as Any).Service.InstanceCount, 1);
    assert.deepEqual(((await cloudMap(h2.registry).GetInstance({ ServiceId: svcId, InstanceId: 'i1' })) as Any).Instance.Attributes, { a: '1' });
    assert.deepEqual(await cloudMap(h2.registry).GetInstancesHealthStatus({ ServiceId: svcId }), { Status: { i1: 'UNHEALTHY' } });
    const after = ((await cloudMap(h2.registry).DiscoverInstancesRevision({ NamespaceName: 'restart', ServiceName: 'api' })) as Any).InstancesRevision;
    assert.ok(after >= revision, `revision went down: ${revision} → ${after}`);
    assert.equal(((await cloudMap(h2.registry).GetOperation({ OperationId: opId })) as Any).Operation.Status, 'SUCCESS');
    await h2.close();
  });

  test('operations acknowledged before a stop are finished after the restart', async () => {
    const clock = new ManualClock(Date.now());
    const h3 = await reopen({ clock, config: { opDelayMs: 60_000 } });
    const first = (await cloudMap(h3.registry).RegisterInstance({ ServiceId: svcId, InstanceId: 'i3', Attributes: { a: '3' } })) as Any;
    // Move the first to PENDING, then submit a second that stays SUBMITTED.
    await eventually(async () => {
      await clock.advance(10_000);
      return ((await cloudMap(h3.registry).GetOperation({ OperationId: first.OperationId })) as Any).Operation.Status === 'PENDING';
    });
    const second = (await cloudMap(h3.registry).RegisterInstance({ ServiceId: svcId, InstanceId: 'i4', Attributes: { a: '4' } })) as Any;
    assert.equal(((await cloudMap(h3.registry).GetOperation({ OperationId: second.OperationId })) as Any).Operation.Status, 'SUBMITTED');
    await h3.close(); // "crash": nothing more is applied

    const h4 = await reopen();
    for (const id of [first.OperationId, second.OperationId]) {
      const op = await h4.registry.waitForOperation(id);
      assert.equal(op.status, 'SUCCESS');
    }
    const ids = ((await cloudMap(h4.registry).ListInstances({ ServiceId: svcId })) as Any).Instances.map((i: Any) => i.Id);
    assert.deepEqual(ids, ['i1', 'i3', 'i4']);
    const rev = ((await cloudMap(h4.registry).DiscoverInstancesRevision({ NamespaceName: 'restart', ServiceName: 'api' })) as Any).InstancesRevision;
    assert.ok(rev > revision);
    await h4.close();
  });
});

describe('operation states with a delay', () => {
  let h: Harness | undefined;
  after(async () => {
    if (h) {
      await h.close();
      removeDir(h.dir);
    }
  });

  test('SUBMITTED → PENDING → SUCCESS, UpdateDate moves', async () => {
    const clock = new ManualClock(Date.now());
    h = await openHarness({ clock, config: { opDelayMs: 1000 } });
    const { OperationId } = (await cloudMap(h.registry).CreateHttpNamespace({ Name: 'delayed' })) as Any;
    const status = async () => ((await cloudMap(h!.registry).GetOperation({ OperationId })) as Any).Operation;
    const submitted = await status();
    assert.equal(submitted.Status, 'SUBMITTED');
    await clock.advance(500);
    const pending = await eventually(async () => {
      const op = await status();
      return op.Status === 'PENDING' && op;
    });
    assert.ok(pending.UpdateDate > submitted.UpdateDate);
    await eventually(async () => {
      await clock.advance(100);
      return (await status()).Status === 'SUCCESS';
    });
    const done = await status();
    assert.ok(done.UpdateDate >= submitted.CreateDate + 1);
    assert.equal(done.CreateDate, submitted.CreateDate);
    const listed = (await cloudMap(h.registry).ListOperations({ Filters: [{ Name: 'UPDATE_DATE', Values: [String(done.UpdateDate - 1), String(done.UpdateDate + 1)], Condition: 'BETWEEN' }] })) as Any;
    assert.deepEqual(listed.Operations, [{ Id: OperationId, Status: 'SUCCESS' }]);
  });
});

describe('custom health with a delay (AWS timing)', () => {
  const clock = new ManualClock(Date.now());
  let h: Harness;
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('pending, repeat does not hurry, opposite cancels, applied when due, re-armed after restart', async () => {
    h = await openHarness({ clock, config: { customHealthDelayMs: 30_000 } });
    const ns = await httpNamespace(h.registry, 'custom');
    const svc = await service(h.registry, { Name: 'api', NamespaceId: ns, HealthCheckCustomConfig: {} });
    await register(h.registry, svc.Id, 'i1', {});
    const health = async () => ((await cloudMap(h.registry).GetInstancesHealthStatus({ ServiceId: svc.Id })) as Any).Status.i1;
    const set = (Status: string) => cloudMap(h.registry).UpdateInstanceCustomHealthStatus({ ServiceId: svc.Id, InstanceId: 'i1', Status });

    await set('UNHEALTHY');
    assert.equal(await health(), 'HEALTHY');
    const pending = h.snapshot.healthRecord(svc.Id, 'i1')?.pending;
    assert.deepEqual(pending, { status: 'UNHEALTHY', effectiveAt: clock.now() + 30_000 });
    await clock.advance(10_000);
    await set('UNHEALTHY'); // the same value again: does not restart or hurry the window
    assert.deepEqual(h.snapshot.healthRecord(svc.Id, 'i1')?.pending, pending);
    await set('HEALTHY'); // the opposite value inside the window cancels the change
    assert.equal(h.snapshot.healthRecord(svc.Id, 'i1')?.pending, undefined);
    await clock.advance(30_000);
    assert.equal(await health(), 'HEALTHY');

    await set('UNHEALTHY');
    await clock.advance(29_999);
    assert.equal(await health(), 'HEALTHY');
    await clock.advance(1);
    await eventually(async () => (await health()) === 'UNHEALTHY');
    assert.equal(h.snapshot.healthRecord(svc.Id, 'i1')?.pending, undefined);

    // A pending change survives a restart: the timer is re-armed from the stored record.
    await set('HEALTHY');
    const dir = h.dir;
    await h.close();
    h = await openHarness({ dir, clock, config: { customHealthDelayMs: 30_000 } });
    assert.equal(await health(), 'UNHEALTHY');
    assert.equal(h.snapshot.healthRecord(svc.Id, 'i1')?.pending?.status, 'HEALTHY');
    await clock.advance(30_000);
    await eventually(async () => (await health()) === 'HEALTHY');

    // Deregistration drops a pending change with the record.
    await set('UNHEALTHY');
    await completed(h.registry, cloudMap(h.registry).DeregisterInstance({ ServiceId: svc.Id, InstanceId: 'i1' }));
    await clock.advance(30_000);
    assert.equal(await h.kv.get(`/health/${svc.Id}/i1`), undefined);
  });
});

describe('finished operations are swept', () => {
  let h: Harness | undefined;
  after(async () => {
    if (h) {
      await h.close();
      removeDir(h.dir);
    }
  });

  test('beyond the cap and after the retention, oldest first; open operations are kept', async () => {
    const clock = new ManualClock(Date.now());
    h = await openHarness({ clock, config: { maxFinishedOps: 2, opRetentionMs: 60_000, opSweepIntervalMs: 0 } });
    const ids: string[] = [];
    for (const name of ['s1', 's2', 's3']) {
      ids.push((await completed(h.registry, cloudMap(h.registry).CreateHttpNamespace({ Name: name }))).id);
      await clock.advance(1000);
    }
    assert.equal(await h.registry.sweepOperations(), 1);
    await rejectsWith(cloudMap(h.registry).GetOperation({ OperationId: ids[0] }), 'OperationNotFound');
    assert.equal(((await cloudMap(h.registry).GetOperation({ OperationId: ids[1] })) as Any).Operation.Status, 'SUCCESS');
    await clock.advance(61_000);
    assert.equal(await h.registry.sweepOperations(), 2);
    assert.deepEqual(((await cloudMap(h.registry).ListOperations({})) as Any).Operations, []);
    // The namespaces themselves stay.
    assert.equal(((await cloudMap(h.registry).ListNamespaces({})) as Any).Namespaces.length, 3);
  });
});

describe('crash (kill -9)', () => {
  const dir = tempDir();
  let h: Harness | undefined;
  after(async () => {
    await h?.close();
    removeDir(dir);
  });

  test('every acknowledged RegisterInstance is applied after the process is killed', async () => {
    // The child acknowledges registrations that its worker will not apply for ten minutes, reports
    // them, and is killed with SIGKILL: only the store file is left.
    const child = `
      import { openHarness } from ${JSON.stringify(new URL('./testkit.ts', import.meta.url).href)};
      import { cloudMap } from ${JSON.stringify(new URL('./ops/index.ts', import.meta.url).href)};
      const h = await openHarness({ dir: ${JSON.stringify(dir)}, config: { opDelayMs: 600000 } });
      const ns = { id: 'ns-crash0000000000', arn: 'arn', name: 'crash', type: 'HTTP', httpName: 'crash', createDate: Date.now(), tags: [] };
      await h.kv.create('/ns/' + ns.id, JSON.stringify(ns));
      const svc = (await cloudMap(h.registry).CreateService({ Name: 'api', NamespaceId: ns.id })).Service.Id;
      const ops = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        cloudMap(h.registry).RegisterInstance({ ServiceId: svc, InstanceId: 'i' + i, Attributes: { n: String(i) } }).then((o) => o.OperationId)));
      process.stdout.write(JSON.stringify({ svc, ops }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      proc.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
      });
      proc.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    const { svc, ops } = JSON.parse(line) as { svc: string; ops: string[] };
    assert.equal(ops.length, 50);

    h = await openHarness({ dir });
    for (const id of ops) assert.equal((await h.registry.waitForOperation(id)).status, 'SUCCESS');
    assert.equal(h.snapshot.instances(svc).size, 50);
  });
});
