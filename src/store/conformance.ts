import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, isPharosError } from '../lib/index.ts';
import {
  STORE_CLOSED,
  STORE_COMPACTED,
  STORE_INVALID_ARGUMENT,
  STORE_KEY_EXISTS,
  STORE_KEY_NOT_FOUND,
  STORE_REVISION_MISMATCH,
} from './errors.ts';
import type { KV, WatchEvent } from './kv.ts';
import { MAX_TXN_OPS } from './validate.ts';

/** A store under test, plus a way to close it and open the same data again (persistence). */
type ConformanceKV = KV & {
  /** Closes this handle and opens the same store again. */
  reopen(): Promise<KV>;
};

/** Matches a rejection by its stable store error code. */
const code = (c: string) => (err: unknown) => {
  assert.ok(isPharosError(err, c), `expected ${c}, got ${String((err as Error)?.stack ?? err)}`);
  return true;
};

/** Collects a watch's events and errors; `until(n)` waits for at least n events. */
function collect(kv: KV, prefix: string, after: number) {
  const events: WatchEvent[] = [];
  const batches: WatchEvent[][] = [];
  const errors: Error[] = [];
  const watch = kv.watch(
    prefix,
    after,
    (evs) => {
      batches.push(evs);
      events.push(...evs);
    },
    (err) => errors.push(err),
  );
  return {
    events,
    batches,
    errors,
    watch,
    until: (n: number) => eventually(() => events.length >= n, { message: `${n} events on ${prefix} (have ${events.length})` }),
  };
}

/**
 * The contract every `KV` backend must meet (kine's idea: backends share one test suite). Each test
 * opens a fresh store through `open` and closes it at the end; keys are spread over per-test
 * prefixes so a backend on a shared server (etcd) can run it too.
 */
