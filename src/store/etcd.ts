import { Etcd3, type IOptions } from 'etcd3';
import type { ICompare, IKeyValue, IRequestOp, ITxnResponse, IWatchResponse } from 'etcd3/lib/rpc.js';
import { Counter, Histogram, LATENCY_BUCKETS, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import {
  CompactedError,
  InvalidArgumentError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StoreClosedError,
  StoreOpenError,
  StoreUnavailableError,
} from './errors.ts';
import { QueuedWrites, deliverEvents, reportWatchError, type QueuedWrite, type WatcherRecord } from './backend.ts';
import type { KV, KeyValue, ListOptions, ListResult, Watch, WatchEvent } from './kv.ts';
import { commonStoreMetrics, type CommonStoreMetrics } from './metrics.ts';
import { MAX_TXN_OPS, checkKey, checkList, checkRevision, watchRefusal } from './validate.ts';

/** Unary calls give up after this: a write to an etcd without quorum fails fast with StoreUnavailable. */
const ETCD_CALL_TIMEOUT_MS = 5000;
/** How long opening waits for a first answer from the cluster. */
const ETCD_DIAL_TIMEOUT_MS = 5000;
/** `list` reads in pages of this many keys at one revision: a response stays far below gRPC's limits. */
const LIST_PAGE_KEYS = 1000;
/** A broken watch stream is reopened after this (doubling up to the max), from the last revision seen. */
const WATCH_RETRY_MS = 100;
const WATCH_RETRY_MAX_MS = 2000;
/**
 * At most this many bytes of keys and values go into one batch txn: etcd refuses requests over
 * `--max-request-bytes` (1.5 MiB by default).
 */
const MAX_BATCH_BYTES = 1024 * 1024;
/**
 * A write resolves once this process's watchers on its keys have seen it (read-your-writes, as the
 * SQLite backend gives), but waits no longer than this for a watch that is reconnecting.
 */
const PUBLISH_WAIT_MS = 2000;
/** Keys live under this prefix when the URL names none, so Pharos can share an etcd with others. */
const DEFAULT_ETCD_PREFIX = '/pharos';

/** Where and how to reach etcd: what an `etcd://` / `etcds://` URL plus the TLS and auth settings say. */
export interface EtcdConnection {
  /** `host:port` of each member. */
  endpoints: string[];
  /** Every key is stored under this prefix (no trailing slash). */
  prefix: string;
  /** Set for `etcds://`: the CA to trust and, for client-certificate auth, the cert and key (PEM). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd user and password (etcd's own auth), if the cluster has auth enabled. */
  auth?: { username: string; password: string };
}

export interface EtcdKVOptions {
  logger?: Logger;
  metrics?: MetricsRegistry;
}

/**
 * Parses `etcd://host:port[,host:port...][/prefix]` (or `etcds://` for TLS). The optional path is
 * the key prefix; without one, keys go under `/pharos`.
 */
export function parseEtcdUrl(url: string): Pick<EtcdConnection, 'endpoints' | 'prefix'> & { tls: boolean } {
  const m = /^(etcds?):\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw new InvalidArgumentError(`not an etcd URL: ${JSON.stringify(url)} (etcd://host:port[,host:port...][/prefix])`);
  const endpoints = m[2]!.split(',');
  for (const e of endpoints) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(e)) throw new InvalidArgumentError(`etcd endpoint ${JSON.stringify(e)} is not host:port`);
  }
  const prefix = (m[3] ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
  checkKey(prefix || '/');
  return { endpoints, prefix, tls: m[1] === 'etcds' };
}

interface Watcher extends WatcherRecord {
  /** The first revision this watch delivers: writes before it are not waited for. */
  from: number;
  stream?: { cancel(): void; end(): void };
  /** Writers waiting for this watcher to reach their revision. */
  waiters: { revision: number; resolve: () => void }[];
}

interface Metrics extends CommonStoreMetrics {
  batchSize: Histogram;
  watchReconnects: Counter;
  publishDelay: Histogram;
}

/**
 * The etcd `KV` backend, for several Pharos servers on one etcd cluster. Writes are etcd txns whose
 * compares are the store guards; `list` reads pages at one revision; each `watch` is an etcd watch
 * stream that reconnects from the last revision it delivered, and reports `CompactedError` when
 * etcd has compacted that history. A write resolves once this process's watchers on its keys have
 * seen it, so a watch-fed snapshot is current when a write resolves, as with SQLite.
 * @see https://etcd.io/docs/v3.4/learning/api/ (KV, Txn, Watch)
 */
