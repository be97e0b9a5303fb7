import type Database from 'better-sqlite3';
import { Gauge, Histogram, LATENCY_BUCKETS, type Registry as MetricsRegistry } from '../lib/index.ts';
import type { KeyValue, WatchEvent } from './kv.ts';
import { commonStoreMetrics, type CommonStoreMetrics } from './metrics.ts';

// The SQL side of SqliteKV: the kine layout, its prepared statements, the rows they return and
// the SQLite backend's metrics. sqlite.ts holds the behaviour (group commit, guards, watch, compaction).

/** Schema version kept in `PRAGMA user_version`, so a layout change can migrate (see MIGRATIONS). */
export const SCHEMA_VERSION = 2;

/**
 * The kine layout: `kine` is the table and the log. The row id is the global revision
 * (AUTOINCREMENT, so ids are never reused even after compaction deletes the newest rows); a delete
 * is a tombstone row; `prev_revision` links each row to its key's previous row.
 * `kine_latest` points at the newest row of every key still in the log (tombstones included), so
 * `get` is a point lookup and `list` is a range scan instead of kine's `MAX(id) GROUP BY name`.
 * kine also keeps a `UNIQUE(name, prev_revision)` index as a compare-and-swap backstop for several
 * writers on one database; here one process owns the file and checks every guard against
 * `kine_latest` in the write's own transaction, so that index (a third b-tree written per key) is
 * not kept: see MIGRATIONS.
 * @see https://github.com/k3s-io/kine pkg/drivers/generic/generic.go
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kine (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT,
  committed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kine_latest (
  name TEXT PRIMARY KEY,
  id INTEGER NOT NULL,
  deleted INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kine_meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
`;

/**
 * What opening a store of an older schema version runs, by the version it upgrades to, in the
 * store's first transaction (before SCHEMA).
 * - 2: the `UNIQUE(name, prev_revision)` index goes (SCHEMA says why). Compaction now finds
 *   superseded rows through their successors; version 1's compaction missed a row that was still
 *   the newest at one compaction and superseded before the next, so `compact_progress` starts over
 *   and the next compaction (in windows, yielding between them) sweeps the whole log once.
 */
export const MIGRATIONS: Record<number, string> = {
  2: `DROP INDEX IF EXISTS kine_name_prev_revision;
      UPDATE kine_meta SET value = 0 WHERE key = 'compact_progress';`,
};

export interface HistoryRow {
  id: number;
  name: string;
  deleted: number;
  value: string | null;
  committed_at: number;
  prev_id: number | null;
  prev_value: string | null;
  prev_create: number | null;
}

/**
 * Rows one multi-row statement writes or reads at most. A group commit's rows go in chunks of
 * powers of two up to this (50 rows: 32 + 16 + 2), so at most log2 statements of each kind are
 * ever prepared, and a batch of registrations costs a few statements instead of three per key:
 * each statement call has a fixed cost (binding, step, reset, its result object) of about the
 * same size as the row's own b-tree work.
 */
const MAX_ROWS_PER_STATEMENT = 64;

/** A key's newest row (`latestOf`): name, row id, deleted (0/1), create revision, value. */
type LatestTuple = [name: string, id: number, deleted: number, createRevision: number, value: string | null];

/**
 * The multi-row statements of a group commit, prepared on first use per chunk size. Each takes a
 * flat array of values, `width` per row.
 */
export class RowStatements {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** The newest row of each key (tombstones too); keys with no row are absent from the result. */
  latestOf(keys: string[]): LatestTuple[] {
    const out: LatestTuple[] = [];
    inChunks(keys, 1, (values, rows) => {
      const stmt = this.statement('latest', rows, () =>
        `SELECT c.name, c.id, c.deleted, l.create_revision, l.value FROM kine_latest c JOIN kine l ON l.id = c.id WHERE c.name IN (${placeholders(rows, 1)})`,
      );
      for (const row of stmt.all(values) as LatestTuple[]) out.push(row);
    });
    return out;
  }

  /** Appends rows to the log: (id, name, deleted, create_revision, prev_revision, value, committed_at) each. */
  insert(values: unknown[]): void {
    inChunks(values, 7, (chunk, rows) =>
      this.statement('insert', rows, () =>
        `INSERT INTO kine (id, name, deleted, create_revision, prev_revision, value, committed_at) VALUES ${placeholders(rows, 7)}`,
      ).run(chunk),
    );
  }

  /**
   * Points every key written in the revisions `from`..`to` at its newest row. The rows are read
   * back from the log (fresh in the page cache) by id, in id order so the newest of a key wins:
   * two numbers bound instead of every key's name once more.
   */
  setLatest(from: number, to: number): void {
    this.statement('setLatest', 1, () =>
      // `WHERE true`: SQLite's parser needs a WHERE before ON CONFLICT in INSERT … SELECT.
      `INSERT INTO kine_latest (name, id, deleted) SELECT name, id, deleted FROM kine WHERE id BETWEEN ? AND ? AND true ORDER BY id
       ON CONFLICT(name) DO UPDATE SET id = excluded.id, deleted = excluded.deleted`,
    ).run(from, to);
  }

