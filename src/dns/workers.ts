import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../lib/index.ts';
import type { KV, KeyValue, ListResult, Watch, WatchEvent } from '../store/index.ts';
import { DNS_BAD_ADDRESS, dnsError } from './errors.ts';

/**
 * DNS answered by several processes sharing one UDP socket and one TCP listener (node's cluster
 * module: the primary owns the sockets, the kernel spreads datagrams over the workers). Each
 * worker keeps its own snapshot, fed over IPC from the primary's store: `list` and `watch` are
 * relayed, so a worker sees exactly the store's revisions, in order, like an in-process snapshot.
 *
 * Used by `bench/dns.ts --workers n`. Worker metrics stay in the workers (not aggregated).
 */

/** How long a worker may take to load its snapshot and bind before start fails. */
const WORKER_START_TIMEOUT_MS = 20_000;

export interface DnsWorkersOptions {
  kv: KV;
  workers: number;
  /** `host:port`; port 0 picks a free port, shared by all workers. */
  address: string;
  forward?: string;
  maxAnswers?: number;
  logger: Logger;
}

export interface DnsWorkers {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** Settings a worker reads from its environment. */
export interface WorkerSettings {
  address: string;
  forward?: string;
  maxAnswers?: number;
}

/** Messages between primary and workers. */
export type ToWorker =
  | { t: 'list'; id: number; result?: ListResult; error?: string }
  | { t: 'events'; id: number; events: WatchEvent[] }
  | { t: 'watch-error'; id: number; error: string }
  | { t: 'stop' };
export type ToPrimary =
  | { t: 'list'; id: number; prefix: string }
  | { t: 'watch'; id: number; prefix: string; after: number }
  | { t: 'cancel'; id: number }
  | { t: 'ready'; host: string; port: number };

export const WORKER_ENV = 'PHAROS_DNS_WORKER';

export async function startDnsWorkers(options: DnsWorkersOptions): Promise<DnsWorkers> {
  if (!cluster.isPrimary) throw dnsError(DNS_BAD_ADDRESS, 'DNS workers must be started from the primary process');
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] });
  const settings: WorkerSettings = { address: options.address, forward: options.forward, maxAnswers: options.maxAnswers };
  const workers: Worker[] = [];
  const watches = new Map<Worker, Map<number, Watch>>();
  let stopping = false;

  const serve = (worker: Worker, msg: ToPrimary) => {
    const send = (m: ToWorker) => {
      if (worker.isConnected()) worker.send(m);
    };
    switch (msg.t) {
      case 'list':
        options.kv.list(msg.prefix).then(
          (result) => send({ t: 'list', id: msg.id, result }),
          (err: Error) => send({ t: 'list', id: msg.id, error: err.message }),
        );
        break;
      case 'watch': {
        const w = options.kv.watch(
          msg.prefix,
          msg.after,
          (events) => send({ t: 'events', id: msg.id, events }),
          (err) => send({ t: 'watch-error', id: msg.id, error: err.message }),
        );
        watches.get(worker)!.set(msg.id, w);
        break;
      }
      case 'cancel':
        watches.get(worker)!.get(msg.id)?.cancel();
        watches.get(worker)!.delete(msg.id);
        break;
      case 'ready':
        break;
    }
  };

  const ready = (worker: Worker) =>
    new Promise<{ host: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(dnsError(DNS_BAD_ADDRESS, 'a DNS worker did not start')), WORKER_START_TIMEOUT_MS);
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
    watches.set(worker, new Map());
    worker.on('message', (msg: ToPrimary) => serve(worker, msg));
    worker.on('exit', (code, signal) => {
      for (const w of watches.get(worker)?.values() ?? []) w.cancel();
      watches.delete(worker);
      if (!stopping) options.logger.error({ code, signal }, 'dns: a worker exited');
    });
    workers.push(worker);
    return worker;
  };

  // The first worker binds (port 0 becomes a real port). The others ask for the same address as
  // written (port 0 included): the primary keys shared handles by it and hands them the same sockets.
  const first = await ready(fork());
  await Promise.all(Array.from({ length: options.workers - 1 }, () => ready(fork())));

  let closing: Promise<void> | undefined;
  return {
    address: first,
    close() {
      closing ??= (async () => {
        stopping = true;
        await Promise.all(
          workers.map(
            (w) =>
              new Promise<void>((resolve) => {
                if (w.isDead()) return resolve();
                w.once('exit', () => resolve());
                if (w.isConnected()) w.send({ t: 'stop' } satisfies ToWorker);
                else w.kill();
              }),
          ),
        );
      })();
      return closing;
    },
  };
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
      this.watchers.get(msg.id)?.onError?.(new Error(msg.error));
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
