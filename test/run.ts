/**
 * `npm test`: runs every `*.test.ts` under src/ and test/ with node's test runner. Node 20's
 * `--test` does not expand globs (that came in Node 21), so the files are found here.
 * Arguments, if any, replace the file list: `npm test -- test/api.test.ts`.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Two files at a time: the test machines have two cores, and whole-system tests start servers. */
const CONCURRENCY = process.env.PHAROS_TEST_CONCURRENCY ?? '2';

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(path));
    else if (entry.name.endsWith('.test.ts')) out.push(relative(ROOT, path));
  }
  return out.sort();
}

const args = process.argv.slice(2);
const files = args.length > 0 ? args : [...findTests(join(ROOT, 'src')), ...findTests(join(ROOT, 'test'))];
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${CONCURRENCY}`, ...files], {
  cwd: ROOT,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
