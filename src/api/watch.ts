import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, PharosError, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import { RAW_JSON, type RegistryView, type SnapshotChange } from '../registry/index.ts';
import { BoundaryError, CLOUD_MAP_STYLE, THROTTLING, toWireError } from './errors.ts';
import type { PathOutcome, PathRequest, PathRoute } from './server.ts';

/**
 * The watch: DiscoverInstances in the blocking-query style (Consul's `?index=&wait=`), and the
 * same URL as a server-sent event stream. See README.md ("Watch") and docs/watch.md.
 *
 *   GET /v1/namespaces/{namespace}/services/{service}/instances?index=N&wait=30s
 *
 * Waiters are kept per service: a change wakes the waiters of its own service only, and an idle
 * waiter costs a socket, a timer and a set entry (no polling).
 */

export const WATCH_PREFIX = '/v1/';
/** `wait` when absent (Consul's default too). */
export const DEFAULT_WAIT_MS = 30_000;
/** Longest `wait`; larger ones are cut to this (Consul's limit: a proxy in between may drop longer requests). */
export const MAX_WAIT_MS = 5 * 60_000;
/** SSE comment line sent this often on open streams, so idle proxies and load balancers keep them open. */
export const SSE_HEARTBEAT_MS = 30_000;
/**
 * Watches one client (an access key id, or an address when requests are not signed) may hold at
 * once. Every watch holds a connection and counts as busy, so the connection cap's eviction of idle
 * connections never frees them: without this, one client could hold all of `--http-max-connections`
 * (4096) and lock every other client out. A quarter of that cap leaves the rest to others, and is
 * still ten watches on each of a hundred services for one sidecar or agent fleet.
 */
const DEFAULT_MAX_WATCHES_PER_CLIENT = 1024;
/** What a client past its cap is told to wait before retrying (seconds, `Retry-After`). */
const THROTTLED_RETRY_AFTER_S = 1;
/** Statuses REST clients expect for a missing resource; the other Cloud Map codes keep their table's status. */
const NOT_FOUND_CODES = new Set(['NamespaceNotFound', 'ServiceNotFound']);
/** REST clients (curl, HTTP libraries) know 429 as "slow down"; the JSON body still says ThrottlingException. */
const TOO_MANY_REQUESTS = 429;
const JSON_TYPE = 'application/json';
const INDEX_HEADER = 'X-Pharos-Index';
const OPERATION = 'WatchInstances';
const PATH = /^\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/instances\/?$/;
const WAIT = /^(\d{1,9})(ms|s|m)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const HEALTH_FILTERS = new Set(['HEALTHY', 'UNHEALTHY', 'ALL', 'HEALTHY_OR_ELSE_ALL']);

/** What the watch needs from the registry: the snapshot (revisions, changes, names) and DiscoverInstances itself. */
export interface WatchSource {
  view: Pick<RegistryView, 'namespaceByHttpName' | 'servicesOf' | 'instancesRevision' | 'onChange'>;
  discoverInstances(input: unknown): Promise<Record<string, unknown>>;
}

/** What the hub wakes: an object, not a closure, so a held watch is one small object. */
export interface Waiter {
  wake(committedAt?: number): void;
}

/**
 * Waiters by service id, woken by the snapshot's changes to that service: its instances (which
 * move InstancesRevision), their health (which changes HEALTHY answers without moving it) and
 * the service itself (deleted or reconfigured).
 */
export class WatchHub {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly unsubscribe: () => void;
  private count = 0;
  private readonly wakeDelay?: Histogram;

  constructor(view: Pick<RegistryView, 'onChange'>, metrics?: MetricsRegistry) {
    this.unsubscribe = view.onChange((change) => this.onChange(change));
    if (metrics) {
      const hub = this;
      new Gauge({
        name: 'pharos_watch_waiters',
        help: 'Watch requests and event streams waiting for a change.',
        registers: [metrics],
        collect() {
          this.set(hub.count);
        },
      });
      this.wakeDelay = new Histogram({
        name: 'pharos_watch_wake_delay_seconds',
        help: 'Time from the store commit of a change to a waiting watch answered (or an event sent) with it.',
        buckets: LATENCY_BUCKETS,
        registers: [metrics],
      });
    }
  }

