#!/usr/bin/env node
/**
 * Builds the native addons under native/ (today: native/udpbatch, batched UDP for DNS) with
 * node-gyp — npm's own copy, against this Node's headers, offline — when the addon is missing or
 * older than its sources; otherwise does nothing. scripts/build.js runs it, so `npm ci`, `npm
 * start` and `npm test` all build it. A failed build is a warning, not an error: Pharos then
 * answers DNS through node's dgram (see src/dns/udpbatch.ts). `--force` always builds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADDONS = [{ dir: join(ROOT, 'native', 'udpbatch'), sources: ['binding.gyp', 'udpbatch.c'], output: 'build/Release/udpbatch.node' }];

/** npm sets npm_config_node_gyp in its scripts; run by hand, npm's copy sits beside this node. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  return candidates.find((p) => p && existsSync(p));
}

/** This node's headers, so node-gyp need not download them (there may be no network). */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

const force = process.argv.includes('--force');
for (const addon of ADDONS) {
  const output = join(addon.dir, addon.output);
  const stale = force || !existsSync(output) || addon.sources.some((s) => statSync(join(addon.dir, s)).mtimeMs > statSync(output).mtimeMs);
  if (!stale) continue;
  const warn = (why) => process.stderr.write(`build: native addon ${addon.dir} not built (${why}); DNS uses node's dgram instead\n`);
  if (process.platform !== 'linux') continue; // recvmmsg/sendmmsg: nothing to build elsewhere
  const gyp = nodeGyp();
  if (!gyp) {
    warn('node-gyp not found');
    continue;
  }
  const dir = nodeDir();
  const r = spawnSync(process.execPath, [gyp, 'rebuild', ...(dir ? [`--nodedir=${dir}`] : [])], { cwd: addon.dir, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-20).join('\n'));
    warn(`node-gyp exited with ${r.status ?? r.signal}; it needs python3, make and a C compiler`);
  }
}
