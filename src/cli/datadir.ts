import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.ts';

/** The data directory holds the store, task working directories and this server's identity: its owner only. */
const DATA_DIR_MODE = 0o700;
/** `<data-dir>/server-id`: who created the host-global things (bridge, namespaces, veths, processes) a server may clean up. */
const SERVER_ID_FILE = 'server-id';
/** 8 base-36 characters: short enough for namespace names, 2.8e12 values so two data dirs never share one. */
const SERVER_ID_PATTERN = /^[a-z0-9]{8}$/;

/**
 * Creates the data directory (mode 0700; an existing one is narrowed to 0700 too, since it holds
 * the database and task files) and returns this server's identity, created on first start and
 * kept in `<data-dir>/server-id`. Two servers on one host with different data directories have
 * different identities, and each cleans up only what carries its own.
 */
export function prepareDataDir(dataDir: string): { serverId: string } {
  try {
    mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
    if ((statSync(dataDir).mode & 0o777) !== DATA_DIR_MODE) chmodSync(dataDir, DATA_DIR_MODE);
  } catch (err) {
    throw new ConfigError(`--data-dir ${dataDir}: ${(err as Error).message}`);
  }
  const file = join(dataDir, SERVER_ID_FILE);
  let serverId: string | undefined;
  try {
    serverId = readFileSync(file, 'utf8').trim();
  } catch {
    serverId = undefined;
  }
  if (serverId !== undefined && SERVER_ID_PATTERN.test(serverId)) return { serverId };
  if (serverId !== undefined) throw new ConfigError(`${file} does not hold a server id (8 lower-case letters or digits); remove it to make a new one`);
  serverId = newServerId();
  try {
    // wx: two servers starting on one fresh data dir must not each write their own.
    writeFileSync(file, `${serverId}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return prepareDataDir(dataDir);
    throw new ConfigError(`--data-dir ${dataDir}: cannot write ${SERVER_ID_FILE}: ${(err as Error).message}`);
  }
  return { serverId };
}

function newServerId(): string {
  let id = '';
  for (const b of randomBytes(8)) id += (b % 36).toString(36);
  return id;
}