  /** Records commit → answer for a watch woken by a change (not for timeouts). */
  observeWake(committedAt: number | undefined): void {
    if (committedAt !== undefined) this.wakeDelay?.observe(Math.max(0, Date.now() - committedAt) / 1000);
  }

  /** Calls `waiter.wake` (with the change's commit time) on every change to the service until `remove`. */
  add(serviceId: string, waiter: Waiter): void {
    let set = this.waiters.get(serviceId);
    if (!set) this.waiters.set(serviceId, (set = new Set()));
    if (set.has(waiter)) return;
    set.add(waiter);
    this.count++;
  }

  /** Stops waking `waiter`; repeatable. */
  remove(serviceId: string, waiter: Waiter): void {
    const set = this.waiters.get(serviceId);
    if (!set?.delete(waiter)) return;
    this.count--;
    if (set.size === 0) this.waiters.delete(serviceId);
  }

  /** Waiters right now (all services). */
  get size(): number {
    return this.count;
  }

  close(): void {
    this.unsubscribe();
  }

  /**
   * Waiters are woken on the next turn of the event loop, once per service however many changes
   * it had: the events of one commit (an instance, its health record, the revision marker) arrive
   * through separate store watches, and a waiter must read the state after all of them.
   */
  private onChange(change: SnapshotChange): void {
    if (change.kind === 'namespace' || change.serviceId === undefined || !this.waiters.has(change.serviceId)) return;
    if (!this.due.has(change.serviceId)) this.due.set(change.serviceId, change.committedAt);
    if (this.due.size === 1) setImmediate(() => this.wakeDue());
  }

  private wakeDue(): void {
    const due = [...this.due];
    this.due.clear();
    for (const [serviceId, committedAt] of due) {
      // A copy: a woken blocking waiter unsubscribes while we iterate.
      for (const waiter of [...(this.waiters.get(serviceId) ?? [])]) waiter.wake(committedAt);
    }
  }

  /** Services changed since the last wake-up → commit time of their first change. */
  private readonly due = new Map<string, number | undefined>();
}

/** A watch request, parsed and checked. */
interface WatchQuery {
  namespace: string;
  service: string;
  /** Absent: answer at once. */
  index?: number;
  waitMs: number;
  input: Record<string, unknown>;
}

interface WatchRouteOptions {
  /** Watches one client may hold at once (`DEFAULT_MAX_WATCHES_PER_CLIENT`); more get ThrottlingException. */
  maxPerClient?: number;
  metrics?: MetricsRegistry;
}

/** The `/v1/` path route of the API server. */
export function watchRoute(source: WatchSource, hub: WatchHub, logger: Logger, options: WatchRouteOptions = {}): PathRoute {
  const sendError = (res: ServerResponse, err: unknown): string => {
    const code = writeError(res, err);
    // Client errors are the caller's business; a fault is logged once, here.
    if (code === CLOUD_MAP_STYLE.faultCode) logger.error({ err }, 'watch request failed');
    return code;
  };
  const clients = new WatchClients(options.maxPerClient ?? DEFAULT_MAX_WATCHES_PER_CLIENT, options.metrics);
  return {
    prefix: WATCH_PREFIX,
    // Held open by design; bounded per client by --watch-max-per-client instead.
    heldOpen: true,
    handle: (req, res) => handleWatch(source, hub, clients, req, res, sendError),
    reject: sendError,
  };
}

/** Watches held per client (`PathRequest.client`), each counted from its start until its response closes. */
class WatchClients {
  private readonly held = new Map<string, number>();
  private readonly refused?: Counter;

  constructor(
    private readonly max: number,
    metrics?: MetricsRegistry,
  ) {
    if (metrics) {
      this.refused = new Counter({ name: 'pharos_watch_refused_total', help: 'Watch requests refused because their client already held its cap of watches (--watch-max-per-client).', registers: [metrics] });
    }
  }

