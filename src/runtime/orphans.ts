import { readFileSync, promises as fs } from 'node:fs';

/** Every container (and everything it forks) carries its task id... */
export const ENV_TASK_ID = 'PHAROS_TASK_ID';
/** ...and the identity of the server that started it, so a restarted server can tell orphans from live tasks. */
export const ENV_SERVER = 'PHAROS_SERVER';

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

/**
 * Finds processes that a Pharos server started as containers (they carry PHAROS_TASK_ID and
 * PHAROS_SERVER in their initial environment) whose server is gone, and SIGKILLs them. A
 * container of a live server — this one or another on the same machine — is left alone.
 * Linux only (reads /proc); elsewhere it does nothing. Returns the pids killed.
 */
export async function killOrphans(): Promise<number[]> {
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return [];
  }
  const me = serverIdentity();
  const killed: number[] = [];
  await Promise.all(
    entries.map(async (name) => {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
      let environ: string;
      try {
        environ = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
      } catch {
        return; // gone, or not ours to read
      }
      let task: string | undefined;
      let server: string | undefined;
      for (const kv of environ.split('\0')) {
        if (kv.startsWith(`${ENV_TASK_ID}=`)) task = kv.slice(ENV_TASK_ID.length + 1);
        else if (kv.startsWith(`${ENV_SERVER}=`)) server = kv.slice(ENV_SERVER.length + 1);
      }
      if (task === undefined || server === undefined || server === me) return;
      const serverPid = Number(server.split('@')[0]);
      if (Number.isInteger(serverPid) && serverPid > 0 && processIdentity(serverPid) === server) return;
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // exited meanwhile
      }
    }),
  );
  return killed;
}
