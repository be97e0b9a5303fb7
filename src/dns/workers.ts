import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, type Metric, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { Counter, PharosError, type Logger, type LogLevel, type Registry as MetricsRegistry } from '../lib/index.ts';
import type { KV, KeyValue, ListResult, Watch, WatchEvent } from '../store/index.ts';
import { DNS_BAD_ADDRESS, dnsError } from './errors.ts';
import type { RrlOptions } from './rrl.ts';
import type { UdpIo } from './udpbatch.ts';
import { chooseUdpIo, parseHostPort } from './server.ts';

/**
 * DNS answered by several processes sharing one UDP socket and one TCP listener (node's cluster
 * module: the primary owns the sockets, the kernel spreads datagrams over the workers). Each
 * worker keeps its own snapshot, fed over IPC from the primary's store: `list` and `watch` are
 * relayed, so a worker sees exactly the store's revisions, in order, like an in-process snapshot,
 * and answers exactly what one in-process server would.
 *
 * `pharos server --dns-workers n` (n > 1) runs this instead of the in-process server. A worker
 * that dies is forked again (after `RESTART_DELAY_MS`, doubling while it keeps dying young); the
 * others go on answering meanwhile. Worker metrics are collected over IPC when the primary's
 * registry is scraped and summed (histograms bucket by bucket), under the same names.
 */

/** How long a worker may take to load its snapshot and bind before start fails. */
const WORKER_START_TIMEOUT_MS = 20_000;
/** First delay before forking a replacement for a dead worker: long enough that a crash loop does not spin. */
const RESTART_DELAY_MS = 500;
/** Longest delay between restarts of a worker that keeps dying. */
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that lived this long counts as healthy: its replacement starts at the first delay again. */
const HEALTHY_UPTIME_MS = 60_000;
/** How long a scrape waits for a worker's metrics; a busy or dying worker must not hang /metrics. */
const METRICS_TIMEOUT_MS = 1_000;
/** Most worker processes `--dns-workers` accepts: more than cores only adds context switches. */
export const MAX_DNS_WORKERS = 64;

/** `auto`: one worker per core but one, which the API, health checks and scheduler keep. */
export function autoDnsWorkers(cores = availableParallelism()): number {
  return Math.max(1, cores - 1);
}

export interface DnsWorkersOptions {
  kv: KV;
  workers: number;
  /** `host:port`; port 0 picks a free port, shared by all workers. */
  address: string;
  forward?: string;
  maxAnswers?: number;
  /** Response-rate limiting in each worker: a client spread over n workers may get up to n times the rate. */
  rrl?: RrlOptions;
  /** Each worker's UDP I/O (server.ts `io`), resolved here once; every worker batches the shared socket on its own. */
  io?: UdpIo;
  logger: Logger;
  /** The workers' log level (their logs go to the same stderr). */
  logLevel?: LogLevel;
  /** Where worker metrics are published (summed over workers) when scraped. */
  metrics?: MetricsRegistry;
}

export interface DnsWorkers {
  address: { host: string; port: number };
  /** One more address served by every worker (and by every worker forked later), UDP and TCP. */
  addListener(address: string | { host: string; port: number }): Promise<{ host: string; port: number }>;
  /** Every address served, the first one first. */
  listeners(): { host: string; port: number }[];
  /** Process ids of the workers answering now (started, not dead); tests kill one to see it replaced. */
  pids(): number[];
  close(): Promise<void>;
}

/** Settings a worker reads from its environment. */
export interface WorkerSettings {
  address: string;
  /** Addresses added while running, which a replacement worker must serve too. */
  extra: string[];
  forward?: string;
  maxAnswers?: number;
  rrl?: RrlOptions;
  io?: UdpIo;
  logLevel?: LogLevel;
}

/** Messages between primary and workers. */
export type ToWorker =
  | { t: 'list'; id: number; result?: ListResult; error?: string }
  | { t: 'events'; id: number; events: WatchEvent[] }
  | { t: 'watch-error'; id: number; error: string; code?: string }
  | { t: 'listen'; id: number; address: string }
  | { t: 'metrics'; id: number }
  | { t: 'stop' };