  /** Counts a watch against its client until `res` closes; false (and counted) when the client is at its cap. */
  admit(client: string, res: ServerResponse): boolean {
    const n = this.held.get(client) ?? 0;
    if (n >= this.max) {
      this.refused?.inc();
      return false;
    }
    this.held.set(client, n + 1);
    // 'close' comes after the answer, and also when the client goes away first.
    res.once('close', () => {
      const left = (this.held.get(client) ?? 1) - 1;
      if (left > 0) this.held.set(client, left);
      else this.held.delete(client);
    });
    return true;
  }

  get limit(): number {
    return this.max;
  }
}

function handleWatch(
  source: WatchSource,
  hub: WatchHub,
  clients: WatchClients,
  req: PathRequest,
  res: ServerResponse,
  sendError: (res: ServerResponse, err: unknown) => string,
): PathOutcome | Promise<PathOutcome> {
  let q: WatchQuery;
  try {
    if (req.method !== 'GET') throw invalid(`${req.method} is not supported here: the watch is GET ${WATCH_PREFIX}namespaces/{namespace}/services/{service}/instances`);
    q = parseWatch(req);
    if (!clients.admit(req.client, res)) {
      res.setHeader('Retry-After', String(THROTTLED_RETRY_AFTER_S));
      const who = req.client.startsWith('key:') ? `access key ${req.client.slice(4)}` : `address ${req.client.slice(5)}`;
      throw new BoundaryError(THROTTLING, `${who} already holds ${clients.limit} watches (--watch-max-per-client); end one, or retry later`);
    }
  } catch (err) {
    return { operation: OPERATION, code: sendError(res, err) };
  }
  const stream = /\btext\/event-stream\b/.test(req.headers.accept ?? '');
  const ended = req.ended;
  return source.discoverInstances(q.input).then(
    (first) => {
      let serviceId: string;
      try {
        serviceId = serviceIdOf(source, q.namespace, q.service);
      } catch (err) {
        return { operation: OPERATION, code: sendError(res, err) };
      }
      if (stream) return streamEvents(source, hub, q, serviceId, first, ended, res, sendError);
      if (q.index === undefined || revisionOf(first) !== q.index) return answer(res, first);
      return new Promise<PathOutcome>((resolve) => new Hold(source, hub, q, serviceId, res, sendError, resolve).start(ended));
    },
    (err: unknown) => ({ operation: OPERATION, code: sendError(res, err) }),
  );
}

/**
 * One blocking query waiting for its service to change: all its state in one object (no
 * closures, no suspended async frame), so ten thousand idle ones cost little beyond their sockets.
 */
class Hold implements Waiter {
  private timer?: NodeJS.Timeout;
  private done = false;

  constructor(
    private readonly source: WatchSource,
    private readonly hub: WatchHub,
    private readonly q: WatchQuery,
    private readonly serviceId: string,
    private readonly res: ServerResponse,
    private readonly sendError: (res: ServerResponse, err: unknown) => string,
    private readonly resolve: (outcome: PathOutcome) => void,
  ) {}

  start(ended: Promise<void>): void {
    // Subscribe, then re-read: a change between the first read and the subscription is not missed.
    this.hub.add(this.serviceId, this);
    if (this.source.view.instancesRevision(this.serviceId) !== this.q.index) {
      this.wake();
      return;
    }
    this.timer = setTimeout(() => this.wake(), this.q.waitMs);
    void ended.then(() => this.wake());
  }

  /** A change, the wait over, the client gone or the server closing: answer with the state now. */
  wake(committedAt?: number): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.hub.remove(this.serviceId, this);
    if (this.res.destroyed) {
      this.resolve({ operation: OPERATION, code: 'ClientClosed' });
      return;
    }
    this.source.discoverInstances(this.q.input).then(
      (now) => {
        this.resolve(answer(this.res, now));
        this.hub.observeWake(committedAt);
      },
      (err: unknown) => this.resolve({ operation: OPERATION, code: this.sendError(this.res, err) }),
    );
  }
}

