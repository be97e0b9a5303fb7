import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createMetricsRegistry, isPharosError } from '../lib/index.ts';
import { STORE_BAD_URL, openStore } from './index.ts';

const root = mkdtempSync(join(tmpdir(), 'pharos-open-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('sqlite: URLs open the SQLite backend, passing metrics through', async () => {
  const metrics = createMetricsRegistry();
  const kv = await openStore(`sqlite:${join(root, 'a', 'pharos.db')}`, { metrics });
  try {
    await kv.create('/x', '1');
    assert.match(await metrics.metrics(), /pharos_store_writes_total\{result="ok"\} 1/);
  } finally {
    await kv.close();
  }
});

test('other URLs fail with StoreBadUrl', async () => {
  for (const url of ['mysql://x', '', 'SQLITE:x', 'etcd:/x', undefined as unknown as string]) {
    await assert.rejects(openStore(url), (err) => isPharosError(err, STORE_BAD_URL), String(url));
  }
});