  private statement(kind: string, rows: number, sql: () => string): Database.Statement {
    const name = `${kind}/${rows}`;
    let stmt = this.cache.get(name);
    if (!stmt) {
      stmt = this.db.prepare(sql());
      // Rows as arrays: no object with named properties built per row.
      if (stmt.reader) stmt.raw(true);
      this.cache.set(name, stmt);
    }
    return stmt;
  }
}

/** Calls `run` for chunks of `values` (`width` per row) of power-of-two row counts up to MAX_ROWS_PER_STATEMENT. */
function inChunks<T>(values: T[], width: number, run: (chunk: T[], rows: number) => void): void {
  const total = values.length / width;
  for (let start = 0; start < total; ) {
    let rows = MAX_ROWS_PER_STATEMENT;
    while (rows > total - start) rows >>= 1;
    run(rows === total ? values : values.slice(start * width, (start + rows) * width), rows);
    start += rows;
  }
}

/** `(?, ?, ?), (?, ?, ?)` for rows × width, or `?, ?` for width 1. */
function placeholders(rows: number, width: number): string {
  const row = width === 1 ? '?' : `(${Array(width).fill('?').join(', ')})`;
  return Array(rows).fill(row).join(', ');
}

/** The prepared statements SqliteKV runs, compiled once per connection. */
export function prepareStatements(db: Database.Database) {
  return {
    sequence: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'kine'`),
    getMeta: db.prepare(`SELECT value FROM kine_meta WHERE key = ?`),
    setMeta: db.prepare(`INSERT INTO kine_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    get: db.prepare(
      `SELECT l.name AS key, l.value AS value, l.create_revision AS createRevision, l.id AS modRevision
       FROM kine_latest c JOIN kine l ON l.id = c.id WHERE c.name = ? AND c.deleted = 0`,
    ),
    list: db.prepare(
      `SELECT l.name AS key, l.value AS value, l.create_revision AS createRevision, l.id AS modRevision
       FROM kine_latest c JOIN kine l ON l.id = c.id
       WHERE c.name >= @lo AND c.name < @hi AND c.name > @after AND c.deleted = 0
       ORDER BY c.name LIMIT @limit`,
    ),
    history: db.prepare(
      `SELECT l.id, l.name, l.deleted, l.value, l.committed_at, p.id AS prev_id, p.value AS prev_value, p.create_revision AS prev_create
       FROM kine l LEFT JOIN kine p ON p.id = l.prev_revision AND p.deleted = 0
       WHERE l.id > @after AND l.id <= @head AND l.name >= @lo AND l.name < @hi
       ORDER BY l.id LIMIT @limit`,
    ),
    tombstonesIn: db.prepare(`SELECT id, name FROM kine WHERE id BETWEEN ? AND ? AND deleted = 1`),
    // Superseded = has a successor at or below the compaction target (etcd keeps the newest
    // version of each key as of the target, so events after it still know their previous value).
    // A window of successors' revisions deletes the rows they superseded, whatever their age.
    deleteSuperseded: db.prepare(`DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine WHERE id BETWEEN ? AND ? AND prev_revision > 0)`),
    deleteTombstones: db.prepare(`DELETE FROM kine WHERE id BETWEEN ? AND ? AND deleted = 1`),
    deleteLatestIf: db.prepare(`DELETE FROM kine_latest WHERE name = ? AND id = ?`),
  };
}

/** What prepareStatements returns. */
export type Statements = ReturnType<typeof prepareStatements>;

/** A history row (with its predecessor, when that is not a tombstone) as a watch event. */
export function toEvent(r: HistoryRow): WatchEvent {
  const prev: KeyValue | undefined =
    r.prev_id === null ? undefined : { key: r.name, value: r.prev_value ?? '', createRevision: r.prev_create ?? r.prev_id, modRevision: r.prev_id };
  const ev: WatchEvent =
    r.deleted === 1
      ? { type: 'delete', key: r.name, revision: r.id, committedAt: r.committed_at }
      : { type: 'put', key: r.name, value: r.value ?? '', revision: r.id, committedAt: r.committed_at };
  if (prev) ev.prev = prev;
  return ev;
}

export interface SqliteMetrics extends CommonStoreMetrics {
  batchSize: Histogram;
  commitSeconds: Histogram;
  compacted: Gauge;
}

/** The SQLite backend's metrics on top of the common store metrics. */
export function createMetrics(registry: MetricsRegistry, currentRevision: () => number): SqliteMetrics {
  const registers = [registry];
  return {
    ...commonStoreMetrics(registry, currentRevision),
    batchSize: new Histogram({
      name: 'pharos_store_commit_batch_writes',
      help: 'Writes committed together in one SQLite transaction (group commit).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
      registers,
    }),
    commitSeconds: new Histogram({ name: 'pharos_store_commit_seconds', help: 'Time to commit one batch, fsync included.', buckets: LATENCY_BUCKETS, registers }),
    compacted: new Gauge({ name: 'pharos_store_compacted_revision', help: 'The revision history is compacted through.', registers }),
  };
}