/** Writes a DiscoverInstances answer with its revision in `X-Pharos-Index`. */
function answer(res: ServerResponse, output: Record<string, unknown>): PathOutcome {
  const body = bodyOf(output);
  res.writeHead(200, {
    'Content-Type': JSON_TYPE,
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': randomUUID(),
    [INDEX_HEADER]: String(revisionOf(output)),
  });
  res.end(body);
  return { operation: OPERATION, code: 'OK' };
}

/** One event per change until the client goes away, the service is deleted or the server closes. */
function streamEvents(
  source: WatchSource,
  hub: WatchHub,
  q: WatchQuery,
  serviceId: string,
  first: Record<string, unknown>,
  ended: Promise<void>,
  res: ServerResponse,
  sendError: (res: ServerResponse, err: unknown) => string,
): Promise<PathOutcome> {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'x-amzn-RequestId': randomUUID(),
    [INDEX_HEADER]: String(revisionOf(first)),
  });
  // `Last-Event-ID` (an EventSource reconnecting) counts as `index`.
  const last = q.index;
  if (last === undefined || revisionOf(first) !== last) res.write(event(first));
  else res.write(': waiting\n\n'); // headers and a first byte now, so clients see the stream is open
  return new Promise((resolve) => {
    let busy = false;
    let again = false;
    const finish = (code: string) => {
      unsubscribe();
      heartbeats.delete(res);
      if (!res.writableEnded) res.end();
      resolve({ operation: OPERATION, code });
    };
    // Changes that arrive while one is being read, or while the client has not taken the last event
    // yet, are coalesced into one more read: every event is the whole answer, so a slow reader
    // misses nothing but gets the latest, and what is buffered for it stays one event, not one per
    // change (a client that stops reading cannot grow the server's memory without bound).
    const wake = (committedAt?: number) => {
      if (busy || res.writableNeedDrain) {
        again = true;
        return;
      }
      busy = true;
      source.discoverInstances(q.input).then(
        (answer) => {
          busy = false;
          if (res.destroyed) return;
          res.write(event(answer));
          hub.observeWake(committedAt);
          if (again && !res.writableNeedDrain) {
            again = false;
            wake();
          }
        },
        (err: unknown) => finish(sendError(res, err)),
      );
    };
    res.on('drain', () => {
      if (!again) return;
      again = false;
      wake();
    });
    const waiter: Waiter = { wake };
    const unsubscribe = () => hub.remove(serviceId, waiter);
    hub.add(serviceId, waiter);
    // A change between the first read and the subscription is not missed.
    if (source.view.instancesRevision(serviceId) !== revisionOf(first)) wake();
    heartbeats.add(res);
    ensureHeartbeat();
    void ended.then(() => finish('OK'));
  });
}

/** Open event streams; one shared timer writes their heartbeats (not one timer per stream). */
const heartbeats = new Set<ServerResponse>();
let heartbeatTimer: NodeJS.Timeout | undefined;

function ensureHeartbeat(): void {
  if (heartbeatTimer) return;
  heartbeatTimer = setInterval(() => {
    if (heartbeats.size === 0) {
      clearInterval(heartbeatTimer);
      heartbeatTimer = undefined;
      return;
    }
    // A stream whose client is not reading has bytes on the way already: no heartbeat piles up behind them.
    for (const res of heartbeats) if (!res.writableNeedDrain) res.write(': heartbeat\n\n');
  }, SSE_HEARTBEAT_MS);
  heartbeatTimer.unref();
}

function event(answer: Record<string, unknown>): string {
  return `id: ${revisionOf(answer)}\nevent: instances\ndata: ${bodyOf(answer)}\n\n`;
}

function bodyOf(answer: Record<string, unknown>): string {
  const raw = (answer as Record<symbol, unknown>)[RAW_JSON];
  return typeof raw === 'string' ? raw : JSON.stringify(answer);
}

function revisionOf(answer: Record<string, unknown>): number {
  return Number(answer['InstancesRevision']);
}

function serviceIdOf(source: WatchSource, namespace: string, service: string): string {
  // DiscoverInstances just found both; a lookup miss here means it was deleted in between.
  const ns = source.view.namespaceByHttpName(namespace);
  for (const svc of ns ? source.view.servicesOf(ns.id) : []) if (svc.name === service) return svc.id;
  throw new PharosError('ServiceNotFound', `Service not found: ${service}`);
}