export function runKvConformance(name: string, open: () => Promise<ConformanceKV>): void {
  /** Runs `fn` on a fresh store and always closes what it ends up holding. */
  const withStore = (fn: (kv: ConformanceKV, swap: (next: KV) => void) => Promise<void>) => async () => {
    const kv = await open();
    let current: KV = kv;
    try {
      await fn(kv, (next) => (current = next));
    } finally {
      await current.close();
    }
  };

  describe(`KV conformance: ${name}`, () => {
    describe('get / create', () => {
      test('get of a missing key is undefined', withStore(async (kv) => {
        assert.equal(await kv.get('/c/missing'), undefined);
      }));

      test('create returns the new revision; get shows createRevision = modRevision', withStore(async (kv) => {
        const before = await kv.revision();
        const rev = await kv.create('/c/a', '{"v":1}');
        assert.ok(rev > before);
        assert.equal(await kv.revision(), rev);
        assert.deepEqual(await kv.get('/c/a'), { key: '/c/a', value: '{"v":1}', createRevision: rev, modRevision: rev });
      }));

      test('create of an existing key fails with KeyExists and writes nothing', withStore(async (kv) => {
        const rev = await kv.create('/c/a', '1');
        await assert.rejects(kv.create('/c/a', '2'), code(STORE_KEY_EXISTS));
        assert.equal((await kv.get('/c/a'))?.value, '1');
        assert.equal(await kv.revision(), rev);
      }));

      test('values round-trip unchanged (unicode, empty, large)', withStore(async (kv) => {
        const values = ['', 'ünïcødé ☃ 😀', JSON.stringify({ big: 'x'.repeat(100_000) }), '\n\t"quoted"'];
        for (const [i, v] of values.entries()) await kv.create(`/c/v${i}`, v);
        for (const [i, v] of values.entries()) assert.equal((await kv.get(`/c/v${i}`))?.value, v);
      }));

      test('malformed input is rejected with StoreInvalidArgument, never a crash', withStore(async (kv) => {
        const before = await kv.revision();
        await assert.rejects(kv.create('', 'x'), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.create(undefined as unknown as string, 'x'), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.create('/c/a', 42 as unknown as string), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.update('/c/a', 'x', -1), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.update('/c/a', 'x', 1.5), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.txn([{ type: 'nope' } as never]), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.list('/c/', { limit: 0 }), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.get(''), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.create('/c/nul\0', 'x'), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.create('/c/\uD800', 'x'), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.create('/c/' + 'k'.repeat(10_000), 'x'), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.create('/c/big', 'v'.repeat(2 * 1024 * 1024)), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.txn('nope' as never), code(STORE_INVALID_ARGUMENT));
        assert.equal(await kv.revision(), before);
      }));
    });

    describe('update', () => {
      test('update with the current revision replaces the value and keeps createRevision', withStore(async (kv) => {
        const r1 = await kv.create('/u/a', '1');
        const r2 = await kv.update('/u/a', '2', r1);
        assert.ok(r2 > r1);
        assert.deepEqual(await kv.get('/u/a'), { key: '/u/a', value: '2', createRevision: r1, modRevision: r2 });
      }));

      test('update with a stale revision fails with RevisionMismatch', withStore(async (kv) => {
        const r1 = await kv.create('/u/a', '1');
        const r2 = await kv.update('/u/a', '2', r1);
        await assert.rejects(kv.update('/u/a', '3', r1), (err) => {
          code(STORE_REVISION_MISMATCH)(err);
          assert.deepEqual((err as { fields: unknown }).fields, { key: '/u/a', expected: r1, actual: r2 });
          return true;
        });
        assert.equal((await kv.get('/u/a'))?.value, '2');
      }));

      test('update of a missing key fails with RevisionMismatch (actual 0)', withStore(async (kv) => {
        await assert.rejects(kv.update('/u/none', 'x', 5), code(STORE_REVISION_MISMATCH));
        assert.equal(await kv.get('/u/none'), undefined);
      }));

      test('CAS race: concurrent updates from the same revision, exactly one wins', withStore(async (kv) => {
        const r1 = await kv.create('/u/race', '0');
        const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => kv.update('/u/race', `w${i}`, r1)));
        const won = results.filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1);
        for (const r of results) if (r.status === 'rejected') code(STORE_REVISION_MISMATCH)(r.reason);
        const winner = results.findIndex((r) => r.status === 'fulfilled');
        assert.equal((await kv.get('/u/race'))?.value, `w${winner}`);
      }));

      test('create race: concurrent creates of one key, exactly one wins', withStore(async (kv) => {
        const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => kv.create('/u/new', `w${i}`)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') code(STORE_KEY_EXISTS)(r.reason);
      }));
    });

    describe('delete', () => {
      test('delete removes the key and returns a new revision', withStore(async (kv) => {
        const r1 = await kv.create('/d/a', '1');
        const r2 = await kv.delete('/d/a');
        assert.ok(r2 > r1);
        assert.equal(await kv.get('/d/a'), undefined);
        assert.equal(await kv.revision(), r2);
      }));

      test('delete of a missing key fails with KeyNotFound', withStore(async (kv) => {
        await assert.rejects(kv.delete('/d/none'), code(STORE_KEY_NOT_FOUND));
        await assert.rejects(kv.delete('/d/none', 3), code(STORE_KEY_NOT_FOUND));
      }));

      test('guarded delete checks the revision', withStore(async (kv) => {
        const r1 = await kv.create('/d/a', '1');
        const r2 = await kv.update('/d/a', '2', r1);
        await assert.rejects(kv.delete('/d/a', r1), code(STORE_REVISION_MISMATCH));
        assert.ok(await kv.get('/d/a'));
        assert.ok((await kv.delete('/d/a', r2)) > r2);
      }));

      test('a deleted key can be created again with a new createRevision', withStore(async (kv) => {
        const r1 = await kv.create('/d/a', '1');
        await kv.delete('/d/a');
        const r3 = await kv.create('/d/a', '3');
        assert.ok(r3 > r1);
        assert.deepEqual(await kv.get('/d/a'), { key: '/d/a', value: '3', createRevision: r3, modRevision: r3 });
      }));
    });

    describe('list', () => {
      test('lists live keys under the prefix in key order, with the read revision', withStore(async (kv) => {
        for (const k of ['/l/b', '/l/a', '/l/c/d', '/m/x', '/l']) await kv.create(k, k);
        await kv.delete('/l/c/d');
        const res = await kv.list('/l/');
        assert.deepEqual(res.items.map((i) => i.key), ['/l/a', '/l/b']);
        assert.equal(res.revision, await kv.revision());
        assert.equal(res.items[0]!.value, '/l/a');
      }));

      test('prefix isolation: /inst/a/ does not see /inst/ab/', withStore(async (kv) => {
        await kv.create('/inst/a/1', 'a1');
        await kv.create('/inst/ab/1', 'ab1');
        await kv.create('/inst/a', 'bare');
        assert.deepEqual((await kv.list('/inst/a/')).items.map((i) => i.key), ['/inst/a/1']);
        assert.deepEqual((await kv.list('/inst/ab/')).items.map((i) => i.key), ['/inst/ab/1']);
        assert.deepEqual((await kv.list('/inst/')).items.map((i) => i.key), ['/inst/a', '/inst/a/1', '/inst/ab/1']);
      }));

      test('pages with after and limit', withStore(async (kv) => {
        await kv.txn(Array.from({ length: 25 }, (_, i) => ({ type: 'put' as const, key: `/p/${String(i).padStart(2, '0')}`, value: String(i) })));
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await kv.list('/p/', { after, limit: 10 });
          assert.ok(page.items.length <= 10);
          seen.push(...page.items.map((i) => i.key));
          if (page.items.length < 10) break;
          after = page.items[page.items.length - 1]!.key;
        }
        assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `/p/${String(i).padStart(2, '0')}`));
      }));

      test('an empty prefix lists everything; an unknown one nothing', withStore(async (kv) => {
        await kv.create('/a', '1');
        await kv.create('/b', '2');
        assert.equal((await kv.list('')).items.length, 2);
        assert.deepEqual((await kv.list('/zzz')).items, []);
      }));
    });

    describe('txn', () => {
      test('applies all ops in one commit and returns its revision; each op is at or below it', withStore(async (kv) => {
        const base = await kv.create('/t/old', 'o');
        const rev = await kv.txn([
          { type: 'put', key: '/t/a', value: 'a', prevRevision: 0 },
          { type: 'put', key: '/t/old', value: 'o2', prevRevision: base },
          { type: 'put', key: '/t/b', value: 'b' },
        ]);
        assert.ok(rev > base);
        assert.equal(await kv.revision(), rev);
        // etcd gives the whole txn one revision, SQLite one per op: both fit (base, rev], in op order.
        const mods = await Promise.all(['/t/a', '/t/old', '/t/b'].map(async (k) => (await kv.get(k))!.modRevision));
        assert.ok(mods.every((m) => m > base && m <= rev), `txn op revisions ${mods} within (${base}, ${rev}]`);
        assert.deepEqual(mods, [...mods].sort((x, y) => x - y));
        assert.equal(mods[2], rev);
        assert.equal((await kv.get('/t/old'))?.createRevision, base);
      }));

      test('a failing guard leaves nothing written (KeyExists / RevisionMismatch); guards see the state before the txn', withStore(async (kv) => {
        const r1 = await kv.create('/t/x', '1');
        await kv.create('/t/y', 'y');
        const rev = await kv.revision();
        await assert.rejects(
          kv.txn([
            { type: 'put', key: '/t/new', value: 'n', prevRevision: 0 },
            { type: 'delete', key: '/t/y' },
            { type: 'put', key: '/t/x', value: '2', prevRevision: r1 + 100 },
          ]),
          code(STORE_REVISION_MISMATCH),
        );
        await assert.rejects(
          kv.txn([
            { type: 'put', key: '/t/z', value: 'z', prevRevision: 0 },
            { type: 'put', key: '/t/y', value: 'y2', prevRevision: 0 },
          ]),
          code(STORE_KEY_EXISTS),
        );
        await assert.rejects(
          kv.txn([
            { type: 'delete', key: '/t/y' },
            { type: 'delete', key: '/t/missing', prevRevision: 7 },
          ]),
          code(STORE_REVISION_MISMATCH),
        );
        assert.equal(await kv.get('/t/new'), undefined);
        assert.equal(await kv.get('/t/z'), undefined);
        assert.equal((await kv.get('/t/y'))?.value, 'y');
        assert.equal(await kv.revision(), rev);
      }));

      test('a key may appear once per txn; more than MAX_TXN_OPS ops are refused', withStore(async (kv) => {
        const before = await kv.revision();
        await assert.rejects(
          kv.txn([
            { type: 'delete', key: '/t/x' },
            { type: 'put', key: '/t/x', value: 'again', prevRevision: 0 },
          ]),
          code(STORE_INVALID_ARGUMENT),
        );
        const many = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ type: 'put' as const, key: `/t/m${i}`, value: '' }));
        await assert.rejects(kv.txn(many), code(STORE_INVALID_ARGUMENT));
        assert.ok((await kv.txn(many.slice(1))) > before);
      }));

      test('unguarded delete of a missing key is a no-op; an empty txn writes nothing', withStore(async (kv) => {
        const r1 = await kv.create('/t/a', 'a');
        assert.equal(await kv.txn([]), r1);
        assert.equal(await kv.txn([{ type: 'delete', key: '/t/none' }]), r1);
        const r2 = await kv.txn([
          { type: 'delete', key: '/t/none' },
          { type: 'delete', key: '/t/a' },
        ]);
        assert.equal(r2, r1 + 1);
      }));

      test('a check op guards the txn and writes nothing (fencing)', withStore(async (kv) => {
        const fence = await kv.create('/t/fence', 'term-1');
        const before = await kv.revision();
        const rev = await kv.txn([
          { type: 'check', key: '/t/fence', prevRevision: fence },
          { type: 'put', key: '/t/w', value: '1' },
        ]);
        assert.ok(rev > before);
        assert.equal((await kv.get('/t/fence'))?.modRevision, fence, 'the checked key is not written');
        assert.equal((await kv.get('/t/w'))?.value, '1');
        const events = collect(kv, '/t/', before);
        // The fence moved (a new term): the same write is refused and leaves nothing.
        const moved = await kv.update('/t/fence', 'term-2', fence);
        await assert.rejects(kv.txn([{ type: 'check', key: '/t/fence', prevRevision: fence }, { type: 'put', key: '/t/w', value: '2' }]), code(STORE_REVISION_MISMATCH));
        await assert.rejects(kv.txn([{ type: 'check', key: '/t/nofence', prevRevision: 0 }, { type: 'put', key: '/t/nofence', value: '' }]), code(STORE_INVALID_ARGUMENT));
        await assert.rejects(kv.txn([{ type: 'check', key: '/t/w', prevRevision: 0 }]), code(STORE_REVISION_MISMATCH));
        await assert.rejects(kv.txn([{ type: 'check', key: '/t/fence' } as never]), code(STORE_INVALID_ARGUMENT));
        assert.equal((await kv.get('/t/w'))?.value, '1');
        assert.equal(await kv.txn([{ type: 'check', key: '/t/fence', prevRevision: moved }]), moved, 'a txn of checks only writes nothing');
        await eventually(() => events.events.length >= 2);
        assert.deepEqual(events.events.map((e) => e.key), ['/t/w', '/t/fence'], 'no event for a checked key');
        events.watch.cancel();
      }));

      test('a failing txn next to succeeding writes rejects only itself', withStore(async (kv) => {
        const r1 = await kv.create('/t/a', 'a');
        const [ok1, bad, ok2] = await Promise.allSettled([
          kv.create('/t/b', 'b'),
          kv.txn([
            { type: 'put', key: '/t/c', value: 'c' },
            { type: 'put', key: '/t/a', value: 'x', prevRevision: r1 + 50 },
          ]),
          kv.update('/t/a', 'a2', r1),
        ]);
        assert.equal(ok1.status, 'fulfilled');
        assert.equal(bad.status, 'rejected');
        assert.equal(ok2.status, 'fulfilled');
        assert.equal(await kv.get('/t/c'), undefined);
        assert.equal((await kv.get('/t/a'))?.value, 'a2');
      }));
    });

    describe('revisions', () => {
      test('a write gets a revision above every write resolved before it; concurrent writes may share one', withStore(async (kv) => {
        const before = await kv.revision();
        const revs = await Promise.all(Array.from({ length: 64 }, (_, i) => kv.create(`/r/${i}`, String(i))));
        const head = await kv.revision();
        for (const r of revs) assert.ok(r > before && r <= head, `${r} in (${before}, ${head}]`);
        assert.equal(Math.max(...revs), head);
        for (let i = 0; i < 64; i++) assert.equal((await kv.get(`/r/${i}`))?.modRevision, revs[i]);
        let last = head;
        for (let i = 0; i < 10; i++) {
          const r = await kv.update(`/r/${i}`, 'x', revs[i]!);
          assert.ok(r > last);
          last = r;
        }
      }));
    });

    describe('watch', () => {
      test('delivers live puts and deletes in order with prev values and commit times', withStore(async (kv) => {
        const w = collect(kv, '/w/', await kv.revision());
        const r1 = await kv.create('/w/a', '1');
        const r2 = await kv.update('/w/a', '2', r1);
        const r3 = await kv.delete('/w/a');
        await w.until(3);
        w.watch.cancel();
        assert.deepEqual(
          w.events.map((e) => [e.type, e.key, e.value, e.revision, e.prev?.value, e.prev?.modRevision]),
          [
            ['put', '/w/a', '1', r1, undefined, undefined],
            ['put', '/w/a', '2', r2, '1', r1],
            ['delete', '/w/a', undefined, r3, '2', r2],
          ],
        );
        for (const e of w.events) if (e.committedAt !== undefined) assert.ok(Math.abs(e.committedAt - Date.now()) < 60_000);
      }));

      test('catches up from history, then continues live: no gaps, no duplicates', withStore(async (kv) => {
        const revs: number[] = [];
        for (let i = 0; i < 20; i++) revs.push(await kv.create(`/w/k${i}`, String(i)));
        await kv.create('/other/x', 'x');
        const from = revs[4]!;
        const w = collect(kv, '/w/', from);
        // Writes racing with the catch-up.
        const more = await Promise.all(Array.from({ length: 30 }, (_, i) => kv.create(`/w/m${i}`, String(i))));
        await w.until(15 + 30);
        await new Promise((resolve) => setImmediate(resolve));
        w.watch.cancel();
        const got = w.events.map((e) => e.revision);
        assert.deepEqual(got, [...revs.slice(5), ...more].sort((a, b) => a - b));
      }));

      test('watch only sees its prefix (/inst/a/ vs /inst/ab/)', withStore(async (kv) => {
        const w = collect(kv, '/inst/a/', await kv.revision());
        await kv.create('/inst/ab/1', 'no');
        await kv.create('/inst/a', 'no');
        const r = await kv.create('/inst/a/1', 'yes');
        await w.until(1);
        await kv.create('/inst/ab/2', 'no');
        const last = await kv.create('/inst/a/2', 'yes');
        await w.until(2);
        w.watch.cancel();
        assert.deepEqual(w.events.map((e) => [e.key, e.revision]), [['/inst/a/1', r], ['/inst/a/2', last]]);
      }));

      test("a txn's events arrive in one batch", withStore(async (kv) => {
        const w = collect(kv, '/w/', await kv.revision());
        await kv.txn([
          { type: 'put', key: '/w/1', value: '1' },
          { type: 'put', key: '/w/2', value: '2' },
          { type: 'put', key: '/x/3', value: '3' },
          { type: 'put', key: '/w/4', value: '4' },
        ]);
        await w.until(3);
        w.watch.cancel();
        assert.ok(w.batches.some((b) => b.length === 3), 'the three /w/ events came together');
      }));

      test('several watchers see the same ordered stream', withStore(async (kv) => {
        const start = await kv.revision();
        const a = collect(kv, '/w/', start);
        const b = collect(kv, '/w/', start);
        const writes = await Promise.all(Array.from({ length: 40 }, (_, i) => kv.create(`/w/${i}`, String(i))));
        await a.until(40);
        await b.until(40);
        a.watch.cancel();
        b.watch.cancel();
        const expected = [...writes].sort((x, y) => x - y);
        assert.deepEqual(a.events.map((e) => e.revision), expected);
        assert.deepEqual(b.events.map((e) => e.revision), expected);
      }));

      test('cancel stops delivery', withStore(async (kv) => {
        const start = await kv.revision();
        const w = collect(kv, '/w/', start);
        await kv.create('/w/1', '1');
        await w.until(1);
        w.watch.cancel();
        w.watch.cancel();
        await kv.create('/w/2', '2');
        const probe = collect(kv, '/w/', start);
        await probe.until(2);
        probe.watch.cancel();
        assert.equal(w.events.length, 1);
      }));

      test("a write resolves only once this handle's watchers on its keys have it (read-your-writes)", withStore(async (kv) => {
        const w = collect(kv, '/pub/', await kv.revision());
        const other = collect(kv, '/elsewhere/', await kv.revision());
        const r1 = await kv.create('/pub/a', '1');
        assert.equal(w.events.at(-1)?.revision, r1);
        const r2 = await kv.txn([
          { type: 'put', key: '/pub/b', value: '2' },
          { type: 'put', key: '/x/c', value: '3' },
        ]);
        assert.equal(w.events.length, 2);
        assert.ok(w.events[1]!.revision > r1 && w.events[1]!.revision <= r2);
        const r3 = await kv.delete('/pub/a');
        assert.deepEqual(w.events.map((e) => [e.type, e.key]), [['put', '/pub/a'], ['put', '/pub/b'], ['delete', '/pub/a']]);
        assert.equal(w.events[2]!.revision, r3);
        w.watch.cancel();
        other.watch.cancel();
      }));

      test('a listener that throws breaks neither the store nor other watchers', withStore(async (kv) => {
        const start = await kv.revision();
        const good = collect(kv, '/w/', start);
        kv.watch('/w/', start, () => {
          throw new Error('listener bug');
        }, () => {
          throw new Error('error handler bug too');
        });
        const r1 = await kv.create('/w/1', '1');
        const r2 = await kv.create('/w/2', '2');
        await good.until(2);
        good.watch.cancel();
        assert.deepEqual(good.events.map((e) => e.revision), [r1, r2]);
        assert.equal((await kv.get('/w/2'))?.value, '2');
      }));

      test('watching from a compacted revision fails with Compacted', withStore(async (kv) => {
        const r1 = await kv.create('/w/a', '1');
        const r2 = await kv.update('/w/a', '2', r1);
        const r3 = await kv.update('/w/a', '3', r2);
        await kv.compact(r2);
        const w = collect(kv, '/w/', r1);
        await eventually(() => w.errors.length === 1);
        code(STORE_COMPACTED)(w.errors[0]);
        assert.equal(w.events.length, 0);
        // From the compaction point on, history is whole.
        const ok = collect(kv, '/w/', r2);
        await ok.until(1);
        ok.watch.cancel();
        assert.deepEqual(ok.events.map((e) => [e.revision, e.value, e.prev?.value]), [[r3, '3', '2']]);
      }));
    });

    describe('compact', () => {
      test('keeps live keys and their revisions; later writes still work', withStore(async (kv) => {
        const a1 = await kv.create('/k/a', '1');
        const a2 = await kv.update('/k/a', '2', a1);
        const b1 = await kv.create('/k/b', 'b');
        await kv.delete('/k/b', b1);
        const c1 = await kv.create('/k/c', 'c');
        const head = await kv.revision();
        await kv.compact(head);
        await kv.compact(head); // again: a no-op
        assert.deepEqual((await kv.list('/k/')).items, [
          { key: '/k/a', value: '2', createRevision: a1, modRevision: a2 },
          { key: '/k/c', value: 'c', createRevision: c1, modRevision: c1 },
        ]);
        assert.equal(await kv.revision(), head);
        assert.ok((await kv.update('/k/a', '3', a2)) > head);
        assert.ok((await kv.create('/k/b', 'again')) > head);
        await assert.rejects(kv.update('/k/c', 'x', c1 - 1), code(STORE_REVISION_MISMATCH));
      }));

      test('rejects a revision beyond the head', withStore(async (kv) => {
        await kv.create('/k/a', '1');
        await assert.rejects(kv.compact((await kv.revision()) + 10));
      }));
    });

    describe('persistence and close', () => {
      test('data and revisions survive a reopen; revisions are never reused', withStore(async (kv, swap) => {
        const a = await kv.create('/s/a', 'a');
        await kv.create('/s/b', 'b');
        const last = await kv.delete('/s/b');
        await kv.compact(last);
        const again = await kv.reopen();
        swap(again);
        assert.deepEqual(await again.get('/s/a'), { key: '/s/a', value: 'a', createRevision: a, modRevision: a });
        assert.equal(await again.get('/s/b'), undefined);
        assert.equal(await again.revision(), last);
        assert.ok((await again.create('/s/c', 'c')) > last);
        const w = collect(again, '/s/', 0);
        await eventually(() => w.errors.length === 1);
        code(STORE_COMPACTED)(w.errors[0]);
      }));

      test('close flushes writes already issued; afterwards every call fails with StoreClosed', withStore(async (kv, swap) => {
        const start = await kv.revision();
        const pending = kv.create('/s/late', 'x');
        const watched = collect(kv, '/s/', start);
        await kv.close();
        const rev = await pending;
        assert.ok(rev > 0);
        await kv.close(); // idempotent
        await assert.rejects(kv.get('/s/late'), code(STORE_CLOSED));
        await assert.rejects(kv.list('/s/'), code(STORE_CLOSED));
        await assert.rejects(kv.create('/s/x', '1'), code(STORE_CLOSED));
        await assert.rejects(kv.update('/s/x', '1', 1), code(STORE_CLOSED));
        await assert.rejects(kv.delete('/s/x'), code(STORE_CLOSED));
        await assert.rejects(kv.txn([]), code(STORE_CLOSED));
        await assert.rejects(kv.revision(), code(STORE_CLOSED));
        await assert.rejects(kv.compact(0), code(STORE_CLOSED));
        const errors: Error[] = [];
        kv.watch('/s/', 0, () => assert.fail('no events after close'), (err) => errors.push(err));
        await eventually(() => errors.length === 1);
        code(STORE_CLOSED)(errors[0]);
        assert.equal(watched.errors.length, 0);
        const again = await kv.reopen();
        swap(again);
        assert.equal((await again.get('/s/late'))?.modRevision, rev);
      }));
    });
  });
}
