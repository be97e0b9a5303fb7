#!/usr/bin/env node
/**
 * Compiles src/ to dist/ (tsc -p tsconfig.build.json: ES modules with source maps) when dist/ is
 * missing or older than any source file; otherwise does nothing in a few milliseconds. `npm ci`
 * (prepare), `npm start` (prestart) and `npm test` (pretest) run it, so a fresh clone and an
 * edited checkout both run what src/ says. `--force` always builds. Then the native addons
 * (scripts/build-native.js), which are optional.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Written by every successful build: its time is the build's time. */
const STAMP = join(ROOT, 'dist', '.built');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

const stale = process.argv.includes('--force') || !existsSync(STAMP) || INPUTS.some((p) => newest(join(ROOT, p)) > statSync(STAMP).mtimeMs);
if (stale) {
  // From scratch, so a deleted source leaves no module behind in dist/.
  rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('build: tsc failed (see above); dist/ is incomplete\n');
    process.exit(r.status ?? 1);
  }
  writeFileSync(STAMP, '');
}

const native = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-native.js'), ...(process.argv.includes('--force') ? ['--force'] : [])], { cwd: ROOT, stdio: 'inherit' });
if (native.status !== 0) process.stderr.write('build: scripts/build-native.js failed; DNS uses node\'s dgram\n');
