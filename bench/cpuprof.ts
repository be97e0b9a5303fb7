/**
 * Where a server's CPU went under load, from a `node --cpu-prof` profile (`bench/dns.ts --profile
 * <dir>` writes one): self time per function over the 100 ms slices of the load only — those at
 * least 10 % in code whose path contains `--match` (default `/dns/`: the dnsperf runs, not the
 * population through the API before them, nor the pauses between runs).
 *
 *   node --import tsx bench/cpuprof.ts <file.cpuprofile> [--top 25] [--match /dns/]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: bench/cpuprof.ts <file.cpuprofile> [--top n]');
  process.exit(2);
}
const option = (flag: string) => {
  const i = rest.indexOf(flag);
  return i >= 0 ? rest[i + 1] : undefined;
};
const top = Number(option('--top') ?? 25);
const match = option('--match') ?? '/dns/';
/** Share of a slice in `match`ed code that makes it part of the load. */
const LOAD_SHARE = 0.1;
/** Slices this long are judged busy or not; shorter would make dnsperf's gaps between queries count. */
const SLICE_US = 100_000;

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const name = (n: Node) => {
  const f = n.callFrame;
  const where = f.url ? ` ${f.url.replace(/^.*\/(src|node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where}`;
};

// Sample i lasts timeDeltas[i + 1]; group samples into slices by their time.
const slices = new Map<number, { total: number; matched: number; self: Map<string, number> }>();
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const node = byId.get(profile.samples[i]!)!;
  const key = Math.floor(t / SLICE_US);
  let s = slices.get(key);
  if (!s) slices.set(key, (s = { total: 0, matched: 0, self: new Map() }));
  s.total += dt;
  const n = name(node);
  if (node.callFrame.url.includes(match)) s.matched += dt;
  s.self.set(n, (s.self.get(n) ?? 0) + dt);
}
const busy = [...slices.values()].filter((s) => s.total > 0 && s.matched >= s.total * LOAD_SHARE);
const self = new Map<string, number>();
let total = 0;
for (const s of busy) {
  total += s.total;
  for (const [n, us] of s.self) self.set(n, (self.get(n) ?? 0) + us);
}
console.log(`${busy.length} slices with ${match} of ${SLICE_US / 1000} ms (of ${slices.size}), ${(total / 1e6).toFixed(2)} s`);
for (const [n, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${n}`);
