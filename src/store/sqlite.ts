import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, type Clock, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import {
  CompactedError,
  InvalidArgumentError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StoreClosedError,
  StoreLockedError,
  StoreOpenError,
  StoreWriteError,
} from './errors.ts';
import { QueuedWrites, deliverEvents, reportWatchError, type QueuedWrite, type WatcherRecord } from './backend.ts';
import type { KV, KeyValue, ListOptions, ListResult, Watch, WatchEvent } from './kv.ts';
import { MIGRATIONS, RowStatements, createMetrics, prepareStatements, SCHEMA, SCHEMA_VERSION, toEvent, type HistoryRow, type SqliteMetrics, type Statements } from './sqliteschema.ts';
import { PREFIX_END, checkKey, checkList, watchRefusal } from './validate.ts';

/** At most this many queued writes go into one SQLite transaction, so one flush never blocks the loop for long. */
const MAX_BATCH_WRITES = 1000;
/** Catch-up reads history in pages this big, yielding between pages, so a far-behind watcher cannot stall writers. */
export const WATCH_PAGE_ROWS = 5000;
/** Compaction deletes history in windows of this many revisions, one short transaction each. */
const COMPACT_BATCH_REVISIONS = 250;

/**
 * How long `open` waits for another process's lock on the file: long enough for a server that is
 * exiting to let go, short enough that a second server on the same file fails fast.
 */
const OPEN_LOCK_TIMEOUT_MS = 500;

