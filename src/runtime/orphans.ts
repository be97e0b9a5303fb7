import { readFileSync, promises as fs } from 'node:fs';

/** Every container (and everything it forks) carries its task id... */
export const ENV_TASK_ID = 'PHAROS_TASK_ID';
/** ...and the identity of the server that started it, so a restarted server can tell orphans from live tasks. */
export const ENV_SERVER = 'PHAROS_SERVER';
/**
 * ...and the identity of the server's data directory (`<data-dir>/server-id`), when it has one:
 * cleanup() kills only orphans of its own identity, never those of another server sharing the host.
 */
export const ENV_OWNER = 'PHAROS_OWNER';

/**
 * `<pid>@<start time>` of a process: the start time (clock ticks since boot, /proc/<pid>/stat
 * field 22) tells a live server from an unrelated process that reused its pid.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${pid}@${fields[19]}`;
  } catch {
    return undefined;
  }
}

let self: string | undefined;
/** This server's identity, stamped on every container it starts (PHAROS_SERVER). */
export function serverIdentity(): string {
  self ??= processIdentity(process.pid) ?? `${process.pid}@?`;
  return self;
}

/** After SIGKILL, how long cleanup() waits for the orphans to be gone (their ports and files released by the kernel). */
const ORPHAN_EXIT_WAIT_MS = 2000;
const ORPHAN_EXIT_POLL_MS = 10;

interface ProcInfo {
  pid: number;
  pgid: number;
  sid: number;
  /** PHAROS_SERVER from the initial environment, when PHAROS_TASK_ID is there too. */
  server?: string;
  /** PHAROS_OWNER from the initial environment, with `server`. */
  owner?: string;
}

/**
 * Finds containers that a Pharos server started (they carry PHAROS_TASK_ID and PHAROS_SERVER in
 * their initial environment) whose server is gone, and SIGKILLs them with their process groups.
 * A container of a live server — this one or another on the same machine — is left alone, and so
 * is one whose `PHAROS_OWNER` is not `owner` (another server's, which cleans up after itself).
 *
 * A container's main process leads its own session (spawned `detached`), so every process in that
 * session descends from it: those are killed too, even ones that cleared their environment or
 * moved to another process group. A session is only taken whole when its leader is gone or is
 * itself an orphaned container; a marked process inside someone else's live session (a forged
 * environment in a login shell) is killed alone. Resolves once the killed processes have exited
 * (or after ORPHAN_EXIT_WAIT_MS), so a replacement can bind their ports at once. Linux only
 * (reads /proc); elsewhere it does nothing. Returns the pids killed.
 */
export async function killOrphans(owner = ''): Promise<number[]> {
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return [];
  }
  const me = serverIdentity();
  const own = readProc(process.pid);
  const procs = (await Promise.all(entries.map((name) => readProcAsync(Number(name))))).filter((p): p is ProcInfo => p !== undefined);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const alive = new Map<string, boolean>();
  const isOrphan = (p: ProcInfo | undefined): boolean => {
    if (p?.server === undefined || p.server === me || (p.owner ?? '') !== owner) return false;
    let live = alive.get(p.server);
    if (live === undefined) {
      const serverPid = Number(p.server.split('@')[0]);
      live = Number.isInteger(serverPid) && serverPid > 0 && processIdentity(serverPid) === p.server;
      alive.set(p.server, live);
    }
    return !live;
  };

  const victims = new Set<number>();
  const sessions = new Set<number>();
  for (const p of procs) {
    if (!isOrphan(p)) continue;
    victims.add(p.pid);
    const leader = byPid.get(p.sid);
    if (p.sid > 1 && (leader === undefined || isOrphan(leader))) sessions.add(p.sid);
  }
  for (const p of procs) if (sessions.has(p.sid)) victims.add(p.pid);
  // Never this process, its group or session, nor init: whatever the environment says.
  for (const pid of [...victims]) {
    const p = byPid.get(pid)!;
    if (pid <= 1 || pid === process.pid || (own !== undefined && (p.sid === own.sid || p.pgid === own.pgid))) victims.delete(pid);
  }

  const groups = new Set<number>();
  const killed: number[] = [];
  for (const pid of victims) {
    const p = byPid.get(pid)!;
    // The whole group when it is a victims' group (led by a victim, or in a victims' session).
    if (p.pgid > 1 && (victims.has(p.pgid) || sessions.has(p.sid)) && !groups.has(p.pgid)) {
      groups.add(p.pgid);
      try {
        process.kill(-p.pgid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  await waitGone(killed);
  return killed;
}

/** Waits until none of `pids` runs any more (gone, or a zombie: its sockets are closed already). */
async function waitGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + ORPHAN_EXIT_WAIT_MS;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    left = left.filter((pid) => {
      const p = statFields(pid);
      return p !== undefined && p[0] !== 'Z' && p[0] !== 'X';
    });
    if (left.length > 0) await new Promise((r) => setTimeout(r, ORPHAN_EXIT_POLL_MS));
  }
}

/** /proc/<pid>/stat fields from field 3 (state) on; undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function readProc(pid: number): ProcInfo | undefined {
  const f = statFields(pid);
  return f === undefined ? undefined : { pid, pgid: Number(f[2]), sid: Number(f[3]) };
}

async function readProcAsync(pid: number): Promise<ProcInfo | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const info = readProc(pid);
  if (info === undefined) return undefined;
  let environ: string;
  try {
    environ = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return info; // not ours to read (or gone): never a victim by its own marks
  }
  let task: string | undefined;
  let server: string | undefined;
  let owner: string | undefined;
  for (const kv of environ.split('\0')) {
    if (kv.startsWith(`${ENV_TASK_ID}=`)) task = kv.slice(ENV_TASK_ID.length + 1);
    else if (kv.startsWith(`${ENV_SERVER}=`)) server = kv.slice(ENV_SERVER.length + 1);
    else if (kv.startsWith(`${ENV_OWNER}=`)) owner = kv.slice(ENV_OWNER.length + 1);
  }
  if (task !== undefined && server !== undefined) {
    info.server = server;
    if (owner !== undefined) info.owner = owner;
  }
  return info;
}
