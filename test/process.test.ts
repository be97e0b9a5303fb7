/**
 * `pharos` as a user runs it: help and flag errors (exit codes), and `bin/pharos.js server` as a
 * real child process on free ports, shut down with SIGTERM/SIGINT and restarted on the same data.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SETTINGS, main, type MainIo } from '../src/cli/index.ts';
import { eventually } from '../src/lib/index.ts';
import { ROOT, httpNamespace, rawPost, rawRequest, register, sdClient, spawnServer, tempDir } from './helpers.ts';

async function runMain(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: MainIo = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('pharos command line', () => {
  test('pharos --help explains the commands; no command is a usage error', async () => {
    const help = await runMain(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: pharos <command>/);
    assert.match(help.stdout, /server/);
    const none = await runMain([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage/);
    assert.equal((await runMain(['frobnicate'])).code, 2);
    assert.match((await runMain(['--version'])).stdout, /^pharos \d+\.\d+\.\d+/);
  });

  test('pharos server --help explains every flag with its env var and default', async () => {
    const r = await runMain(['server', '--help']);
    assert.equal(r.code, 0);
    for (const s of SETTINGS) {
      assert.ok(r.stdout.includes(s.flag), s.flag);
      assert.ok(r.stdout.includes(s.env), s.env);
    }
    assert.match(r.stdout, /default 127\.0\.0\.1:7700/);
    assert.match(r.stdout, /default sqlite:<data-dir>\/pharos\.db/);
  });

  const bad: [string[], Record<string, string>, RegExp][] = [
    [['server', '--bogus'], {}, /unknown flag --bogus/],
    [['server', '--api-addr', 'nowhere'], {}, /--api-addr/],
    [['server', '--op-delay', '5'], {}, /--op-delay: "5" is not a duration/],
    [['server'], { PHAROS_LOG_LEVEL: 'chatty' }, /PHAROS_LOG_LEVEL/],
  ];
  for (const [argv, env, message] of bad) {
    test(`${argv.join(' ')} ${JSON.stringify(env)} → exit 2 with a clear message`, async () => {
      const r = await runMain(argv, env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /pharos server --help/);
    });
  }

  test('bin/pharos.js exits 2 on a bad flag and 0 on --help', () => {
    const badRun = spawnSync(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', '--nope'], { encoding: 'utf8' });
    assert.equal(badRun.status, 2);
    assert.match(badRun.stderr, /unknown flag --nope/);
    const help = spawnSync(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--max-instances-per-service/);
  });
});

describe('pharos server as a child process', () => {
  const dataDir = tempDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const args = ['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dataDir];

  test('serves on a free port, shuts down on SIGTERM with exit 0, keeps its data across restarts', async () => {
    const first = await spawnServer(args);
    assert.equal((await rawRequest(first.apiUrl, 'GET', '/ping')).status, 200);
    const sd = sdClient(first.apiUrl);
    const ns = await httpNamespace(sd, 'child');
    const svc = (await sd.createService({ Name: 'web', NamespaceId: ns })).Service!.Id!;
    await register(sd, svc, 'c1', { port: '80' });
    sd.destroy();
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.ok(first.logs.some((l) => l.includes('pharos stopped')), first.logs.join('\n'));

    const second = await spawnServer(args, { PHAROS_REGION: 'eu-west-1' });
    const sd2 = sdClient(second.apiUrl);
    const r = await sd2.discoverInstances({ NamespaceName: 'child', ServiceName: 'web' });
    assert.deepEqual(r.Instances?.map((i) => i.InstanceId), ['c1']);
    await httpNamespace(sd2, 'child-2');
    const arns = (await sd2.listNamespaces({})).Namespaces!.map((n) => n.Arn);
    assert.ok(arns.some((a) => a?.startsWith('arn:aws:servicediscovery:eu-west-1:')), `PHAROS_REGION applies: ${arns}`);
    sd2.destroy();
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0);
  });

  test('a taken port fails the start with exit 1 and a message', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/pharos.js'), 'server', ...args, '--api-addr', `127.0.0.1:${port}`, '--log-level', 'silent'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /could not start: .*EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});

describe('shutdown during a burst', () => {
  const dataDir = tempDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const args = ['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dataDir];

  test('SIGTERM mid-burst: answered requests complete, every acknowledged registration is kept, exit 0', async (t) => {
    const first = await spawnServer(args);
    const sd = sdClient(first.apiUrl);
    const ns = await httpNamespace(sd, 'burst');
    const svc = (await sd.createService({ Name: 'web', NamespaceId: ns })).Service!.Id!;
    sd.destroy();

    const BURST = 150;
    const body = (i: number) => JSON.stringify({ ServiceId: svc, InstanceId: `b${i}`, Attributes: { n: String(i) } });
    const results = Array.from({ length: BURST }, (_, i) =>
      rawPost(first.apiUrl, 'Route53AutoNaming_v20170314.RegisterInstance', body(i), { Connection: 'close' }).then(
        (r) => ({ i, status: r.status, json: r.json }),
        (err: NodeJS.ErrnoException) => ({ i, status: 0, error: err.code }),
      ),
    );
    // Signal once the first answers are back, so the rest are in flight or not yet connected.
    await Promise.race(results);
    first.child.kill('SIGTERM');
    const settled = await Promise.all(results);
    assert.equal(await first.exited, 0);

    const acked = settled.filter((r) => r.status === 200);
    for (const r of settled) {
      // Either a complete answer, or no connection at all; never a half-written response.
      if (r.status !== 200) assert.ok('error' in r && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(String(r.error)), JSON.stringify(r));
    }
    assert.ok(acked.length > 0, 'some registrations were answered before the shutdown');
    t.diagnostic(`${acked.length} of ${BURST} answered before the shutdown`);

    const second = await spawnServer(args);
    const sd2 = sdClient(second.apiUrl);
    const ids = new Set<string>();
    let token: string | undefined;
    await eventually(async () => {
      ids.clear();
      token = undefined;
      do {
        const page: { Instances?: { Id?: string }[]; NextToken?: string } = await sd2.listInstances({ ServiceId: svc, NextToken: token });
        for (const inst of page.Instances ?? []) ids.add(inst.Id!);
        token = page.NextToken;
      } while (token);
      return acked.every((r) => ids.has(`b${r.i}`));
    }, { timeoutMs: 10_000, message: 'acknowledged registrations present after restart' });
    sd2.destroy();
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
