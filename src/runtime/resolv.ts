import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadRuntimeConfigError } from './errors.ts';
import { parseIpv4 } from './ipalloc.ts';
import type { TaskResolverConfig } from './runtime.ts';

/**
 * Per-namespace files that `ip netns exec` bind-mounts over /etc (iproute2's NETNS_ETC_DIR):
 * `<dir>/<netns>/resolv.conf` becomes /etc/resolv.conf for a task's containers.
 */
export const ETC_NETNS_DIR = '/etc/netns';
/**
 * resolv.conf options for tasks: the nameserver is on the bridge and answers in well under a
 * millisecond, so a lost datagram is better retried after 1 s than glibc's default 5 s.
 */
export const TASK_RESOLV_OPTIONS: readonly string[] = ['timeout:1', 'attempts:3'];
/** glibc reads at most 3 nameservers (MAXNS). */
const MAX_NAMESERVERS = 3;
/** glibc's search list limit (since 2.26: 6 domains of 256 characters for older resolvers). */
const MAX_SEARCH_DOMAINS = 6;

/** resolv.conf(5) text; refuses what would be a broken or injected file. */
export function renderResolvConf(config: TaskResolverConfig): string {
  const { nameservers, search = [], options = TASK_RESOLV_OPTIONS } = config;
  if (!Array.isArray(nameservers) || nameservers.length === 0 || nameservers.length > MAX_NAMESERVERS || !nameservers.every((n) => parseIpv4(n) !== undefined)) {
    throw new BadRuntimeConfigError(`task nameservers must be 1-${MAX_NAMESERVERS} IPv4 addresses, got ${JSON.stringify(nameservers)}`);
  }
  if (search.length > MAX_SEARCH_DOMAINS || !search.every((d) => /^[A-Za-z0-9_.-]{1,253}$/.test(d))) {
    throw new BadRuntimeConfigError(`task search domains must be at most ${MAX_SEARCH_DOMAINS} domain names, got ${JSON.stringify(search)}`);
  }
  if (!options.every((o) => /^[A-Za-z0-9_:.-]{1,64}$/.test(o))) throw new BadRuntimeConfigError(`bad resolv.conf options ${JSON.stringify(options)}`);
  const lines = ['# Written by Pharos for this task (removed with its network namespace)', ...nameservers.map((n) => `nameserver ${n}`)];
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The host path of a namespace's resolv.conf (shown to its containers as /etc/resolv.conf). */
export function resolvConfPath(netns: string): string {
  return path.join(ETC_NETNS_DIR, netns, 'resolv.conf');
}

/** Writes `/etc/netns/<netns>/resolv.conf`. */
export async function writeResolvConf(netns: string, text: string): Promise<void> {
  await fs.mkdir(path.join(ETC_NETNS_DIR, netns), { recursive: true });
  await fs.writeFile(resolvConfPath(netns), text, { mode: 0o644 });
}

/** Removes `/etc/netns/<netns>` (the task's resolv.conf); never rejects. */
export async function removeEtcDir(netns: string): Promise<void> {
  await fs.rm(path.join(ETC_NETNS_DIR, netns), { recursive: true, force: true }).catch(() => undefined);
}