export class EtcdKV extends QueuedWrites implements KV {
  private readonly watchers = new Set<Watcher>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  /** A batch txn is on its way to etcd (one at a time: the next batch forms meanwhile). */
  private committing = false;
  private closing: Promise<void> | undefined;
  private headSeen = 0;
  private readonly metrics?: Metrics;
  private readonly prefixBuf: Buffer;

  private constructor(
    private readonly client: Etcd3,
    private readonly conn: EtcdConnection,
    private readonly logger?: Logger,
    metrics?: MetricsRegistry,
  ) {
    super();
    this.prefixBuf = Buffer.from(conn.prefix);
    if (metrics) this.metrics = createMetrics(metrics, () => this.headSeen);
  }

  /** Connects and checks that the cluster answers (StoreOpenError if it does not within the dial timeout). */
  static async open(conn: EtcdConnection, options: EtcdKVOptions = {}): Promise<EtcdKV> {
    const tls = conn.tls;
    const scheme = tls ? 'https' : 'http';
    const clientOptions: IOptions = {
      hosts: conn.endpoints.map((e) => `${scheme}://${e}`),
      dialTimeout: ETCD_DIAL_TIMEOUT_MS,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
      grpcOptions: {
        // A restarted member is dialled again within a second, not after gRPC's 2-minute backoff.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // A member that vanished without closing its sockets (partition) is noticed in seconds.
        'grpc.keepalive_time_ms': 5000,
        'grpc.keepalive_timeout_ms': 3000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': -1,
      },
    };
    if (tls) {
      // No CA given: gRPC's createSsl takes null as "trust the system roots".
      clientOptions.credentials = { rootCertificate: tls.ca ?? (null as unknown as Buffer) };
      if (tls.key) clientOptions.credentials.privateKey = tls.key;
      if (tls.cert) clientOptions.credentials.certChain = tls.cert;
    }
    if (conn.auth) clientOptions.auth = { username: conn.auth.username, password: conn.auth.password };
    const client = new Etcd3(clientOptions);
    const kv = new EtcdKV(client, conn, options.logger, options.metrics);
    try {
      await kv.revision();
    } catch (err) {
      client.close();
      throw new StoreOpenError(`etcd ${conn.endpoints.join(',')}`, (err as { cause?: unknown }).cause ?? err);
    }
    return kv;
  }

  /** The members this store talks to (for `/cluster`). */
  get endpoints(): readonly string[] {
    return this.conn.endpoints;
  }

  /** The newest revision this process has seen in any etcd response. */
  get lastSeenRevision(): number {
    return this.headSeen;
  }

  /** The underlying client, for leases and elections (`cluster/`), which live next to the store. */
  get etcd(): Etcd3 {
    return this.client;
  }

