/**
 * Start-to-ready time and resident memory of `pharos server`: spawn `bin/pharos.js server` on a
 * fresh data directory, time until `/ping` answers 200, read VmRSS then, stop it. With `--base DIR`
 * the same is done for another checkout (e.g. one that still runs TypeScript through tsx), rounds
 * alternating, so both are measured under the same load.
 *
 *   node --import tsx bench/startup.ts [--rounds 10] [--base /path/to/other/checkout]
 */
import { rmSync } from 'node:fs';
import { ROOT, rssMiB, startServerProcess, tempDataDir } from './api-lib.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(flag('--rounds') ?? 10);
const base = flag('--base');

interface Sample {
  readyMs: number;
  rssMiB: number;
}

async function once(root: string): Promise<Sample> {
  const dir = tempDataDir();
  try {
    const server = await startServerProcess(['--data-dir', dir, '--log-level', 'warn'], root);
    const sample = { readyMs: server.readyMs, rssMiB: rssMiB(server.child.pid!) };
    await server.stop();
    return sample;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const targets = base ? [{ name: 'base', root: base }, { name: 'this', root: ROOT }] : [{ name: 'this', root: ROOT }];
const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
await once(ROOT); // warm the file cache once
if (base) await once(base);
for (let r = 0; r < rounds; r++) {
  for (const t of targets) samples.get(t.name)!.push(await once(t.root));
}
console.log('| checkout | start → /ping 200, median (min–max) | RSS at ready, median (min–max) |');
console.log('|---|---|---|');
for (const t of targets) {
  const s = samples.get(t.name)!;
  const ready = s.map((x) => x.readyMs);
  const rss = s.map((x) => x.rssMiB);
  console.log(
    `| ${t.name} (${t.root}) | ${median(ready).toFixed(0)} ms (${Math.min(...ready).toFixed(0)}–${Math.max(...ready).toFixed(0)}) | ${median(rss).toFixed(1)} MiB (${Math.min(...rss).toFixed(1)}–${Math.max(...rss).toFixed(1)}) |`,
  );
}
