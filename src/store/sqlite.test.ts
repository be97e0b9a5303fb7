import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock, createMetricsRegistry, eventually, isPharosError } from '../lib/index.ts';
import { Compactor } from './compactor.ts';
import { runKvConformance } from './conformance.ts';
import { MAX_TXN_OPS } from './validate.ts';
import { STORE_COMPACTED, STORE_INVALID_ARGUMENT, STORE_LOCKED, STORE_OPEN_FAILED, STORE_WRITE_FAILED } from './errors.ts';
import type { TxnOp, WatchEvent } from './kv.ts';
import { SqliteKV, WATCH_PAGE_ROWS } from './sqlite.ts';

const root = mkdtempSync(join(tmpdir(), 'pharos-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(root, `db${++n}`, 'pharos.db');

runKvConformance('sqlite', async () => {
  const path = freshPath();
  const kv = await SqliteKV.open(path);
  return Object.assign(kv, {
    reopen: async () => {
      await kv.close();
      return SqliteKV.open(path);
    },
  });
});

/**
 * `count` puts, 1000 per group commit in txns of up to MAX_TXN_OPS distinct keys (a key written
 * twice starts a new txn): the fastest way to seed a big store through the public API.
 */
async function seed(kv: SqliteKV, count: number, key: (i: number) => string, value = (i: number) => JSON.stringify({ i, attrs: { AWS_INSTANCE_IPV4: '198.18.0.1' } })) {
  for (let start = 0; start < count; start += 1000) {
    const txns: TxnOp[][] = [[]];
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const k = key(i);
      let ops = txns[txns.length - 1]!;
      if (ops.length >= MAX_TXN_OPS || ops.some((op) => op.key === k)) txns.push((ops = []));
      ops.push({ type: 'put', key: k, value: value(i) });
    }
    await Promise.all(txns.map((ops) => kv.txn(ops)));
  }
}

describe('SqliteKV specifics', () => {
  test('creates the parent directory; WAL, synchronous=FULL, exclusive lock', async () => {
    const path = join(root, 'nested', 'deeper', 'pharos.db');
    const kv = await SqliteKV.open(path);
    try {
      assert.ok(existsSync(path));
      const d = kv.diagnostics();
      assert.equal(d.journalMode, 'wal');
      assert.equal(d.synchronous, 2, 'FULL');
      assert.equal(d.lockingMode, 'exclusive');
    } finally {
      await kv.close();
    }
  });

  test('a store made by schema version 1 opens: its data intact, the name index gone, the rows an old compaction missed swept', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    // What version 1 left: its layout (the UNIQUE index included), and a compaction to 2 that kept
    // /a's row 1, superseded at 3 after it (version 1 never deleted such a row later).
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec(`
      CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, deleted INTEGER NOT NULL,
        create_revision INTEGER NOT NULL, prev_revision INTEGER NOT NULL, value TEXT, committed_at INTEGER NOT NULL);
      CREATE UNIQUE INDEX kine_name_prev_revision ON kine (name, prev_revision);
      CREATE TABLE kine_latest (name TEXT PRIMARY KEY, id INTEGER NOT NULL, deleted INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE kine_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO kine VALUES (1, '/a', 0, 1, 0, 'a1', 0), (2, '/b', 0, 2, 0, 'b', 0), (3, '/a', 0, 1, 1, 'a2', 0);
      INSERT INTO kine_latest VALUES ('/a', 3, 0), ('/b', 2, 0);
      INSERT INTO kine_meta VALUES ('compact_revision', 2), ('compact_progress', 2);
      PRAGMA user_version = 1;`);
    old.close();

    const kv = await SqliteKV.open(path);
    try {
      assert.deepEqual((await kv.list('/')).items, [
        { key: '/a', value: 'a2', createRevision: 1, modRevision: 3 },
        { key: '/b', value: 'b', createRevision: 2, modRevision: 2 },
      ]);
      assert.equal(await kv.update('/a', 'a3', 3), 4);
      assert.equal(kv.compactedRevision, 2);
      await kv.compact(await kv.revision());
      assert.equal(kv.diagnostics().logRows, 2, '/a\'s rows 1 and 3 went, its newest and /b stay');
    } finally {
      await kv.close();
    }
    const raw = new Database(path);
    try {
      assert.equal(raw.pragma('user_version', { simple: true }), 2);
      assert.equal((raw.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 'kine_name_prev_revision'`).get() as { n: number }).n, 0);
      assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      raw.close();
    }
  });

  test('a second open of the same file fails with StoreLocked', async () => {
    const path = freshPath();
    const kv = await SqliteKV.open(path);
    await kv.create('/a', '1');
    try {
      await assert.rejects(SqliteKV.open(path), (err) => isPharosError(err, STORE_LOCKED));
    } finally {
      await kv.close();
    }
    const again = await SqliteKV.open(path);
    assert.equal((await again.get('/a'))?.value, '1');
    await again.close();
  });

  test('group commit: writes of one turn share one transaction; a failed guard rejects only itself', async () => {
    const metrics = createMetricsRegistry();
    const kv = await SqliteKV.open(freshPath(), { metrics });
    try {
      await kv.create('/g/taken', 'x');
      const results = await Promise.allSettled([
        ...Array.from({ length: 99 }, (_, i) => kv.create(`/g/${i}`, String(i))),
        kv.create('/g/taken', 'y'),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 99);
      assert.equal(results[99]!.status, 'rejected');
      // Unlike etcd's one revision per txn, each write of a SQLite batch has its own, consecutive one.
      const revs = results.slice(0, 99).map((r) => (r as PromiseFulfilledResult<number>).value);
      assert.equal(new Set(revs).size, 99);
      assert.equal(Math.max(...revs) - Math.min(...revs), 98);
      const json = await metrics.getMetricsAsJSON();
      const batch = json.find((m) => m.name === 'pharos_store_commit_batch_writes')!;
      const count = batch.values.find((v) => (v as { metricName?: string }).metricName === 'pharos_store_commit_batch_writes_count')!.value;
      assert.equal(count, 2, 'one commit for the first create, one for the hundred');
      const writes = json.find((m) => m.name === 'pharos_store_writes_total')!;
      assert.deepEqual(
        Object.fromEntries(writes.values.map((v) => [v.labels.result, v.value])),
        { ok: 100, conflict: 1 },
      );
    } finally {
      await kv.close();
    }
  });

  test('watch events are published before the writer’s promise resolves', async () => {
    const kv = await SqliteKV.open(freshPath());
    try {
      const seen = new Map<string, number>();
      kv.watch('/', 0, (events) => events.forEach((e) => seen.set(e.key, e.revision)));
      await new Promise((resolve) => setImmediate(resolve)); // let the (empty) catch-up finish
      for (let i = 0; i < 20; i++) {
        const rev = await kv.create(`/p/${i}`, 'x');
        assert.equal(seen.get(`/p/${i}`), rev, 'already in the in-memory view when the write resolves');
      }
      const rev = await kv.txn([{ type: 'delete', key: '/p/0' }]);
      assert.equal(seen.get('/p/0'), rev);
    } finally {
      await kv.close();
    }
  });

  test('a put’s object reaches live watchers as the event’s object; history read back has none', async () => {
    const path = freshPath();
    const kv = await SqliteKV.open(path);
    const record = { id: 'i-1', attributes: { zone: 'a' } };
    try {
      const live: WatchEvent[] = [];
      kv.watch('/o/', 0, (events) => live.push(...events));
      await new Promise((resolve) => setImmediate(resolve));
      await kv.txn([
        { type: 'put', key: '/o/with', value: JSON.stringify(record), object: record },
        { type: 'put', key: '/o/without', value: '{}' },
      ]);
      assert.equal(live[0]!.object, record, 'the writer’s own object, not a copy');
      assert.equal('object' in live[1]!, false);
    } finally {
      await kv.close();
    }
    const again = await SqliteKV.open(path);
    try {
      const caughtUp: WatchEvent[] = [];
      again.watch('/o/', 0, (events) => caughtUp.push(...events));
      await eventually(() => caughtUp.length === 2);
      assert.deepEqual(JSON.parse(caughtUp[0]!.value!), record);
      assert.equal(caughtUp[0]!.object, undefined);
    } finally {
      await again.close();
    }
  });

  test('one group commit of many writes over few keys (rows in several multi-row statements) reads back as issued', async () => {
    const path = freshPath();
    const kv = await SqliteKV.open(path);
    const keys = Array.from({ length: 40 }, (_, i) => `/c/${i}`);
    try {
      await Promise.all(keys.map((k) => kv.create(k, 'v0')));
      const seen: WatchEvent[] = [];
      kv.watch('/c/', await kv.revision(), (events) => seen.push(...events));
      await new Promise((resolve) => setImmediate(resolve));
      // 300 writes in one turn: each key is put, deleted and created again several times, so one
      // key's rows fall into different chunks of the batch.
      const writes: Promise<number>[] = [];
      for (let round = 1; round <= 7; round++) {
        for (const k of keys) writes.push(round % 3 === 0 ? kv.delete(k) : round % 3 === 1 && round > 1 ? kv.create(k, `v${round}`) : kv.txn([{ type: 'put', key: k, value: `v${round}` }]));
      }
      writes.push(kv.create('/c/0', 'refused: it exists'));
      const results = await Promise.allSettled(writes);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
      const revs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      assert.deepEqual(revs, [...revs].sort((a, b) => a - b), 'revisions in issue order');
      // Round 7 (7 % 3 = 1) created every key again with v7 after round 6 deleted it.
      const expectKeys = () => keys.map((key) => ({ key, value: 'v7' })).sort((a, b) => (a.key < b.key ? -1 : 1));
      const listed = (await kv.list('/c/')).items;
      assert.deepEqual(listed.map(({ key, value }) => ({ key, value })), expectKeys());
      for (const item of listed) assert.equal(item.createRevision, item.modRevision, 'created again by its last write');
      assert.equal(seen.length, 280);
      assert.equal(seen.at(-1)!.revision, await kv.revision());
      const deletes = seen.filter((e) => e.type === 'delete');
      assert.equal(deletes.length, 80);
      assert.ok(deletes.every((e) => e.prev !== undefined), 'a delete carries the value it removed');
    } finally {
      await kv.close();
    }
    const again = await SqliteKV.open(path);
    try {
      const listed = (await again.list('/c/')).items;
      assert.equal(listed.length, 40);
      assert.ok(listed.every((i) => i.value === 'v7'));
      assert.equal((await again.get('/c/3'))?.value, 'v7');
    } finally {
      await again.close();
    }
  });

  test('a long catch-up pages through history without gaps, duplicates or split txns', async () => {
    const clock = new ManualClock();
    const kv = await SqliteKV.open(freshPath(), { clock });
    try {
      // Txns of 7 ops so that page boundaries (every WATCH_PAGE_ROWS rows) fall inside them.
      const txns = Math.ceil((WATCH_PAGE_ROWS * 2.5) / 7);
      for (let t = 0; t < txns; t++) {
        await clock.advance(1);
        await kv.txn(Array.from({ length: 7 }, (_, i) => ({ type: 'put' as const, key: `/h/${t}/${i}`, value: String(i) })));
      }
      const head = await kv.revision();
      const batches: WatchEvent[][] = [];
      const w = kv.watch('/h/', 0, (evs) => batches.push(evs));
      const live = await kv.create('/h/live', 'x');
      await eventually(() => batches.flat().length === head + 1);
      w.cancel();
      const revs = batches.flat().map((e) => e.revision);
      assert.deepEqual(revs, [...Array.from({ length: head }, (_, i) => i + 1), live]);
      assert.ok(batches.length >= 3, 'paged');
      for (const b of batches.slice(0, -1)) {
        // Each txn wrote 7 rows, revisions 7k+1 .. 7k+7: a batch ends on a txn boundary.
        assert.equal(b[b.length - 1]!.revision % 7, 0, 'batch ends at the end of a txn');
      }
    } finally {
      await kv.close();
    }
  });

  test('compaction deletes superseded rows and tombstones, keeps the newest version of each key', async () => {
    const path = freshPath();
    const kv = await SqliteKV.open(path);
    try {
      let rev = await kv.create('/c/a', '0');
      for (let i = 1; i <= 50; i++) rev = await kv.update('/c/a', String(i), rev);
      const b = await kv.create('/c/b', 'b');
      await kv.delete('/c/b', b);
      const keep = await kv.create('/c/c', 'c');
      const mid = await kv.revision();
      const after1 = await kv.update('/c/c', 'c2', keep);
      assert.equal(kv.diagnostics().logRows, 55);
      await kv.compact(mid);
      // Left: /c/a's newest row, /c/c's row at `mid` (the prev of the later update) and the update.
      assert.equal(kv.diagnostics().logRows, 3);
      assert.equal(kv.diagnostics().compactedRevision, mid);
      const events: WatchEvent[] = [];
      kv.watch('/c/', mid, (evs) => events.push(...evs));
      await eventually(() => events.length === 1);
      assert.equal(events[0]!.revision, after1);
      assert.deepEqual(events[0]!.prev, { key: '/c/c', value: 'c', createRevision: keep, modRevision: keep });
    } finally {
      await kv.close();
    }
    const raw = new Database(path);
    assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal((raw.prepare('SELECT value FROM kine_meta WHERE key = ?').get('compact_revision') as { value: number }).value > 0, true);
    raw.close();
  });

  test('a row still the newest at one compaction goes at the next one once superseded', async () => {
    const kv = await SqliteKV.open(freshPath());
    try {
      const a = await kv.create('/s/a', '1');
      await kv.create('/s/b', 'b');
      await kv.compact(await kv.revision());
      assert.equal(kv.diagnostics().logRows, 2);
      await kv.update('/s/a', '2', a);
      await kv.compact(await kv.revision());
      assert.equal(kv.diagnostics().logRows, 2, "/s/a's first row is superseded: only the newest rows stay");
    } finally {
      await kv.close();
    }
  });

  test('compaction runs in batches: writes complete while a large compaction is in progress', async () => {
    const kv = await SqliteKV.open(freshPath());
    try {
      await seed(kv, 5000, (i) => `/big/${i}`);
      await seed(kv, 5000, (i) => `/big/${i}`); // supersedes every row of the first pass
      const head = await kv.revision();
      let compactDone = false;
      const compaction = kv.compact(head).then(() => (compactDone = true));
      const rev = await kv.create('/big/during', 'x');
      assert.equal(compactDone, false, 'the write did not wait for the whole compaction');
      assert.ok(rev > head);
      await compaction;
      assert.equal(kv.diagnostics().logRows, 5001);
      assert.equal((await kv.list('/big/')).items.length, 5001);
    } finally {
      await kv.close();
    }
  });

  test('a watcher catching up while compaction overtakes it gets Compacted, not a gap', async () => {
    const kv = await SqliteKV.open(freshPath());
    try {
      await seed(kv, WATCH_PAGE_ROWS * 3, (i) => `/o/${i % 100}`);
      const errors: Error[] = [];
      const events: WatchEvent[] = [];
      kv.watch('/o/', 0, (evs) => events.push(...evs), (err) => errors.push(err));
      await kv.compact((await kv.revision()) - 10);
      await eventually(() => errors.length === 1);
      assert.ok(isPharosError(errors[0], STORE_COMPACTED));
      // Whatever was delivered before the error is a gap-free prefix of the history.
      assert.deepEqual(events.map((e) => e.revision), Array.from({ length: events.length }, (_, i) => i + 1));
    } finally {
      await kv.close();
    }
  });

  test('100,000 keys: list under 1 s, reopen-to-listed under 5 s', async () => {
    const path = freshPath();
    const kv = await SqliteKV.open(path);
    await seed(kv, 100_000, (i) => `/inst/srv-${i % 50}/i-${i}`);
    // CPU time, not wall time: the work is synchronous on this thread, and the machine is shared,
    // so wall time measures the neighbours. bench/store.ts records wall-clock figures.
    const cpuMs = (since: NodeJS.CpuUsage) => {
      const d = process.cpuUsage(since);
      return (d.user + d.system) / 1000;
    };
    let t = process.cpuUsage();
    const all = await kv.list('/inst/');
    const listMs = cpuMs(t);
    assert.equal(all.items.length, 100_000);
    const one = await kv.list('/inst/srv-7/');
    assert.equal(one.items.length, 2000);
    await kv.close();
    t = process.cpuUsage();
    const again = await SqliteKV.open(path);
    const relisted = await again.list('/inst/');
    const reopenMs = cpuMs(t);
    await again.close();
    assert.equal(relisted.items.length, 100_000);
    assert.ok(listMs < 1000, `list took ${listMs.toFixed(0)} ms of CPU`);
    assert.ok(reopenMs < 5000, `reopen + list took ${reopenMs.toFixed(0)} ms of CPU`);
  });

  test('close while a compaction runs: the compaction stops, the file stays sound', async () => {
    const path = freshPath();
    const kv = await SqliteKV.open(path);
    await seed(kv, 5000, (i) => `/x/${i % 10}`);
    const compaction = kv.compact(await kv.revision());
    await kv.close();
    await compaction.catch(() => undefined);
    const again = await SqliteKV.open(path);
    assert.equal((await again.list('/x/')).items.length, 10);
    assert.ok(again.diagnostics().logRows > 10, 'cut short');
    // The next compaction finishes the job, even when asked for no more than was already promised.
    await again.compact(again.compactedRevision);
    assert.equal(again.diagnostics().logRows, 10);
    await again.close();
  });

  test('a failed commit (disk full) rejects its batch with StoreWriteFailed and leaves no trace', async () => {
    const kv = await SqliteKV.open(freshPath());
    // Reaching into the connection is the one way to make SQLite run out of space on demand.
    const db = (kv as unknown as { db: Database.Database }).db;
    try {
      const r1 = await kv.create('/f/a', 'a');
      const seen: WatchEvent[] = [];
      kv.watch('/f/', r1, (evs) => seen.push(...evs));
      db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
      const results = await Promise.allSettled([kv.create('/f/small', 'x'), kv.create('/f/big', 'y'.repeat(200_000))]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(isPharosError((r as PromiseRejectedResult).reason, STORE_WRITE_FAILED));
      }
      assert.equal(await kv.revision(), r1);
      assert.equal(await kv.get('/f/small'), undefined);
      db.pragma('max_page_count = 1073741823');
      assert.equal(await kv.create('/f/small', 'x'), r1 + 1, 'no revision was burnt');
      assert.deepEqual(seen.map((e) => e.key), ['/f/small'], 'nothing was published for the failed batch');
    } finally {
      await kv.close();
    }
  });

  test('open failures are StoreOpenFailed with the path, not raw SQLite errors', async () => {
    const notADb = join(root, 'not-a-db');
    writeFileSync(notADb, 'this is not a database, just text that is long enough to have a header '.repeat(20));
    await assert.rejects(SqliteKV.open(notADb), (err) => isPharosError(err, STORE_OPEN_FAILED) && err.message.includes(notADb));
    await assert.rejects(SqliteKV.open(root), (err) => isPharosError(err, STORE_OPEN_FAILED));
    await assert.rejects(SqliteKV.open(''), (err) => isPharosError(err, STORE_INVALID_ARGUMENT));
  });
});

describe('SqliteKV against a model', () => {
  /** mulberry32: a seeded PRNG, so a failure replays. */
  function rng(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  for (const seed of [1, 2, 3]) {
    test(`random concurrent writes match a sequential model (seed ${seed})`, async () => {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const keys = ['/m/a', '/m/b', '/m/c', '/m/a/x', '/m/ab', '/n/z'];
      const model = new Map<string, { value: string; createRevision: number; modRevision: number }>();
      const log: { type: 'put' | 'delete'; key: string; revision: number; value?: string }[] = [];
      let rev = 0;
      const path = freshPath();
      let kv = await SqliteKV.open(path);
      const watched: WatchEvent[] = [];
      let watch = kv.watch('/m/', 0, (evs) => watched.push(...evs));
      const guessRev = (key: string) => (rand() < 0.7 ? (model.get(key)?.modRevision ?? 0) : Math.floor(rand() * (rev + 2)));

      /** Applies ops to the model as the store must (in issue order, all or nothing); returns a revision or an error code. */
      const applyModel = (ops: TxnOp[], kind: 'create' | 'update' | 'delete' | 'txn'): number | string => {
        const draft = new Map(model);
        let r = rev;
        const entries: typeof log = [];
        for (const op of ops) {
          const cur = draft.get(op.key);
          if (op.type === 'put') {
            if (op.prevRevision === 0 && cur) return 'StoreKeyExists';
            if (op.prevRevision !== undefined && op.prevRevision !== 0 && op.prevRevision !== (cur?.modRevision ?? 0)) return 'StoreRevisionMismatch';
            r++;
            draft.set(op.key, { value: op.value, createRevision: cur?.createRevision ?? r, modRevision: r });
            entries.push({ type: 'put', key: op.key, revision: r, value: op.value });
          } else {
            if (kind === 'delete' && !cur) return 'StoreKeyNotFound';
            if (op.prevRevision !== undefined && op.prevRevision !== (cur?.modRevision ?? 0)) return 'StoreRevisionMismatch';
            if (!cur) continue;
            r++;
            draft.delete(op.key);
            entries.push({ type: 'delete', key: op.key, revision: r });
          }
        }
        model.clear();
        for (const [k, v] of draft) model.set(k, v);
        log.push(...entries);
        rev = r;
        return r;
      };

      try {
        for (let round = 0; round < 60; round++) {
          const issued: { promise: Promise<number>; expected: number | string }[] = [];
          const n = 1 + Math.floor(rand() * 12);
          for (let i = 0; i < n; i++) {
            const key = pick(keys);
            const value = `v${round}.${i}`;
            const choice = rand();
            let kind: 'create' | 'update' | 'delete' | 'txn';
            let ops: TxnOp[];
            if (choice < 0.3) [kind, ops] = ['create', [{ type: 'put', key, value, prevRevision: 0 }]];
            else if (choice < 0.55) [kind, ops] = ['update', [{ type: 'put', key, value, prevRevision: Math.max(1, guessRev(key)) }]];
            else if (choice < 0.7) [kind, ops] = ['delete', [{ type: 'delete', key, prevRevision: rand() < 0.5 ? undefined : guessRev(key) }]];
            else {
              kind = 'txn';
              ops = [];
              for (let j = 1 + Math.floor(rand() * 4); j > 0; j--) {
                const k = pick(keys);
                if (ops.some((o) => o.key === k)) continue; // a key appears once per txn
                ops.push(
                  rand() < 0.7
                    ? { type: 'put', key: k, value: `${value}.${j}`, prevRevision: rand() < 0.4 ? undefined : guessRev(k) }
                    : { type: 'delete', key: k, prevRevision: rand() < 0.6 ? undefined : guessRev(k) },
                );
              }
            }
            const op = ops[0]!;
            const promise =
              kind === 'create' ? kv.create(op.key, (op as { value: string }).value)
              : kind === 'update' ? kv.update(op.key, (op as { value: string }).value, op.prevRevision!)
              : kind === 'delete' ? kv.delete(op.key, op.prevRevision)
              : kv.txn(ops);
            // The model sees the ops in issue order: the order the store applies them in.
            issued.push({ promise, expected: applyModel(ops, kind) });
          }
          for (const { promise, expected } of issued) {
            const got = await promise.then((r) => r, (err: { code: string }) => err.code);
            assert.equal(got, expected);
          }
          if (rand() < 0.1) await kv.compact(Math.floor(rand() * (rev + 1)));
          if (rand() < 0.05) {
            watch.cancel();
            await kv.close();
            kv = await SqliteKV.open(path);
            // The old watch was live, so it had everything up to `rev` (published before writes resolved).
            watch = kv.watch('/m/', rev, (evs) => watched.push(...evs));
          }
          const listed = await kv.list('/m/');
          assert.deepEqual(
            listed.items,
            [...model].filter(([k]) => k.startsWith('/m/')).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, v]) => ({ key, ...v })),
          );
          assert.equal(listed.revision, rev);
        }
        const expectedEvents = log.filter((e) => e.key.startsWith('/m/'));
        await eventually(() => watched.length >= expectedEvents.length);
        assert.deepEqual(
          watched.map((e) => ({ type: e.type, key: e.key, revision: e.revision, ...(e.value === undefined ? {} : { value: e.value }) })),
          expectedEvents,
        );
      } finally {
        watch.cancel();
        await kv.close();
      }
    });
  }
});

describe('Compactor', () => {
  test('keeps the last N revisions, on the clock; stop is awaitable and repeatable', async () => {
    const kv = await SqliteKV.open(freshPath());
    const clock = new ManualClock();
    const compactor = new Compactor(kv, { keepRevisions: 10, intervalMs: 1000, clock });
    try {
      await seed(kv, 100, (i) => `/k/${i % 5}`);
      assert.equal(await compactor.runOnce(), 90);
      assert.equal(await compactor.runOnce(), undefined, 'nothing new to compact');
      await seed(kv, 50, (i) => `/k/${i % 5}`);
      compactor.start();
      compactor.start();
      await clock.advance(1000); // the first run is jittered within one interval
      await eventually(() => kv.compactedRevision === 140);
      await compactor.stop();
      await compactor.stop();
      await seed(kv, 50, (i) => `/k/${i % 5}`);
      await clock.advance(5000);
      assert.equal(kv.compactedRevision, 140, 'stopped');
      compactor.start();
      await clock.advance(1000);
      await eventually(() => kv.compactedRevision === 190);
    } finally {
      await compactor.stop();
      await kv.close();
    }
  });

  test('stops on its AbortSignal and when the store closes', async () => {
    const kv = await SqliteKV.open(freshPath());
    const clock = new ManualClock();
    const controller = new AbortController();
    const compactor = new Compactor(kv, { keepRevisions: 0, intervalMs: 1000, clock, signal: controller.signal });
    compactor.start();
    controller.abort();
    await compactor.stop();
    assert.equal(clock.pending, 0);
    const other = new Compactor(kv, { keepRevisions: 0, intervalMs: 1000, clock });
    other.start();
    await kv.close();
    await clock.advance(1000);
    await clock.advance(1000);
    await other.stop();
  });
});