  /** The store prefix as bytes, for code that builds its own etcd requests (leases, fencing). */
  fullKey(key: string): Buffer {
    return Buffer.concat([this.prefixBuf, Buffer.from(key)]);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    checkKey(key);
    const res = await this.call(() => this.client.kv.range({ key: this.fullKey(key) }));
    this.seen(res.header.revision);
    const kv = res.kvs[0];
    return kv && this.toKeyValue(kv);
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    const limit = checkList(prefix, options.after, options.limit);
    const full = this.fullKey(prefix);
    const end = prefixEnd(full);
    let start = full;
    if (options.after !== undefined) {
      const afterKey = Buffer.concat([this.fullKey(options.after), Buffer.from([0])]);
      if (Buffer.compare(afterKey, start) > 0) start = afterKey;
    }
    const items: KeyValue[] = [];
    let revision = 0;
    // Pages at the first page's revision: one consistent view however long the list.
    for (;;) {
      const want = limit < 0 ? LIST_PAGE_KEYS : Math.min(LIST_PAGE_KEYS, limit - items.length);
      if (Buffer.compare(start, end) >= 0) break;
      const res = await this.call(() => this.client.kv.range({ key: start, range_end: end, limit: want, revision: revision || undefined }));
      if (revision === 0) revision = Number(res.header.revision);
      for (const kv of res.kvs) items.push(this.toKeyValue(kv));
      if (!res.more || res.kvs.length === 0 || (limit > 0 && items.length >= limit)) break;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    if (revision === 0) revision = await this.revision();
    this.seen(revision);
    return { revision, items };
  }

  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watch {
    const w: Watcher = { prefix, delivered: afterRevision, from: afterRevision + 1, cancelled: false, onEvents, onError, waiters: [] };
    const handle: Watch = { cancel: () => this.cancelWatch(w) };
    const refusal = watchRefusal(this.closed, prefix, afterRevision, onEvents);
    if (refusal) {
      queueMicrotask(() => reportWatchError(w, refusal, this.logger));
      return handle;
    }
    this.watchers.add(w);
    this.metrics?.watchers.set(this.watchers.size);
    void this.runWatch(w);
    return handle;
  }

  async revision(): Promise<number> {
    this.assertOpen();
    // Any linearizable read returns the cluster's revision in its header; this key never exists.
    const res = await this.call(() => this.client.kv.range({ key: Buffer.concat([this.prefixBuf, Buffer.from([0])]), count_only: true }));
    return this.seen(res.header.revision);
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    checkRevision('revision', revision);
    const head = await this.revision();
    if (revision > head) throw new InvalidArgumentError(`cannot compact to ${revision}: the store is at ${head}`, { revision });
    if (revision < 1) return;
    try {
      await this.call(() => this.client.kv.compact({ revision }));
    } catch (err) {
      // Another server compacted as far or further: nothing left to do.
      if (/compacted/.test(String((err as { cause?: Error }).cause?.message ?? err))) return;
      throw err;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    for (const w of [...this.watchers]) this.cancelWatch(w);
    // Writes already issued were promised a result.
    while (this.inflight.size > 0 || this.queued > 0) {
      this.flush();
      await Promise.allSettled([...this.inflight]);
    }
    this.client.close();
  }

  // ---- writes ----

  protected get writesClosed(): boolean {
    return this.closed;
  }

  /**
   * Group commit: the writes queued in one event-loop turn (as many as fit one etcd txn) go to etcd
   * as one txn, one at a time. Its compares are every write's guards, so they hold or fail
   * together; on a failure the txn's failure branch has read every guarded key, and each write is
   * judged on that one consistent state: a write whose guard failed there is rejected (it lost at
   * that revision), the others are put back to be committed again. So every round settles at least
   * one write, and a write's outcome never depends on another write's guard.
   */
  protected flush(): void {
    if (this.committing || this.queued === 0) return;
    let ops = 0;
    let bytes = 0;
    const written = new Set<string>();
    const checked = new Set<string>();
    const batch = this.take(Number.POSITIVE_INFINITY, (w, taken) => {
      const size = writeBytes(w);
      // etcd refuses a txn that writes a key twice, or holds more ops or bytes than its limits; the
      // first write goes whatever its size (alone, it is within the limits `checkOps` enforces).
      // Writes may share a checked key (the leader fence), not a written one, nor check what another writes.
      const clash = w.ops.some((op) => written.has(op.key) || (op.type !== 'check' && checked.has(op.key)));
      if (taken > 0 && (ops + w.ops.length > MAX_TXN_OPS || bytes + size > MAX_BATCH_BYTES || clash)) return false;
      ops += w.ops.length;
      bytes += size;
      for (const op of w.ops) (op.type === 'check' ? checked : written).add(op.key);
      return true;
    });
    if (batch.length === 0) return;
    this.committing = true;
    this.track(
      this.commit(batch).finally(() => {
        this.committing = false;
        if (this.queued > 0) this.scheduleFlush();
      }),
    );
  }

  /** One etcd txn for `batch`; settles every write in it (or puts the undecided ones back). */
  private async commit(batch: QueuedWrite[]): Promise<void> {
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const failure: IRequestOp[] = [];
    // Writes may check one key at one revision (a quota block, the leader fence): compared once.
    const compared = new Map<string, number>();
    for (const w of batch) {
      for (const op of w.ops) {
        const key = this.fullKey(op.key);
        if (op.type === 'check') {
          if (compared.get(op.key) === op.prevRevision) continue;
          compared.set(op.key, op.prevRevision);
        }
        if (op.prevRevision !== undefined) {
          // A missing key compares as revision 0, so prevRevision 0 means "must not exist".
          compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.prevRevision });
          failure.push({ request_range: { key, keys_only: true } });
        } else if (w.kind === 'delete') {
          compare.push({ key, target: 'Version', result: 'Greater', version: 0 });
          failure.push({ request_range: { key, keys_only: true } });
        }
        if (op.type === 'check') continue; // a guard only
        success.push(op.type === 'put' ? { request_put: { key, value: Buffer.from(op.value), ...(op.lease === undefined ? {} : { lease: op.lease }) } } : { request_delete_range: { key } });
      }
    }
    let res: ITxnResponse;
    try {
      res = success.length === 0 && compare.length === 0 ? await this.headerOnly() : await this.call(() => this.client.kv.txn({ compare, success, failure }));
    } catch (err) {
      this.metrics?.writes.inc({ result: 'error' }, batch.length);
      for (const w of batch) w.reject(err as Error);
      return;
    }
    const revision = this.seen(res.header.revision);
    if (!res.succeeded) {
      const actual = new Map<string, number>();
      for (const r of res.responses) {
        const kv = r.response_range?.kvs[0];
        if (kv) actual.set(this.userKey(kv.key), Number(kv.mod_revision));
      }
      const retry: QueuedWrite[] = [];
      for (const w of batch) {
        const err = guardFailure(w, (key) => actual.get(key) ?? 0);
        if (!err) {
          retry.push(w);
          continue;
        }
        this.metrics?.writes.inc({ result: 'conflict' });
        w.reject(err);
      }
      if (retry.length > 0) this.putBack(retry);
      return;
    }
    this.metrics?.writes.inc({ result: 'ok' }, batch.length);
    this.metrics?.batchSize.observe(batch.length);
    const written: string[] = [];
    let i = 0;
    for (const w of batch) {
      for (const op of w.ops) {
        if (op.type === 'check') continue; // no response: a guard only
        if (op.type === 'put' || Number(res.responses[i]?.response_delete_range?.deleted ?? 0) > 0) written.push(op.key);
        i++;
      }
    }
    // Read-your-writes: settled once this process's watchers on the written keys have the revision
    // (the next batch need not wait for that).
    if (written.length === 0) for (const w of batch) w.resolve(revision);
    else this.track(this.published(revision, written).then(() => batch.forEach((w) => w.resolve(revision))));
  }