/** Size the -wal file is truncated to after a checkpoint: a few thousand commits' worth. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * WAL pages between automatic checkpoints (SQLite's default is 1,000). A group commit of ~30
 * registrations appends ~60 pages, so the default copied the WAL back into the database every ~16
 * commits, inside a commit; most of those pages (the index's newest leaves) are rewritten by the
 * next commits anyway, so a longer WAL copies each of them once per checkpoint instead of many
 * times. 10,000 pages = 40 MiB of WAL, under WAL_SIZE_LIMIT_BYTES.
 */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * Page cache per connection, in KiB (negative = KiB in SQLite's terms; the default is 2 MiB). With
 * 2 MiB a store of a few tens of thousands of records re-read index pages from the file in every
 * commit; 64 MiB holds a registry of ~100,000 instances and operations.
 */
const CACHE_SIZE_KIB = 64 * 1024;

export interface SqliteKVOptions {
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

interface Watcher extends WatcherRecord {
  live: boolean;
}

/**
 * The default `KV` backend: one SQLite file (better-sqlite3, WAL, `synchronous = FULL`), owned by one
 * process. Writes issued in the same event-loop turn are committed together (group commit, one
 * fsync); watchers are fed in-process, synchronously after the commit and before the writers'
 * promises resolve.
 */
export class SqliteKV extends QueuedWrites implements KV {
  private readonly watchers = new Set<Watcher>();
  private rev: number;
  private compactRev: number;
  /** History is deleted through here; behind compactRev only while a compaction runs (or was killed). */
  private compactProgress: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  private compacting: Promise<void> | undefined;
  private readonly metrics?: SqliteMetrics;
  private readonly clock: Clock;
  private readonly logger?: Logger;

  private readonly stmts: Statements;
  private readonly rows: RowStatements;
  private readonly commitBatch: (batch: QueuedWrite[], now: number, results: (number | Error)[], events: WatchEvent[]) => number;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    options: SqliteKVOptions,
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.stmts = prepareStatements(db);
    this.rev = (this.stmts.sequence.get() as { seq: number } | undefined)?.seq ?? 0;
    this.compactRev = this.meta('compact_revision');
    this.compactProgress = this.meta('compact_progress');
    this.rows = new RowStatements(db);
    this.commitBatch = db.transaction((batch: QueuedWrite[], now: number, results: (number | Error)[], events: WatchEvent[]) => {
      const startRev = this.rev;
      const newest = this.newestOf(batch);
      const rows: unknown[] = [];
      let rev = startRev;
      for (const w of batch) {
        // A failed guard rejects this write only; it has written nothing, so nothing rolls back
        // (no savepoint, whose statement journal cost a temp-file write per touched page).
        const refused = guardError(w, newest);
        if (refused) {
          results.push(refused);
          continue;
        }
        rev = applyWrite(w, rev, now, newest, rows, events);
        results.push(rev);
      }
      // The batch's rows go to SQL together, in a few multi-row statements (see RowStatements).
      if (rows.length > 0) {
        this.rows.insert(rows);
        this.rows.setLatest(startRev + 1, rev);
      }
      return rev;
    });
    if (options.metrics) {
      this.metrics = createMetrics(options.metrics, () => this.rev);
      this.metrics.compacted.set(this.compactRev);
    }
  }

  /**
   * Opens (creating if needed, with its parent directory) the store at `path`. Takes an exclusive
   * lock on the file: a second process would commit revisions this one's watchers never see.
   */
  static async open(path: string, options: SqliteKVOptions = {}): Promise<SqliteKV> {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('store path is empty');
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: OPEN_LOCK_TIMEOUT_MS });
    } catch (err) {
      throw new StoreOpenError(path, err);
    }
    try {
      // EXCLUSIVE before WAL: the WAL index then lives in heap memory instead of a -shm file,
      // and the lock held for the connection's life keeps other processes out.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      // FULL: every commit fsyncs the WAL, so an acknowledged write survives power loss / kill -9.
      db.pragma('synchronous = FULL');
      // Statement journals in memory, not in a temp file written page by page inside every commit.
      db.pragma('temp_store = MEMORY');
      // After a checkpoint the WAL file is cut back to this, so one burst (a big compaction)
      // does not leave a huge -wal behind forever.
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`cache_size = -${CACHE_SIZE_KIB}`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new InvalidArgumentError(`store ${path} has schema version ${version}, newer than this Pharos (${SCHEMA_VERSION})`);
      }
      db.transaction(() => {
        db.exec(SCHEMA);
        // After SCHEMA, so a migration finds every table (a new file runs them all, as no-ops).
        for (let v = version + 1; v <= SCHEMA_VERSION; v++) if (MIGRATIONS[v]) db.exec(MIGRATIONS[v]);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    } catch (err) {
      db.close();
      if (isBusy(err)) throw new StoreLockedError(path, err);
      if (err instanceof InvalidArgumentError) throw err;
      throw new StoreOpenError(path, err);
    }
    return new SqliteKV(db, path, options);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    checkKey(key);
    return this.stmts.get.get(key) as KeyValue | undefined;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    const limit = checkList(prefix, options.after, options.limit);
    const after = options.after ?? '';
    const items = this.stmts.list.all({ lo: prefix, hi: prefix + PREFIX_END, after, limit }) as KeyValue[];
    return { revision: this.rev, items };
  }

  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watch {
    const w: Watcher = { prefix, delivered: afterRevision, live: false, cancelled: false, onEvents, onError };
    const handle: Watch = {
      cancel: () => {
        w.cancelled = true;
        this.watchers.delete(w);
        this.metrics?.watchers.set(this.watchers.size);
      },
    };
    const refusal = watchRefusal(this.closed, prefix, afterRevision, onEvents);
    if (refusal) {
      queueMicrotask(() => this.fail(w, refusal));
      return handle;
    }
    this.watchers.add(w);
    this.metrics?.watchers.set(this.watchers.size);
    // Subscribed first (live publication skips it until caught up); the catch-up reads everything
    // committed so far, so nothing is missed or delivered twice. A microtask: before any flush.
    queueMicrotask(() => this.catchUp(w));
    return handle;
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  /** Settings and sizes for tests, `/debug` pages and bug reports (row counts scan: not for hot paths). */
  diagnostics(): { journalMode: string; synchronous: number; lockingMode: string; logRows: number; keys: number; revision: number; compactedRevision: number } {
    this.assertOpen();
    return {
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
      lockingMode: this.db.pragma('locking_mode', { simple: true }) as string,
      logRows: (this.db.prepare('SELECT count(*) AS n FROM kine').get() as { n: number }).n,
      keys: (this.db.prepare('SELECT count(*) AS n FROM kine_latest WHERE deleted = 0').get() as { n: number }).n,
      revision: this.rev,
      compactedRevision: this.compactRev,
    };
  }

  /** The revision history has been compacted through (watches must start at or after it). */
  get compactedRevision(): number {
    return this.compactRev;
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    if (!Number.isInteger(revision) || revision < 0) throw new InvalidArgumentError('compact revision must be an integer >= 0', { revision });
    if (revision > this.rev) throw new InvalidArgumentError(`cannot compact to ${revision}: the store is at ${this.rev}`, { revision });
    // One compaction at a time: a second caller waits for the first, then does what is left.
    while (this.compacting) await this.compacting.catch(() => undefined);
    this.assertOpen();
    if (revision <= this.compactRev && this.compactProgress >= this.compactRev) return;
    // A compaction cut short (close, crash) is finished by the next one.
    this.compacting = this.runCompaction(Math.max(revision, this.compactRev));
    try {
      await this.compacting;
    } finally {
      this.compacting = undefined;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    // Whatever is queued was promised a result: commit it now.
    while (this.queued > 0) this.flush();
    this.closed = true;
    for (const w of this.watchers) w.cancelled = true;
    this.watchers.clear();
    this.metrics?.watchers.set(0);
    await this.compacting?.catch(() => undefined);
    this.db.close();
  }

  // ---- writes ----

  protected get writesClosed(): boolean {
    return this.closed;
  }

  /** Commits up to MAX_BATCH_WRITES queued writes in one transaction, publishes, then settles them. */
  protected flush(): void {
    if (this.closed || this.queued === 0) return;
    const batch = this.take(MAX_BATCH_WRITES);
    const started = performance.now();
    const now = this.clock.now();
    const results: (number | Error)[] = [];
    const events: WatchEvent[] = [];
    let rev: number;
    try {
      rev = this.commitBatch(batch, now, results, events);
    } catch (err) {
      const failure = new StoreWriteError(err);
      this.metrics?.writes.inc({ result: 'error' }, batch.length);
      for (const w of batch) w.reject(failure);
      return;
    }
    this.rev = rev;
    this.metrics?.commitSeconds.observe((performance.now() - started) / 1000);
    this.metrics?.batchSize.observe(batch.length);
    if (events.length > 0) this.publish(events);
    let conflicts = 0;
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (typeof r === 'number') {
        batch[i]!.resolve(r);
      } else {
        conflicts++;
        batch[i]!.reject(r);
      }
    }
    // Counted once per batch: a labelled inc per write was a few µs of every registration.
    if (conflicts < batch.length) this.metrics?.writes.inc({ result: 'ok' }, batch.length - conflicts);
    if (conflicts > 0) this.metrics?.writes.inc({ result: 'conflict' }, conflicts);
  }

  /** The newest row of every key the batch touches, read in a few statements (undefined: no row). */
  private newestOf(batch: QueuedWrite[]): Map<string, Newest | undefined> {
    const newest = new Map<string, Newest | undefined>();
    for (const w of batch) for (const op of w.ops) newest.set(op.key, undefined);
    for (const [name, id, deleted, createRevision, value] of this.rows.latestOf([...newest.keys()])) {
      newest.set(name, { id, deleted: deleted === 1, createRevision, value });
    }
    return newest;
  }

  // ---- watch ----

  /** Hands a committed batch to every live watcher whose prefix matches; runs before writers resolve. */
  private publish(events: WatchEvent[]): void {
    const last = events[events.length - 1]!.revision;
    // No copy of the set: a watcher added by a listener is not live before its catch-up (a
    // microtask away), and one cancelled meanwhile is skipped.
    for (const w of this.watchers) {
      if (!w.live || w.cancelled) continue;
      let matching: WatchEvent[] | undefined;
      for (const e of events) if (e.revision > w.delivered && e.key.startsWith(w.prefix)) (matching ??= []).push(e);
      w.delivered = Math.max(w.delivered, last);
      if (matching) deliverEvents(w, matching, this.logger, this.metrics);
    }
  }

  private fail(w: Watcher, err: Error): void {
    w.cancelled = true;
    this.watchers.delete(w);
    this.metrics?.watchers.set(this.watchers.size);
    reportWatchError(w, err, this.logger);
  }

  /** Reads committed history after `w.delivered` a page at a time; goes live once it reaches the head. */
  private catchUp(w: Watcher): void {
    if (w.cancelled || this.closed) return;
    if (w.delivered < this.compactRev) {
      this.fail(w, new CompactedError(w.delivered, this.compactRev));
      return;
    }
    if (w.delivered >= this.rev) {
      w.live = true;
      return;
    }
    const rows = this.stmts.history.all({
      after: w.delivered,
      head: this.rev,
      lo: w.prefix,
      hi: w.prefix + PREFIX_END,
      limit: WATCH_PAGE_ROWS,
    }) as HistoryRow[];
    let take = rows.length;
    const complete = rows.length < WATCH_PAGE_ROWS;
    if (!complete) {
      // One txn's events arrive together: all rows of one commit share committed_at, so never
      // end a page inside a run of equal timestamps (unless the whole page is one run).
      const lastAt = rows[take - 1]!.committed_at;
      while (take > 0 && rows[take - 1]!.committed_at === lastAt) take--;
      if (take === 0) take = rows.length;
    }
    const events = rows.slice(0, take).map(toEvent);
    w.delivered = complete ? this.rev : rows[take - 1]!.id;
    if (complete) w.live = true;
    if (events.length > 0) deliverEvents(w, events, this.logger, this.metrics);
    if (!complete) setImmediate(() => this.catchUp(w));
  }

  // ---- compaction ----

  private async runCompaction(target: number): Promise<void> {
    const from = this.compactProgress;
    // Raised first: a watcher that would need the rows about to go fails cleanly instead of
    // silently skipping them.
    this.compactRev = target;
    this.stmts.setMeta.run('compact_revision', target);
    this.metrics?.compacted.set(target);
    for (let lo = from + 1; lo <= target; lo += COMPACT_BATCH_REVISIONS) {
      if (this.closed) throw new StoreClosedError();
      const hi = Math.min(target, lo + COMPACT_BATCH_REVISIONS - 1);
      this.compactWindow(lo, hi);
      // Yield between windows so writes and DNS answers keep flowing.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Deletes the rows superseded by revisions lo..hi and the tombstones among them (hi <= the target). */
  private compactWindow(lo: number, hi: number): void {
    this.db.transaction(() => {
      const tombstones = this.stmts.tombstonesIn.all(lo, hi) as { id: number; name: string }[];
      this.stmts.deleteSuperseded.run(lo, hi);
      for (const t of tombstones) this.stmts.deleteLatestIf.run(t.name, t.id);
      this.stmts.deleteTombstones.run(lo, hi);
      this.stmts.setMeta.run('compact_progress', hi);
    })();
    this.compactProgress = hi;
  }

  private meta(key: string): number {
    return (this.stmts.getMeta.get(key) as { value: number } | undefined)?.value ?? 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }
}

/** A key's newest row as a group commit sees it: read once, then as the batch's earlier writes left it. */
interface Newest {
  id: number;
  deleted: boolean;
  createRevision: number;
  value: string | null;
}

/**
 * The guard error of a write against the state before it (a key appears once per write, so no op
 * sees another's row), or undefined when every guard holds.
 */
function guardError(w: QueuedWrite, newest: ReadonlyMap<string, Newest | undefined>): Error | undefined {
  for (const op of w.ops) {
    const latest = newest.get(op.key);
    const modRevision = latest !== undefined && !latest.deleted ? latest.id : 0;
    if (op.type === 'check') {
      if (op.prevRevision !== modRevision) return new RevisionMismatchError(op.key, op.prevRevision, modRevision);
    } else if (op.type === 'put') {
      if (op.prevRevision === 0 && modRevision !== 0) return new KeyExistsError(op.key);
      if (op.prevRevision !== undefined && op.prevRevision !== 0 && op.prevRevision !== modRevision) {
        return new RevisionMismatchError(op.key, op.prevRevision, modRevision);
      }
    } else {
      if (w.kind === 'delete' && modRevision === 0) return new KeyNotFoundError(op.key);
      if (op.prevRevision !== undefined && op.prevRevision !== modRevision) return new RevisionMismatchError(op.key, op.prevRevision, modRevision);
    }
  }
  return undefined;
}

/**
 * Applies a write whose guards hold: its log rows go to `rows` (7 values each, for
 * RowStatements.insert), `newest` follows them, and its events go to `events`. Returns the last
 * revision used.
 */
function applyWrite(w: QueuedWrite, startRev: number, now: number, newest: Map<string, Newest | undefined>, rows: unknown[], events: WatchEvent[]): number {
  let rev = startRev;
  for (const op of w.ops) {
    if (op.type === 'check') continue; // a guard only: no row
    const latest = newest.get(op.key);
    const live = latest !== undefined && !latest.deleted ? latest : undefined;
    const prev: KeyValue | undefined = live && { key: op.key, value: live.value ?? '', createRevision: live.createRevision, modRevision: live.id };
    if (op.type === 'put') {
      rev++;
      const createRevision = live ? live.createRevision : rev;
      rows.push(rev, op.key, 0, createRevision, latest?.id ?? 0, op.value, now);
      newest.set(op.key, { id: rev, deleted: false, createRevision, value: op.value });
      const ev: WatchEvent = { type: 'put', key: op.key, value: op.value, revision: rev, committedAt: now };
      if (prev) ev.prev = prev;
      if (op.object !== undefined) ev.object = op.object;
      events.push(ev);
    } else {
      if (!live) continue; // unguarded delete of an absent key: nothing to record
      rev++;
      rows.push(rev, op.key, 1, live.createRevision, live.id, null, now);
      newest.set(op.key, { id: rev, deleted: true, createRevision: live.createRevision, value: null });
      events.push({ type: 'delete', key: op.key, revision: rev, prev, committedAt: now });
    }
  }
  return rev;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
