import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteKV } from './sqlite.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const childScript = fileURLToPath(new URL('./testdata/crash-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'pharos-crash-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the writer child, SIGKILLs it after `killAfter` acknowledged writes, returns key → last acked value. */
async function runAndKill(path: string, killAfter: number): Promise<Map<string, string>> {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, path, String(killAfter)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const acked = new Map<string, string>();
  let count = 0;
  // Read to the end of the pipe: lines written before the kill are acknowledged writes too.
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === 'ready') continue;
    const [key, value] = line.split(' ');
    acked.set(key!, value!);
    if (++count === killAfter) child.kill('SIGKILL');
  }
  const how = await exited;
  assert.equal(how, 'SIGKILL', `the child should have been killed, it ended with ${how}: ${stderr}`);
  assert.ok(count >= killAfter, `child acknowledged only ${count} writes: ${stderr}`);
  return acked;
}

describe('durability under kill -9', () => {
  const path = join(root, 'crash', 'pharos.db');
  // Several kill points on the same file: each restart recovers from the previous crash first.
  for (const killAfter of [1, 150, 700, 2000]) {
    test(`every acknowledged write survives a SIGKILL after ${killAfter} acks`, async () => {
      const acked = await runAndKill(path, killAfter);

      const raw = new Database(path);
      try {
        assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
        const dangling = raw.prepare('SELECT count(*) AS n FROM kine_latest c LEFT JOIN kine l ON l.id = c.id WHERE l.id IS NULL').get() as { n: number };
        assert.equal(dangling.n, 0, 'every latest pointer names a row');
      } finally {
        raw.close();
      }

      const kv = await SqliteKV.open(path);
      try {
        for (const [key, value] of acked) {
          const got = await kv.get(key);
          assert.ok(got, `acknowledged key ${key} is missing`);
          // A write may have committed without its ack reaching us (killed in between): newer is fine.
          assert.ok(got.value >= value, `${key}: acknowledged ${value}, found ${got.value}`);
        }
        // The store keeps working after recovery.
        assert.ok((await kv.create(`/after-crash/${killAfter}`, 'x')) > 0);
      } finally {
        await kv.close();
      }
    });
  }
});
