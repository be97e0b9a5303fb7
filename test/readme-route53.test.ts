/**
 * The README's Route 53 block and its watch loop, pasted into bash against a fresh server (the
 * README's fixed ports are swapped for the test server's): they must work as written.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { ROOT, haveCommand, privateNamespace, rawRequest, register, requireOrSkip, runChild, startTestServer, tempDir, type ChildRun, type TestServer } from './helpers.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The first ```sh block after `marker`. */
function blockAfter(marker: string): string {
  const start = README.indexOf(marker);
  assert.ok(start >= 0, `README has ${marker}`);
  const open = README.indexOf('```sh\n', start) + 6;
  return README.slice(open, README.indexOf('\n```', open) + 1);
}

function bash(script: string, env: Record<string, string>, timeoutSeconds?: number): Promise<ChildRun> {
  // The watch loop runs until `timeout` stops it (exit code 124); other scripts stop at their first error.
  return timeoutSeconds ? runChild('timeout', [String(timeoutSeconds), 'bash', '-c', script], { env }) : runChild('bash', ['-e', '-o', 'pipefail', '-c', script], { env });
}

describe('README: Route 53 and the watch loop', { skip: requireOrSkip(haveCommand('aws') && haveCommand('dig') && haveCommand('curl'), 'the AWS CLI, dig and curl') }, () => {
  let s: TestServer;
  let home = '';
  let env: Record<string, string> = {};
  /** The README's fixed addresses → the test server's. */
  let local = (script: string) => script;

  before(async () => {
    s = await startTestServer();
    home = tempDir('pharos-home-');
    const ns = await privateNamespace(s.sd, 'demo.local');
    const web = (await s.sd.createService({ Name: 'web', NamespaceId: ns, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 60 }] } })).Service!.Id!;
    await register(s.sd, web, 'web-1', { AWS_INSTANCE_IPV4: '198.18.0.10' });
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', NS: ns, AWS_ACCESS_KEY_ID: 'pharos', AWS_SECRET_ACCESS_KEY: 'pharos', AWS_DEFAULT_REGION: 'us-east-1' };
    const dnsPort = s.dnsAddress!.split(':').pop()!;
    local = (script) => script.replaceAll('http://127.0.0.1:7700', s.apiUrl).replaceAll('-p 7753', `-p ${dnsPort}`);
  });
  after(async () => {
    await s.destroy();
    rmSync(home, { recursive: true, force: true });
  });

  test('list-resource-record-sets, change-resource-record-sets and dig, as written', async () => {
    const r = await bash(local(blockAfter('<!-- readme-route53')), env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /"Name": "web\.demo\.local\."/, 'the listing shows Cloud Map\'s record sets');
    assert.match(r.stdout, /"Status": "INSYNC"/);
    assert.match(r.stdout, /^198\.18\.0\.20$/m, 'dig answers the new record');
  });

  test('the watch loop prints the state, then the next one after a change', async () => {
    const script = local(blockAfter('<!-- readme-watch')).replace('/namespaces/demo/', '/namespaces/demo.local/');
    const looping = bash(script, env, 4);
    // Once the first state is printed the loop waits; a registration ends that wait.
    const svc = (await s.sd.listServices({})).Services!.find((x) => x.Name === 'web')!.Id!;
    await eventually(async () => /^pharos_watch_waiters 1$/m.test((await rawRequest(s.apiUrl, 'GET', '/metrics')).text), { message: 'the loop waits' });
    await register(s.sd, svc, 'web-2', { AWS_INSTANCE_IPV4: '198.18.0.11' });
    const r = await looping;
    assert.equal(r.code, 124, 'runs until stopped');
    const states = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { Instances: { InstanceId: string }[] });
    assert.ok(states.length >= 2, r.stdout);
    assert.deepEqual(states[0]!.Instances.map((i) => i.InstanceId), ['web-1']);
    assert.deepEqual(states.at(-1)!.Instances.map((i) => i.InstanceId).sort(), ['web-1', 'web-2']);
  });
});
