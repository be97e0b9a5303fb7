import { readFileSync } from 'node:fs';
import { BadContainerSpecError } from './errors.ts';

/** Where user and group names are looked up (no NSS: a task's user is a local account or a number). */
const PASSWD_FILE = '/etc/passwd';
const GROUP_FILE = '/etc/group';
/** util-linux setpriv(1): drops to the task's user after `ip netns exec` (which itself needs root). */
const SETPRIV = '/usr/bin/setpriv';
/** Linux uids and gids are 32-bit; (uid_t)-1 means "unchanged" to the kernel, so it is refused. */
const MAX_ID = 2 ** 32 - 2;

/** Who a container runs as: a task definition's `user`, resolved. */
export interface TaskUser {
  /** As written (`nobody`, `1000`, `1000:1000`, `app:staff`), for messages. */
  spec: string;
  uid: number;
  gid: number;
  /** The account's name when /etc/passwd has the uid: its supplementary groups are set too. */
  name?: string;
  /** The account's home directory (the container's HOME), when known. */
  home?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Resolves an ECS container `user`: `user`, `uid`, `user:group`, `uid:gid`, `uid:group` or
 * `user:gid` (Docker's forms). Names are looked up in /etc/passwd and /etc/group; a bare uid
 * with no account runs with gid = uid's primary group when known, else gid = uid.
 * Throws `BadContainerSpecError` naming the container.
 */
export function resolveUser(spec: string, container: string): TaskUser {
  const bad = (why: string) => new BadContainerSpecError(`container ${container}: user ${JSON.stringify(spec)} ${why}`, { container });
  if (typeof spec !== 'string' || spec === '' || spec.length > 256 || /[\s\0]/.test(spec)) throw bad('is not valid');
  const [u, g, ...rest] = spec.split(':');
  if (rest.length > 0 || u === '' || g === '') throw bad('must be user, uid, user:group or uid:gid');
  const passwd = readTable(PASSWD_FILE).map(parsePasswd).filter((e): e is PasswdEntry => e !== undefined);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (/^\d+$/.test(u!)) {
    uid = Number(u);
    if (uid > MAX_ID) throw bad('is out of range');
    entry = passwd.find((e) => e.uid === uid);
  } else {
    entry = passwd.find((e) => e.name === u);
    if (entry === undefined) throw bad(`names no account in ${PASSWD_FILE}`);
    uid = entry.uid;
  }
  let gid: number;
  if (g === undefined) gid = entry?.gid ?? uid;
  else if (/^\d+$/.test(g)) {
    gid = Number(g);
    if (gid > MAX_ID) throw bad('is out of range');
  } else {
    const group = readTable(GROUP_FILE).find((f) => f[0] === g);
    if (group === undefined || !/^\d+$/.test(group[2] ?? '')) throw bad(`names no group in ${GROUP_FILE}`);
    gid = Number(group[2]);
  }
  const out: TaskUser = { spec, uid, gid };
  if (entry !== undefined) {
    out.name = entry.name;
    out.home = entry.home;
  }
  return out;
}

/**
 * The setpriv arguments that make `file args` run as `user`: real and effective ids, the
 * account's supplementary groups (or none), and no_new_privs, so a setuid binary cannot take
 * back what was dropped.
 */
export function dropPrivileges(user: TaskUser, file: string, args: readonly string[]): { file: string; args: string[] } {
  const groups = user.name !== undefined && user.gid === primaryGid(user.name) ? ['--init-groups'] : ['--clear-groups'];
  return { file: SETPRIV, args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, ...groups, '--no-new-privs', '--', file, ...args] };
}

function primaryGid(name: string): number | undefined {
  return readTable(PASSWD_FILE).map(parsePasswd).find((e) => e?.name === name)?.gid;
}

/** The uid this process runs as (0 for root); undefined off POSIX. */
export function currentUid(): number | undefined {
  return process.getuid?.();
}

function readTable(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function parsePasswd(f: string[]): PasswdEntry | undefined {
  if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
}