export type ToPrimary =
  | { t: 'list'; id: number; prefix: string }
  | { t: 'watch'; id: number; prefix: string; after: number }
  | { t: 'cancel'; id: number }
  | { t: 'ready'; host: string; port: number }
  | { t: 'listening'; id: number; host?: string; port?: number; error?: string }
  | { t: 'metrics'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

export const WORKER_ENV = 'PHAROS_DNS_WORKER';

function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The worker entry beside this file: `worker.ts` under tsx, `worker.js` when compiled. */
function workerEntry(): { exec: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const compiled = self.endsWith('.js');
  // Under tsx the worker needs the loader too, found from here (not from the cwd, which may be anywhere).
  const loader = compiled ? [] : ['--import', import.meta.resolve('tsx')];
  return { exec: self.replace(/workers\.(ts|js)$/, `worker.$1`), execArgv: [...process.execArgv, ...loader] };
}

export async function startDnsWorkers(options: DnsWorkersOptions): Promise<DnsWorkers> {
  if (!cluster.isPrimary) throw dnsError(DNS_BAD_ADDRESS, 'DNS workers must be started from the primary process');
  // Resolved here: a missing addon is one error (batch) or one warning (auto), not one per worker.
  const io = chooseUdpIo(options.io ?? 'auto', options.logger);
  cluster.setupPrimary(workerEntry());
  const settings: WorkerSettings = { address: options.address, extra: [], forward: options.forward, maxAnswers: options.maxAnswers, rrl: options.rrl, io, logLevel: options.logLevel };
  const live = new Set<Worker>();
  /** Started workers (sent `ready`). One still loading has no message listener yet: IPC to it would be lost. */
  const serving = new Set<Worker>();
  const watches = new Map<Worker, Map<number, Watch>>();
  const replies = new Map<number, (msg: ToPrimary) => void>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let seq = 0;
  let stopping = false;
  let restartDelay = RESTART_DELAY_MS;
  const restarts = options.metrics
    ? new Counter({ name: 'pharos_dns_worker_restarts_total', help: 'DNS worker processes that died and were forked again.', registers: [options.metrics] })
    : undefined;

  // A worker that was just killed still looks connected until its exit is seen: a write to it
  // fails with EPIPE, which must not be an uncaught error (its 'exit' handler replaces it).
  const ignoreSendError = () => undefined;
  const send = (worker: Worker, m: ToWorker) => {
    if (worker.isConnected()) worker.send(m, undefined, ignoreSendError);
  };

  const serve = (worker: Worker, msg: ToPrimary) => {
    switch (msg.t) {
      case 'list':
        options.kv.list(msg.prefix).then(
          (result) => send(worker, { t: 'list', id: msg.id, result }),
          (err: Error) => send(worker, { t: 'list', id: msg.id, error: err.message }),
        );
        break;
      case 'watch': {
        const w = options.kv.watch(
          msg.prefix,
          msg.after,
          (events) => send(worker, { t: 'events', id: msg.id, events }),
          (err) => send(worker, { t: 'watch-error', id: msg.id, error: err.message, code: (err as { code?: string }).code }),
        );
        const mine = watches.get(worker);
        if (mine) mine.set(msg.id, w);
        else w.cancel(); // the worker died meanwhile
        break;
      }
      case 'cancel':
        watches.get(worker)?.get(msg.id)?.cancel();
        watches.get(worker)?.delete(msg.id);
        break;
      case 'listening':
      case 'metrics':
        replies.get(msg.id)?.(msg);
        break;
      case 'ready':
        break;
    }
  };

  /** Asks one worker and waits for its answer (undefined when it dies or takes too long). */
  const ask = (worker: Worker, make: (id: number) => ToWorker, timeoutMs: number): Promise<ToPrimary | undefined> =>
    new Promise((resolve) => {
      const id = ++seq;
      const done = (msg?: ToPrimary) => {
        clearTimeout(timer);
        replies.delete(id);
        worker.off('exit', onExit);
        resolve(msg);
      };
      const onExit = () => done();
      const timer = setTimeout(done, timeoutMs);
      replies.set(id, done);
      worker.once('exit', onExit);
      send(worker, make(id));
    });

  const ready = (worker: Worker) =>
    new Promise<{ host: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.kill(); // its exit forks a replacement (when not starting up)
        reject(dnsError(DNS_BAD_ADDRESS, 'a DNS worker did not start'));
      }, WORKER_START_TIMEOUT_MS);
      worker.on('message', (msg: ToPrimary) => {
        if (msg.t === 'ready') {
          clearTimeout(timer);
          resolve({ host: msg.host, port: msg.port });
        }
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(dnsError(DNS_BAD_ADDRESS, `a DNS worker exited with ${code} while starting`));
      });
    });

  const fork = () => {
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(settings) });
    const born = Date.now();
    const extraAtFork = settings.extra.length;
    live.add(worker);
    worker.on('message', (msg: ToPrimary) => {
      if (msg.t !== 'ready') return;
      // Addresses added while it was starting were not in its environment.
      const late = settings.extra.slice(extraAtFork);
      if (late.length === 0) return void serving.add(worker);
      void Promise.all(late.map((address) => ask(worker, (id) => ({ t: 'listen', id, address }), WORKER_START_TIMEOUT_MS))).then(() => {
        if (!worker.isDead()) serving.add(worker);
      });
    });
    watches.set(worker, new Map());
    worker.on('message', (msg: ToPrimary) => serve(worker, msg));
    worker.on('error', (err) => options.logger.warn({ err, pid: worker.process.pid }, 'dns: worker IPC error'));
    worker.on('exit', (code, signal) => {
      for (const w of watches.get(worker)?.values() ?? []) w.cancel();
      watches.delete(worker);
      live.delete(worker);
      serving.delete(worker);
      if (stopping) return;
      if (Date.now() - born >= HEALTHY_UPTIME_MS) restartDelay = RESTART_DELAY_MS;
      options.logger.error({ code, signal, pid: worker.process.pid, restartInMs: restartDelay }, 'dns: a worker exited; forking a replacement');
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (stopping) return;
        restarts?.inc();
        // A replacement that fails to start exits, and lands here again with a longer delay.
        ready(fork()).catch(() => undefined);
      }, restartDelay);
      restartTimers.add(timer);
      restartDelay = Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
    });
    return worker;
  };

  const stopWorkers = async () => {
    stopping = true;
    for (const t of restartTimers) clearTimeout(t);
    await Promise.all(
      [...live].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            if (serving.has(w) && w.isConnected()) send(w, { t: 'stop' });
            else w.kill();
          }),
      ),
    );
  };

  // The first worker binds (port 0 becomes a real port). The others ask for the same address as
  // written (port 0 included): the primary keys shared handles by it and hands them the same sockets.
  let first: { host: string; port: number };
  try {
    first = await ready(fork());
    await Promise.all(Array.from({ length: options.workers - 1 }, () => ready(fork())));
  } catch (err) {
    await stopWorkers();
    throw err;
  }
  if (options.metrics) publishWorkerMetrics(options.metrics, () => [...serving], ask);

  const extra: { host: string; port: number }[] = [];
  let closing: Promise<void> | undefined;
  return {
    address: first,
    async addListener(a) {
      const wanted = typeof a === 'string' ? parseHostPort(a, 53) : a;
      const text = formatAddress(wanted);
      if (closing) throw dnsError(DNS_BAD_ADDRESS, `cannot listen on ${text}: the DNS server is closing`);
      const served = [first, ...extra].find((l) => l.host === wanted.host && l.port === wanted.port);
      if (served) return { ...served };
      const answers = await Promise.all([...serving].map((w) => ask(w, (id) => ({ t: 'listen', id, address: text }), WORKER_START_TIMEOUT_MS)));
      const failed = answers.find((m) => m?.t !== 'listening' || m.error !== undefined);
      const bound = answers[0];
      if (failed !== undefined || bound?.t !== 'listening') {
        const why = failed?.t === 'listening' ? failed.error : 'a worker did not answer';
        throw dnsError(DNS_BAD_ADDRESS, `cannot listen on ${text}: ${why}`);
      }
      // Port 0: every worker asked for it the same way, so they share one socket on one new port.
      const address = { host: bound.host ?? wanted.host, port: bound.port ?? wanted.port };
      settings.extra.push(text);
      extra.push(address);
      return { ...address };
    },
    listeners: () => [{ ...first }, ...extra.map((e) => ({ ...e }))],
    pids: () => [...serving].map((w) => w.process.pid!),
    close() {
      closing ??= stopWorkers();
      return closing;
    },
  };
}

