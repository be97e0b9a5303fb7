/**
 * Processes and threads of a benchmarked server, from /proc: pin every thread to a CPU, and show
 * where each thread was allowed to run, where it last ran and how much CPU it used — so a
 * comparison can show that both servers really ran where the table says.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ThreadInfo {
  pid: number;
  tid: number;
  comm: string;
  /** `Cpus_allowed_list`, e.g. `1` or `0-1`. */
  allowed: string;
  /** CPU the thread last ran on. */
  lastCpu: number;
  /** user + system CPU time so far, ms. */
  cpuMs: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the thread or process ended meanwhile
  }
}

/** The process and its descendants (cluster workers), by walking /proc. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = parents.get(ppid) ?? [];
    list.push(Number(name));
    parents.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const child of parents.get(pid) ?? []) walk(child);
  };
  walk(root);
  return out;
}

/** Every thread of the process tree under `root`. */
export function threads(root: number): ThreadInfo[] {
  const out: ThreadInfo[] = [];
  for (const pid of processTree(root)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      const base = `/proc/${pid}/task/${t}`;
      const stat = read(`${base}/stat`);
      const status = read(`${base}/status`);
      if (!stat || !status) continue;
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Fields after the command: state is field 3, so field n is at index n - 3.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({
        pid,
        tid: Number(t),
        comm,
        allowed: /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '?',
        lastCpu: Number(f[39 - 3]),
        cpuMs: ((Number(f[14 - 3]) + Number(f[15 - 3])) * 1000) / CLOCK_TICKS_PER_SECOND,
      });
    }
  }
  return out;
}

/** Pins every thread of every process under `root` to `cpus` (`taskset -a -p`), and checks it held. */
export function pinAll(root: number, cpus: string): void {
  for (const pid of processTree(root)) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${r.stderr}`);
  }
  const loose = threads(root).filter((t) => t.allowed !== cpus);
  if (loose.length > 0) throw new Error(`threads not pinned to ${cpus}: ${loose.map((t) => `${t.tid} ${t.comm} ${t.allowed}`).join(', ')}`);
}

/**
 * One line per busy thread: `comm tid allowed=… last=… cpu=…ms` with CPU used since `before`
 * (threads under 1% of the busiest are summed into one "others" entry to keep it readable).
 */
export function placement(root: number, before: ThreadInfo[] = []): string {
  const prior = new Map(before.map((t) => [t.tid, t.cpuMs]));
  const now = threads(root).map((t) => ({ ...t, used: t.cpuMs - (prior.get(t.tid) ?? 0) }));
  const busiest = Math.max(1, ...now.map((t) => t.used));
  const shown = now.filter((t) => t.used >= busiest / 100);
  const rest = now.filter((t) => t.used < busiest / 100);
  const parts = shown.map((t) => `${t.comm}[${t.pid === t.tid ? t.pid : `${t.pid}/${t.tid}`}] allowed=${t.allowed} last=${t.lastCpu} cpu=${Math.round(t.used)}ms`);
  if (rest.length > 0) {
    const allowed = [...new Set(rest.map((t) => t.allowed))].join('|');
    parts.push(`${rest.length} idle threads allowed=${allowed} cpu=${Math.round(rest.reduce((s, t) => s + t.used, 0))}ms`);
  }
  return parts.join('; ');
}

/** CPU (ms) used so far by every thread under `root`. */
export function treeCpuMs(root: number): number {
  return threads(root).reduce((s, t) => s + t.cpuMs, 0);
}

export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
