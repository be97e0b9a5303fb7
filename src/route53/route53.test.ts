import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock, eventually, isPharosError } from '../lib/index.ts';
import { keys } from '../registry/index.ts';
import { openHarness, privateNamespace, removeDir, type Harness } from '../registry/testkit.ts';
import { CHANGE_RETENTION_MS, CHANGE_SWEEP_INTERVAL_MS, Route53 } from './route53.ts';

/** The sweep of old change records, on a real SQLite store; the wire is tested in test/route53*.test.ts. */
describe('Route 53 change records', () => {
  let h: Harness;
  let zoneId: string;
  let namespaceId: string;
  before(async () => {
    h = await openHarness();
    namespaceId = await privateNamespace(h.registry, 'sweep.local');
    zoneId = h.snapshot.namespace(namespaceId)!.hostedZoneId!;
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  const upsert = (r53: Route53, name: string) =>
    r53.changeResourceRecordSets(zoneId, { changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: name, Type: 'TXT', TTL: 60, ResourceRecords: ['"x"'], unsupported: [] } }] }) as Promise<{ ChangeInfo: { Id: string } }>;
  const changeIds = async () => (await h.kv.list(keys.zoneChangePrefix)).items.map((kv) => kv.key.slice(keys.zoneChangePrefix.length));
  const noSuchChange = async (r53: Route53, id: string) =>
    assert.rejects(r53.getChange(id), (err: unknown) => isPharosError(err) && err.code === 'NoSuchChange');

  test('GetChange answers for a day; the sweep then deletes the record, and only the old ones', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 30));
    const r53 = new Route53({ kv: h.kv, snapshot: h.snapshot, region: 'us-east-1', clock, changeSweepIntervalMs: 0 });
    const old = (await upsert(r53, 'old.sweep.local')).ChangeInfo.Id.replace('/change/', '');
    await clock.advance(CHANGE_RETENTION_MS - 1);
    assert.equal(await r53.sweepChanges(), 0, 'not older than the retention yet');
    const young = (await upsert(r53, 'young.sweep.local')).ChangeInfo.Id.replace('/change/', '');
    await clock.advance(2);
    assert.equal(await r53.sweepChanges(), 1);
    await noSuchChange(r53, old);
    assert.equal(((await r53.getChange(young)) as { ChangeInfo: { Status: string } }).ChangeInfo.Status, 'INSYNC');
    assert.deepEqual(await changeIds(), [young]);
    // The record sets the changes made stay: only the change records go.
    assert.equal(h.snapshot.recordSets(namespaceId).size, 2);
  });

  test('start() sweeps on its own every interval, and stop() ends it', async () => {
    for (const id of await changeIds()) await h.kv.txn([{ type: 'delete', key: keys.zoneChange(id) }]);
    const clock = new ManualClock(Date.UTC(2026, 10, 30));
    const r53 = new Route53({ kv: h.kv, snapshot: h.snapshot, region: 'us-east-1', clock });
    r53.start();
    const id = (await upsert(r53, 'timed.sweep.local')).ChangeInfo.Id.replace('/change/', '');
    // The first sweep is jittered within one interval; a day and two intervals later one has run after the retention.
    await clock.advance(CHANGE_RETENTION_MS + 2 * CHANGE_SWEEP_INTERVAL_MS);
    await eventually(async () => (await changeIds()).length === 0, { message: 'the timed sweep deleted the change record' });
    await noSuchChange(r53, id);
    await r53.stop();
    assert.equal(clock.pending, 0, 'no sweep armed after stop');
  });
});