/**
 * Publishes the workers' metrics in the primary's registry under their own names: each scrape
 * asks every live worker for its metrics (as JSON) and sums them, histograms bucket by bucket
 * (prom-client's cluster aggregation). Metric names are learned from the first answer.
 */
function publishWorkerMetrics(
  registry: MetricsRegistry,
  workers: () => Worker[],
  ask: (w: Worker, make: (id: number) => ToWorker, timeoutMs: number) => Promise<ToPrimary | undefined>,
): void {
  let pending: Promise<ReturnType<typeof AggregatorRegistry.aggregate>> | undefined;
  /** One collection per scrape: the proxied metrics of one scrape are read concurrently and share it. */
  const aggregate = () =>
    (pending ??= Promise.all(workers().map((w) => ask(w, (id) => ({ t: 'metrics', id }), METRICS_TIMEOUT_MS))).then((answers) => {
      pending = undefined;
      return AggregatorRegistry.aggregate(answers.flatMap((m) => (m?.t === 'metrics' ? [m.metrics] : [])));
    }));
  const proxies = new Set<string>();
  const learn = (metrics: MetricObjectWithValues<MetricValue<string>>[]) => {
    for (const m of metrics) {
      if (proxies.has(m.name) || registry.getSingleMetric(m.name)) continue;
      proxies.add(m.name);
      const proxy = {
        name: m.name,
        help: m.help,
        type: m.type,
        aggregator: m.aggregator,
        async get() {
          const metric = (await aggregate()).getSingleMetric(m.name);
          return metric ? metric.get() : { name: m.name, help: m.help, type: m.type, aggregator: m.aggregator, values: [] };
        },
        reset() {},
      };
      registry.registerMetric(proxy as unknown as Metric);
    }
  };
  const one = workers()[0];
  if (one) void ask(one, (id) => ({ t: 'metrics', id }), WORKER_START_TIMEOUT_MS).then((m) => m?.t === 'metrics' && learn(m.metrics));
}

