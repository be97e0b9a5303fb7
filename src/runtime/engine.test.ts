import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { chooseRuntime } from './create.ts';

/**
 * `--runtime auto` against endpoints that cannot be a real engine here: no socket, a socket file
 * nobody listens on, and an engine that accepts the connection but answers /version only after
 * the 2 s connect budget (Podman's first request on a loaded host). A real Podman is in
 * test/ecs-container.test.ts.
 */
describe('--runtime auto: probing the container engine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pharos-probe-'));
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A Docker-API-shaped /version on a unix socket, answered after `delayMs`. */
  async function slowEngine(name: string, delayMs: number): Promise<string> {
    const path = join(dir, name);
    const server = createServer((_req, res) => {
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ Version: '4.3.1', ApiVersion: '1.41', Components: [{ Name: 'Podman Engine', Version: '4.3.1' }] }));
      }, delayMs);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return `unix://${path}`;
  }

  test('no socket, or a socket file nobody listens on: process at once, and the reason says which', async () => {
    const missing = `unix://${join(dir, 'none.sock')}`;
    const stale = join(dir, 'stale.sock');
    writeFileSync(stale, '');
    for (const [url, why] of [
      [missing, /none\.sock is not answering: no socket there/],
      [`unix://${stale}`, /stale\.sock is not answering: nothing listens there \(connection refused\)/],
    ] as const) {
      const t0 = Date.now();
      const chosen = await chooseRuntime('auto', url, {});
      assert.equal(chosen.kind, 'process');
      assert.match(chosen.reason, why);
      assert.ok(Date.now() - t0 < 1000, `gave up after ${Date.now() - t0} ms`);
    }
  });

  test('an engine slower than 2 s to answer is waited for, and the wait is logged', async () => {
    const url = await slowEngine('slow.sock', 2500);
    const warnings: string[] = [];
    const chosen = await chooseRuntime('auto', url, {}, { warn: (_obj: unknown, msg?: string) => void warnings.push(String(msg)) } as never);
    assert.equal(chosen.kind, 'container');
    assert.match(chosen.reason, /--runtime auto: podman 4\.3\.1 answers at unix:\/\/.*slow\.sock \(after 2\.\d s\)/);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /slow\.sock accepted the connection but has not answered in 2000 ms: waiting for it/);
  });
});
