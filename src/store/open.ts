import { readFileSync } from 'node:fs';
import { PharosError } from '../lib/index.ts';
import { InvalidArgumentError, STORE_BAD_URL } from './errors.ts';
import type { Logger, Registry as MetricsRegistry } from '../lib/index.ts';
import { SoloCoordinator, coordinatorMetrics, type Coordinator } from './coordinator.ts';
import type { EtcdConnection, EtcdKV } from './etcd.ts';
import type { KV } from './kv.ts';
import type { SqliteKVOptions } from './sqlite.ts';

/** How to authenticate to etcd: PEM file paths for TLS (`etcds://`) and etcd's own user/password. */
export interface EtcdSettings {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
}

/** What every backend may be given: time, logs and a metrics registry (all optional), plus etcd settings. */
export type StoreOptions = SqliteKVOptions & { etcd?: EtcdSettings };

/**
 * Opens the backend a store URL names: `sqlite:<path>` (default), or
 * `etcd://host:port[,host:port...][/prefix]` (`etcds://` for TLS). Backends are imported lazily so
 * an unused one costs nothing at start.
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<KV> {
  if (typeof url === 'string' && url.startsWith('sqlite:')) {
    const { SqliteKV } = await import('./sqlite.ts');
    return SqliteKV.open(url.slice('sqlite:'.length), options);
  }
  if (typeof url === 'string' && /^etcds?:\/\//.test(url)) {
    const { EtcdKV } = await import('./etcd.ts');
    return EtcdKV.open(await etcdConnection(url, options.etcd ?? {}), options);
  }
  throw new PharosError(STORE_BAD_URL, `unsupported store URL ${JSON.stringify(url)}: use sqlite:<path> or etcd://host:port[,host:port...]`);
}

/** Whether several servers may write to the store a URL names (etcd), rather than one process owning it (SQLite's lock). */
export const isSharedStore = (url: string): boolean => /^etcds?:\/\//.test(url);

/** Turns an etcd URL and settings into a connection: reads the PEM files, checks they go together. */
export async function etcdConnection(url: string, settings: EtcdSettings): Promise<EtcdConnection> {
  const { parseEtcdUrl } = await import('./etcd.ts');
  const { endpoints, prefix, tls } = parseEtcdUrl(url);
  const conn: EtcdConnection = { endpoints, prefix };
  const files = [settings.caFile, settings.certFile, settings.keyFile];
  if (!tls && files.some((f) => f !== undefined)) throw new InvalidArgumentError('--etcd-ca/--etcd-cert/--etcd-key need an etcds:// store URL');
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) throw new InvalidArgumentError('--etcd-cert and --etcd-key go together');
  if (tls) {
    const read = (path: string | undefined, what: string) => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new InvalidArgumentError(`cannot read the etcd ${what} ${path}: ${(err as Error).message}`);
      }
    };
    conn.tls = { ca: read(settings.caFile, 'CA'), cert: read(settings.certFile, 'certificate'), key: read(settings.keyFile, 'key') };
  }
  if ((settings.username === undefined) !== (settings.password === undefined)) {
    throw new InvalidArgumentError('PHAROS_ETCD_USERNAME and PHAROS_ETCD_PASSWORD go together');
  }
  if (settings.username !== undefined) conn.auth = { username: settings.username, password: settings.password! };
  return conn;
}

/**
 * The coordinator for a store: on etcd, leader election over leases of `leaseTtlMs`; on SQLite
 * (one process owns the file), this server alone, always leading.
 */
export async function openCoordinator(url: string, kv: KV, options: { leaseTtlMs: number; logger: Logger; metrics?: MetricsRegistry }): Promise<Coordinator> {
  const metrics = options.metrics && coordinatorMetrics(options.metrics);
  if (/^etcds?:\/\//.test(url)) {
    const { EtcdCoordinator } = await import('./etcdcoordinator.ts');
    return new EtcdCoordinator(kv as EtcdKV, options.leaseTtlMs, options.logger, metrics);
  }
  metrics?.leading.set(1);
  return new SoloCoordinator(kv);
}