/** The worker's read-only view of the primary's store: only what `Snapshot.open` uses. */
export class IpcKV implements KV {
  private seq = 0;
  private readonly lists = new Map<number, { resolve: (r: ListResult) => void; reject: (e: Error) => void }>();
  private readonly watchers = new Map<number, { onEvents: (e: WatchEvent[]) => void; onError?: (e: Error) => void }>();

  constructor(private readonly send: (m: ToPrimary) => void) {}

  /** Feed messages from the primary here. */
  receive(msg: ToWorker): void {
    if (msg.t === 'list') {
      const p = this.lists.get(msg.id);
      this.lists.delete(msg.id);
      if (msg.result) p?.resolve(msg.result);
      else p?.reject(new Error(msg.error ?? 'list failed'));
    } else if (msg.t === 'events') {
      this.watchers.get(msg.id)?.onEvents(msg.events);
    } else if (msg.t === 'watch-error') {
      // With its code, so the worker's snapshot re-lists after a compaction as the primary's does.
      this.watchers.get(msg.id)?.onError?.(msg.code ? new PharosError(msg.code, msg.error) : new Error(msg.error));
    }
  }

  list(prefix: string): Promise<ListResult> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.lists.set(id, { resolve, reject });
      this.send({ t: 'list', id, prefix });
    });
  }

  watch(prefix: string, afterRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Watch {
    const id = ++this.seq;
    this.watchers.set(id, { onEvents, onError });
    this.send({ t: 'watch', id, prefix, after: afterRevision });
    return {
      cancel: () => {
        if (this.watchers.delete(id)) this.send({ t: 'cancel', id });
      },
    };
  }

  private readOnly(): Promise<never> {
    return Promise.reject(new Error('the DNS worker store view is read-only'));
  }
  get(): Promise<KeyValue | undefined> {
    return this.readOnly();
  }
  create(): Promise<number> {
    return this.readOnly();
  }
  update(): Promise<number> {
    return this.readOnly();
  }
  delete(): Promise<number> {
    return this.readOnly();
  }
  txn(): Promise<number> {
    return this.readOnly();
  }
  revision(): Promise<number> {
    return this.readOnly();
  }
  compact(): Promise<void> {
    return this.readOnly();
  }
  async close(): Promise<void> {
    for (const id of [...this.watchers.keys()]) this.send({ t: 'cancel', id });
    this.watchers.clear();
  }
}