  /** Keeps `p` for `close`, which waits for every write already issued. */
  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
  }

  /** A batch of empty txns writes nothing: it resolves with the current revision. */
  private async headerOnly(): Promise<ITxnResponse> {
    return { header: { revision: String(await this.revision()) }, succeeded: true, responses: [] } as unknown as ITxnResponse;
  }

  /** Waits until every watcher of this process that covers one of `keys` has delivered `revision`. */
  private async published(revision: number, keys: string[]): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const w of this.watchers) {
      if (w.cancelled || w.delivered >= revision || w.from > revision) continue;
      if (!keys.some((k) => k.startsWith(w.prefix))) continue;
      waits.push(new Promise((resolve) => w.waiters.push({ revision, resolve })));
    }
    if (waits.length === 0) return;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, PUBLISH_WAIT_MS)));
    await Promise.race([Promise.all(waits), timedOut]);
    clearTimeout(timer);
    this.metrics?.publishDelay.observe((performance.now() - started) / 1000);
  }

  // ---- watch ----

  private async runWatch(w: Watcher): Promise<void> {
    let backoff = WATCH_RETRY_MS;
    const full = this.fullKey(w.prefix);
    while (!w.cancelled && !this.closed) {
      try {
        const stream = await this.client.watchClient.watch();
        if (w.cancelled || this.closed) {
          stream.cancel();
          return;
        }
        w.stream = stream;
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (res: IWatchResponse) => {
            backoff = WATCH_RETRY_MS;
            const next = this.onWatchResponse(w, res);
            if (next === 'stop') resolve();
            else if (next instanceof Error) reject(next);
            if (next !== undefined) stream.cancel();
          });
          stream.on('error', reject);
          stream.on('end', resolve);
          // From `delivered`, not after it: etcd still serves a watch from its compaction revision,
          // the contract refuses one from below it; the replayed event is dropped below.
          stream.write({
            create_request: { key: full, range_end: prefixEnd(full), start_revision: Math.max(1, w.delivered), prev_kv: true, progress_notify: true },
          });
        });
      } catch (err) {
        if (w.cancelled || this.closed) return;
        this.logger?.warn({ err, prefix: w.prefix, from: w.delivered + 1 }, 'store: etcd watch broken; reconnecting');
      }
      if (w.cancelled || this.closed) return;
      this.metrics?.watchReconnects.inc();
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, WATCH_RETRY_MAX_MS);
    }
  }

  /** Handles one response: undefined to go on, 'stop' when the watch is over, an Error to reconnect. */
  private onWatchResponse(w: Watcher, res: IWatchResponse): 'stop' | Error | undefined {
    if (w.cancelled) return 'stop';
    const headerRev = this.seen(res.header.revision);
    if (res.canceled) {
      const compacted = Number(res.compact_revision ?? 0);
      if (compacted > 0) {
        reportWatchError(w, new CompactedError(w.delivered, compacted), this.logger);
        this.cancelWatch(w);
        return 'stop';
      }
      return new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`);
    }
    if (res.created) return undefined;
    if (res.events.length === 0) {
      // A progress notification: everything through the header revision has been sent.
      this.advance(w, headerRev);
      return undefined;
    }
    const events: WatchEvent[] = [];
    let last = w.delivered;
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      if (revision <= w.delivered) continue; // replayed after a reconnect
      last = Math.max(last, revision);
      const key = this.userKey(ev.kv.key);
      const out: WatchEvent =
        ev.type === 'Delete' ? { type: 'delete', key, revision } : { type: 'put', key, value: ev.kv.value.toString('utf8'), revision };
      if (ev.prev_kv) out.prev = this.toKeyValue(ev.prev_kv);
      events.push(out);
    }
    if (events.length > 0) deliverEvents(w, events, this.logger, this.metrics);
    this.advance(w, last);
    return undefined;
  }

  private advance(w: Watcher, revision: number): void {
    if (revision <= w.delivered) return;
    w.delivered = revision;
    if (w.waiters.length === 0) return;
    const still: Watcher['waiters'] = [];
    for (const waiter of w.waiters) (waiter.revision <= revision ? waiter.resolve() : still.push(waiter));
    w.waiters = still;
  }

  private cancelWatch(w: Watcher): void {
    if (w.cancelled) return;
    w.cancelled = true;
    this.watchers.delete(w);
    this.metrics?.watchers.set(this.watchers.size);
    for (const waiter of w.waiters) waiter.resolve();
    w.waiters = [];
    try {
      w.stream?.cancel();
    } catch {
      // Already closed.
    }
  }

  // ---- helpers ----

  /** Runs one etcd call; a gRPC failure becomes StoreUnavailable (the cluster is unreachable or has no quorum). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (this.closed && /closed/i.test(String(err))) throw new StoreClosedError();
      throw new StoreUnavailableError(`etcd ${this.conn.endpoints.join(',')}`, err);
    }
  }

  private seen(revision: string | number): number {
    const r = Number(revision);
    if (r > this.headSeen) this.headSeen = r;
    return r;
  }

  private userKey(key: Buffer): string {
    return key.subarray(this.prefixBuf.length).toString('utf8');
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.userKey(kv.key),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }
}

/**
 * The guard of `w` that does not hold when each key is at revision `actual(key)` (0 = missing), as
 * the error its caller gets; undefined when all of them hold.
 */
function guardFailure(w: QueuedWrite, actual: (key: string) => number): Error | undefined {
  for (const op of w.ops) {
    const now = actual(op.key);
    if (op.prevRevision === undefined) {
      if (w.kind === 'delete' && now === 0) return new KeyNotFoundError(op.key); // single delete of a missing key
      continue;
    }
    if (op.prevRevision === now) continue;
    if (op.prevRevision === 0 && op.type !== 'check') return new KeyExistsError(op.key);
    if (w.kind === 'delete' && now === 0) return new KeyNotFoundError(op.key);
    return new RevisionMismatchError(op.key, op.prevRevision, now);
  }
  return undefined;
}

/** The bytes a write puts in a txn request (keys and values; etcd limits a request's size). */
function writeBytes(w: QueuedWrite): number {
  let n = 0;
  for (const op of w.ops) n += op.key.length + (op.type === 'put' ? op.value.length : 0);
  return n;
}

/** The end of etcd's range for a prefix: the prefix with its last byte incremented (`\0` = to the end). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function createMetrics(registry: MetricsRegistry, currentRevision: () => number): Metrics {
  const registers = [registry];
  return {
    ...commonStoreMetrics(registry, currentRevision),
    batchSize: new Histogram({
      name: 'pharos_store_commit_batch_writes',
      help: 'Writes committed together in one etcd txn (group commit).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
    watchReconnects: new Counter({ name: 'pharos_store_watch_reconnects_total', help: 'etcd watch streams reopened after a failure.', registers }),
    publishDelay: new Histogram({
      name: 'pharos_store_watch_lag_seconds',
      help: "Time from etcd acknowledging a write to this process's watchers having it (watch lag).",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
}
