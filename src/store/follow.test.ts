import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { eventually } from '../lib/index.ts';
import { follow } from './follow.ts';
import type { WatchEvent } from './kv.ts';
import { SqliteKV } from './sqlite.ts';

const root = mkdtempSync(join(tmpdir(), 'pharos-follow-'));
after(() => rmSync(root, { recursive: true, force: true }));

// A follow that starts behind a compaction lists again and delivers the difference, whether it
// keeps the keys itself or asks the caller for the keys it holds (`known`).
for (const mode of ['own', 'known'] as const) {
  test(`a compacted follow delivers the difference from what the caller held (keys kept: ${mode})`, async () => {
    const kv = await SqliteKV.open(join(root, mode, 'pharos.db'));
    try {
      await kv.create('/f/same', 's');
      await kv.create('/f/changed', '1');
      await kv.create('/f/gone', 'g');
      await kv.create('/other', 'x');
      const listed = await kv.list('/f/');
      // Changes the caller will not see one by one: the history goes before it watches.
      const changed = await kv.update('/f/changed', '2', (await kv.get('/f/changed'))!.modRevision);
      await kv.delete('/f/gone');
      const added = await kv.create('/f/new', 'n');
      await kv.compact(await kv.revision());

      const held = new Map(listed.items.map((i) => [i.key, i.modRevision]));
      const delivered: WatchEvent[][] = [];
      const watch = follow(
        kv,
        '/f/',
        listed,
        (events) => {
          delivered.push(events);
          for (const ev of events) (ev.type === 'put' ? held.set(ev.key, ev.revision) : held.delete(ev.key));
        },
        mode === 'known' ? { known: () => held } : {},
      );
      try {
        await eventually(() => delivered.length > 0);
        const head = await kv.revision();
        assert.deepEqual(
          delivered[0]!.map((e) => ({ type: e.type, key: e.key, revision: e.revision })),
          [
            { type: 'put', key: '/f/changed', revision: changed },
            { type: 'put', key: '/f/new', revision: added },
            { type: 'delete', key: '/f/gone', revision: head },
          ],
        );
        // And it watches on from there.
        const later = await kv.create('/f/later', 'l');
        await eventually(() => held.get('/f/later') === later);
        assert.deepEqual([...held.keys()].sort(), ['/f/changed', '/f/later', '/f/new', '/f/same']);
      } finally {
        watch.cancel();
      }
    } finally {
      await kv.close();
    }
  });
}
