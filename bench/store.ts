/**
 * Store benchmark: durable write throughput with concurrent writers (group commit), CAS updates,
 * list and restart-to-ready of 100k keys, compaction cost and its longest event-loop stall.
 *
 *   node --import tsx bench/store.ts [--writers 32] [--seconds 3] [--keys 100000] [--dir /tmp/x]
 *
 * Prints one line per figure and a JSON summary.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { SqliteKV, type TxnOp } from '../src/store/index.ts';

const { values: args } = parseArgs({
  options: {
    writers: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '3' },
    keys: { type: 'string', default: '100000' },
    dir: { type: 'string' },
  },
});
const WRITERS = Number(args.writers);
const SECONDS = Number(args.seconds);
const KEYS = Number(args.keys);
const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'pharos-bench-store-'));
const summary: Record<string, number> = {};

function report(name: string, value: number, unit: string): void {
  summary[name] = Math.round(value * 100) / 100;
  console.log(`${name.padEnd(44)} ${value.toFixed(value < 10 ? 2 : 0).padStart(10)} ${unit}`);
}

/** `writers` loops each doing `op(i)` back to back for `seconds`; returns ops/s and latency percentiles. */
async function closedLoop(writers: number, seconds: number, op: (writer: number, n: number) => Promise<unknown>) {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const t = performance.now();
        await op(w, n);
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
  return { perSecond: latencies.length / seconds, p50: pct(50), p99: pct(99) };
}

async function main(): Promise<void> {
  console.log(`store bench: ${WRITERS} writers, ${SECONDS} s per run, ${KEYS} keys, in ${dir}`);

  // 1. Durable creates, one writer: the cost of one commit (one fsync).
  let kv = await SqliteKV.open(join(dir, 'writes.db'));
  let r = await closedLoop(1, Math.min(SECONDS, 2), (w, n) => kv.create(`/one/${w}/${n}`, '{"attrs":{"AWS_INSTANCE_IPV4":"198.18.0.1"}}'));
  report('creates/s, 1 writer (one fsync each)', r.perSecond, 'writes/s');
  report('  p50 latency, 1 writer', r.p50, 'ms');

  // 2. Durable creates, N concurrent writers: group commit shares the fsync.
  r = await closedLoop(WRITERS, SECONDS, (w, n) => kv.create(`/many/${w}/${n}`, '{"attrs":{"AWS_INSTANCE_IPV4":"198.18.0.1"}}'));
  report(`creates/s, ${WRITERS} writers (group commit)`, r.perSecond, 'writes/s');
  report(`  p50 latency, ${WRITERS} writers`, r.p50, 'ms');
  report(`  p99 latency, ${WRITERS} writers`, r.p99, 'ms');

  // 3. CAS updates, N writers each on its own key.
  const revs = await Promise.all(Array.from({ length: WRITERS }, (_, w) => kv.create(`/cas/${w}`, '0')));
  r = await closedLoop(WRITERS, SECONDS, async (w, n) => {
    revs[w] = await kv.update(`/cas/${w}`, String(n), revs[w]!);
  });
  report(`CAS updates/s, ${WRITERS} writers`, r.perSecond, 'writes/s');
  await kv.close();

  // 4. 100k keys: list, point get, reopen + list (what a restarting server's snapshot does).
  const bigPath = join(dir, 'big.db');
  kv = await SqliteKV.open(bigPath);
  let t = performance.now();
  await seed(kv, (i) => JSON.stringify({ id: `i-${i}`, attributes: { AWS_INSTANCE_IPV4: '198.18.0.1', AWS_INSTANCE_PORT: '80' } }));
  report(`seed ${KEYS} keys (txns of 100, 10 per commit)`, performance.now() - t, 'ms');
  t = performance.now();
  const listed = await kv.list('/inst/');
  report(`list ${listed.items.length} keys`, performance.now() - t, 'ms');
  t = performance.now();
  for (let i = 0; i < 10_000; i++) await kv.get(`/inst/srv-${i % 100}/i-${(i * 7919) % KEYS}`);
  report('get (point lookup)', ((performance.now() - t) * 1000) / 10_000, 'µs');
  await kv.close();
  t = performance.now();
  kv = await SqliteKV.open(bigPath);
  const relisted = await kv.list('/inst/');
  report(`reopen + list ${relisted.items.length} keys`, performance.now() - t, 'ms');

  // 5. Compaction of a superseded 100k history, and the longest stall it causes.
  await seed(kv, () => '{"v":2}');
  const stall = monitorEventLoopDelay({ resolution: 1 });
  stall.enable();
  t = performance.now();
  await kv.compact(await kv.revision());
  const compactMs = performance.now() - t;
  stall.disable();
  report(`compact ${KEYS} superseded rows`, compactMs, 'ms');
  report('  longest event-loop stall during compaction', stall.max / 1e6, 'ms');
  await kv.close();

  console.log(JSON.stringify(summary));
  if (!args.dir) rmSync(dir, { recursive: true, force: true });
}

await main();

/** Writes KEYS instance keys, 1000 per group commit in txns of 100 (the store's MAX_TXN_OPS is 128). */
async function seed(kv: SqliteKV, value: (i: number) => string): Promise<void> {
  for (let start = 0; start < KEYS; start += 1000) {
    const txns: Promise<number>[] = [];
    for (let t = start; t < Math.min(KEYS, start + 1000); t += 100) {
      const ops: TxnOp[] = [];
      for (let i = t; i < Math.min(KEYS, t + 100); i++) ops.push({ type: 'put', key: `/inst/srv-${i % 100}/i-${i}`, value: value(i) });
      txns.push(kv.txn(ops));
    }
    await Promise.all(txns);
  }
}