/** Reads the path and query; everything untrusted, every mistake an `InvalidInput` that says what is wrong. */
function parseWatch(req: PathRequest): WatchQuery {
  const m = PATH.exec(req.path);
  if (!m) throw invalid(`no such watch path: ${req.path}; the watch is GET ${WATCH_PREFIX}namespaces/{namespace}/services/{service}/instances`);
  const namespace = decode(m[1]!);
  const service = decode(m[2]!);
  const input: Record<string, unknown> = { NamespaceName: namespace, ServiceName: service };
  const attrs = new Map<string, string>(); // not an object: `attr.__proto__` must be a key like any other
  let index: number | undefined;
  let waitMs = DEFAULT_WAIT_MS;
  const lastEventId = req.headers['last-event-id'];
  if (typeof lastEventId === 'string' && lastEventId !== '') index = parseIndex(lastEventId, 'Last-Event-ID');
  const seen = new Set<string>();
  for (const [key, value] of req.query) {
    // Given twice, which one counts would be a guess: `attr.a=1&attr.a=2` is refused, not narrowed to one.
    if (seen.has(key)) throw invalid(`query parameter ${JSON.stringify(key)} appears more than once`);
    seen.add(key);
    if (key === 'index') index = parseIndex(value, 'index');
    else if (key === 'wait') waitMs = parseWait(value);
    else if (key === 'health') {
      if (!HEALTH_FILTERS.has(value)) throw invalid(`health must be one of ${[...HEALTH_FILTERS].join(', ')}, not ${JSON.stringify(value)}`);
      input['HealthStatus'] = value;
    } else if (key === 'max-results') {
      if (!/^\d{1,4}$/.test(value)) throw invalid(`max-results must be a number from 1 to 1000, not ${JSON.stringify(value)}`);
      input['MaxResults'] = Number(value); // DiscoverInstances checks the range
    } else if (key.startsWith('attr.') && key.length > 5) attrs.set(key.slice(5), value);
    else throw invalid(`unknown query parameter ${JSON.stringify(key)}: use index, wait, health, max-results or attr.KEY`);
  }
  if (attrs.size > 0) input['QueryParameters'] = Object.fromEntries(attrs);
  return { namespace, service, index, waitMs, input };
}

function parseIndex(value: string, what: string): number {
  if (!/^\d{1,15}$/.test(value)) throw invalid(`${what} must be an InstancesRevision (a non-negative integer), not ${JSON.stringify(value)}`);
  return Number(value);
}

/** `30s`, `5m`, `250ms`, or seconds without a unit (Consul's forms); cut to `MAX_WAIT_MS`. */
function parseWait(value: string): number {
  const m = WAIT.exec(value);
  if (!m) throw invalid(`wait must be a duration such as 30s, 5m or 250ms, not ${JSON.stringify(value)}`);
  return Math.min(MAX_WAIT_MS, Number(m[1]) * UNIT_MS[m[2] ?? 's']!);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

function invalid(message: string): PharosError {
  return new PharosError('InvalidInput', message);
}

/**
 * Errors in Cloud Map's JSON form (`__type`, `Message`), with 404 for a missing namespace or
 * service; on an open event stream, as an `error` event (the stream then ends).
 */
function writeError(res: ServerResponse, err: unknown): string {
  const wire = toWireError(err, CLOUD_MAP_STYLE);
  const status = NOT_FOUND_CODES.has(wire.code) ? 404 : wire.code === THROTTLING ? TOO_MANY_REQUESTS : wire.status;
  const body = JSON.stringify(wire.body);
  if (res.headersSent) {
    if (!res.writableEnded) res.write(`event: error\ndata: ${body}\n\n`);
    return wire.code;
  }
  res.writeHead(status, {
    'Content-Type': JSON_TYPE,
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': randomUUID(),
    'x-amzn-ErrorType': wire.code,
  });
  res.end(body);
  return wire.code;
}
