/**
 * The server people deploy runs compiled JavaScript: `bin/pharos.js` imports dist/ (built from src/
 * by `npm ci`, `npm start` and `npm test` when stale), tsx is only a development dependency, and
 * stack traces point into src/ through the source maps.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('compiled JavaScript', () => {
  test('the bin runs dist/, and tsx is not a runtime dependency', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    assert.equal(pkg['dependencies']!['tsx'], undefined);
    assert.ok(pkg['devDependencies']!['tsx']);
    for (const script of ['prepare', 'prestart']) assert.match(pkg['scripts']![script]!, /scripts\/build\.js/);
    const bin = readFileSync(join(ROOT, 'bin/pharos.js'), 'utf8');
    assert.doesNotMatch(bin, /tsx/);
    assert.match(bin, /\.\.\/dist\/cli\/main\.js/);
    assert.ok(existsSync(join(ROOT, 'dist/cli/main.js.map')), 'source maps are built');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/pharos.js'), '--version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^pharos \d+\.\d+\.\d+/);
  });

  test('stack traces from dist/ point into src/', () => {
    const script = `process.setSourceMapsEnabled(true);
      const { commandArgv } = await import(${JSON.stringify(new URL('../dist/health/index.js', import.meta.url).href)});
      try { commandArgv([]); } catch (err) { console.log(err.stack); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /at commandArgv \(.*src\/health\/command\.ts:\d+:\d+\)/);
  });
});
