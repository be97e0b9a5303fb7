/**
 * The README's first session, run as a new user would: the fenced shell block after the
 * `readme-session` marker, pasted into bash with the installed AWS CLI, against a fresh server.
 * Its output must match the example output the README shows.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SETTINGS } from '../src/cli/index.ts';
import { ROOT, cliEndpoint, haveCommand, requireOrSkip, runChild, startTestServer, tempDir, type TestServer } from './helpers.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The first fenced block of `lang` after `marker`. */
function fencedBlockAfter(marker: string, lang: string, from = 0): { body: string; end: number } {
  const start = README.indexOf(marker, from);
  assert.ok(start >= 0, `README has ${marker}`);
  const open = README.indexOf('```' + lang + '\n', start);
  assert.ok(open >= 0, `a \`\`\`${lang} block follows ${marker}`);
  const bodyStart = open + lang.length + 4;
  const close = README.indexOf('\n```', bodyStart);
  return { body: README.slice(bodyStart, close + 1), end: close + 4 };
}

describe('README', () => {
  test('starts with the two commands that work on a fresh machine', () => {
    const first = fencedBlockAfter('# Pharos', 'sh').body;
    assert.match(first, /^npm ci && npm start\b/m);
    assert.match(first, /^npm ci && npm test\b/m);
  });

  test('says how to run pharos and which build tools npm ci may need', () => {
    assert.match(README, /npx pharos version/);
    // As the README says to run it: npx, from the checkout (no global install).
    const version = spawnSync('npx', ['--no-install', 'pharos', 'version'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^pharos \d+\.\d+\.\d+\n$/);
    for (const tool of ['g++', 'make', 'python3']) assert.ok(README.includes(`\`${tool}\``), `README names ${tool}`);
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    for (const tool of ['g++', 'make', 'python3']) assert.match(ci, new RegExp(`^\\s+${tool.replace('+', '\\+')}$`, 'm'), `.ci/run installs ${tool}`);
  });

  test('documents every server flag in its flags table', () => {
    for (const s of SETTINGS) {
      assert.ok(README.includes(`| \`${s.flag}\` | \`${s.env}\` |`), `README flags table lists ${s.flag}`);
    }
  });

  const skip = requireOrSkip(haveCommand('aws'), 'the AWS CLI (aws)');
  describe('the first session', { skip }, () => {
    let s: TestServer;
    let home = '';
    before(async () => {
      s = await startTestServer();
      home = tempDir('pharos-home-');
    });
    after(async () => {
      await s.destroy();
      rmSync(home, { recursive: true, force: true });
    });

    test('runs as written and prints what the README shows', async () => {
      const session = fencedBlockAfter('<!-- readme-session', 'sh');
      const expected = JSON.parse(fencedBlockAfter('The last command prints', 'json', 0).body) as { Instances: unknown[] };
      // A new user: an empty home (no ~/.aws), only PATH from this machine.
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', PHAROS_ENDPOINT: await cliEndpoint(s.apiUrl) };
      // Twice against the same server: a second run must end the same way (issue: it looped forever).
      const ids: string[] = [];
      for (const round of [1, 2]) {
        const r = await runChild('bash', ['-e', '-o', 'pipefail', '-c', session.body], { env });
        assert.equal(r.code, 0, `session (run ${round}) failed:\n${r.stdout}\n${r.stderr}`);
        const ns = /^namespace (ns-[a-z0-9]{16}) is SUCCESS$/m.exec(r.stdout);
        const srv = /^service (srv-[a-z0-9]{16})$/m.exec(r.stdout);
        assert.ok(ns && srv, r.stdout);
        ids.push(`${ns[1]} ${srv[1]}`);
        const json = JSON.parse(r.stdout.slice(r.stdout.search(/^\{/m))) as { Instances: unknown[]; InstancesRevision: number };
        assert.deepEqual(json.Instances, expected.Instances);
        assert.equal(typeof json.InstancesRevision, 'number');
      }
      assert.equal(ids[1], ids[0], 'the second run finds the same namespace and service');
    });

    test('every loop in the session is bounded', () => {
      const session = fencedBlockAfter('<!-- readme-session', 'sh').body;
      assert.doesNotMatch(session, /\b(until|while)\b/);
    });
  });
});
