import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';

/** PATH used when neither the container nor the server has one (Docker's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** A host networking command (`ip`, `nsenter`) that takes longer than this is stuck, not slow. */
const HOST_COMMAND_TIMEOUT_MS = 10_000;

type Resolved = { ok: true; file: string } | { ok: false; detail: string };

/**
 * Finds the executable a container's argv[0] names, the way execvp would: a name with a `/` is a
 * path (relative to the working directory), anything else is looked up in PATH. Done before
 * spawning so a missing program is a clear start error instead of an exit code of some wrapper.
 */
export async function resolveExecutable(file: string, pathVar: string, cwd: string): Promise<Resolved> {
  if (file === '') return { ok: false, detail: 'is empty' };
  if (file.includes('/')) return check(path.resolve(cwd, file));
  let sawNotExecutable: Resolved | undefined;
  for (const dir of pathVar.split(':')) {
    if (dir === '') continue;
    const r = await check(path.resolve(cwd, dir, file));
    if (r.ok) return r;
    if (r.detail !== 'not found') sawNotExecutable ??= r;
  }
  return sawNotExecutable ?? { ok: false, detail: 'not found in PATH' };
}

async function check(full: string): Promise<Resolved> {
  try {
    const st = await fs.stat(full);
    if (st.isDirectory()) return { ok: false, detail: 'is a directory' };
    await fs.access(full, constants.X_OK);
    return { ok: true, file: full };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, detail: code === 'EACCES' ? 'is not executable' : 'not found' };
  }
}

export async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

interface HostCommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a host tool (never through a shell), optionally feeding stdin; never rejects. */
export function runHostCommand(file: string, args: string[], input?: string): Promise<HostCommandResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: HOST_COMMAND_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string };
      const code = typeof e.code === 'number' ? e.code : e.code === 'ENOENT' ? 127 : 1;
      resolve({ code, stdout: stdout ?? '', stderr: stderr || e.message });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Sends `sig` to a whole process group; a group that is already gone is not an error. */
export function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: every member has exited already.
  }
}
