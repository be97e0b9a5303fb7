/**
 * The process the crash test kills: opens the store, runs WRITERS concurrent writers (creates, then
 * an update of the same key; now and then a txn) with an aggressive compactor, and prints
 * `<key> <value>` for each write only after its promise resolved, i.e. after it was acknowledged.
 * stdout on a pipe is synchronous on Linux, so a printed line is in the pipe before the next write.
 * Usage: node --import tsx crash-child.ts <db path> <round> (the round keeps keys of runs on one file apart)
 */
import { Compactor } from '../compactor.ts';
import { SqliteKV } from '../sqlite.ts';

/** Like the API server under load: many requests in flight at once. */
const WRITERS = 32;

const [path, round] = process.argv.slice(2);
if (!path || !round) throw new Error('usage: crash-child.ts <db path> <round>');
const kv = await SqliteKV.open(path);
const compactor = new Compactor(kv, { keepRevisions: 50, intervalMs: 5 });
compactor.start();
process.stdout.write('ready\n');

const ack = (key: string, value: string) => process.stdout.write(`${key} ${value}\n`);

async function writer(id: number): Promise<void> {
  for (let n = 0; ; n++) {
    const key = `/crash/${round}/${id}/${n}`;
    if (n % 10 === 9) {
      await kv.txn([
        { type: 'put', key, value: 'v0', prevRevision: 0 },
        { type: 'put', key: `${key}/b`, value: 'v0', prevRevision: 0 },
      ]);
      ack(key, 'v0');
      ack(`${key}/b`, 'v0');
      continue;
    }
    const rev = await kv.create(key, 'v0');
    ack(key, 'v0');
    await kv.update(key, 'v1', rev);
    ack(key, 'v1');
  }
}

await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i)));
