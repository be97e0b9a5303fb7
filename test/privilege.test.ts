/**
 * No privilege without authentication (README "Authentication"): a local user who is not root,
 * here `nobody`, talks to a root `pharos server` that has no credentials and tries every way we
 * know to make it run code as root. Each attempt writes `id -u` (or fails); the test then reads
 * what ran, and as whom. Expected: 0 ways to run code as root.
 */
import { ECS } from '@aws-sdk/client-ecs';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { DUMMY_CREDENTIALS, haveCommand, runChild, startTestServer, tempDir, type ChildRun, type TestServer } from './helpers.ts';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const canAct = isRoot && haveCommand('setpriv');
if (!canAct && process.env.CI === 'true') test('root and setpriv are available in CI', () => assert.fail('needs root and setpriv'));

/**
 * The attacker: plain HTTP with no signature (the server checks none), run as `nobody`. Each
 * attempt is a task definition + RunTask; the attempt's command writes `<name> <uid>` to `OUT`.
 */
const ATTACK = String.raw`
const [api, out] = process.argv.slice(2);
const call = async (op, body) => {
  const r = await fetch(api, { method: 'POST', body: JSON.stringify(body), headers: {
    'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerServiceV20141113.' + op } });
  return { status: r.status, body: await r.json() };
};
const write = (name) => 'echo ' + name + ' $(id -u) > ' + out + '/' + name;
const attempts = [
  // [name, networkMode, container fields]
  ['host-mode', 'host', { command: ['sh', '-c', write('host-mode')] }],
  ['bridge-mode', 'bridge', { command: ['sh', '-c', write('bridge-mode')] }],
  ['awsvpc-mode', 'awsvpc', { command: ['sh', '-c', write('awsvpc-mode')] }],
  ['user-root', 'host', { user: 'root', command: ['sh', '-c', write('user-root')] }],
  ['user-0', 'host', { user: '0', command: ['sh', '-c', write('user-0')] }],
  ['user-0-0', 'host', { user: '0:0', command: ['sh', '-c', write('user-0-0')] }],
  ['group-root', 'host', { user: '65534:0', command: ['sh', '-c', write('group-root')] }],
  ['setpriv-back', 'host', { command: ['setpriv', '--reuid=0', '--regid=0', '--clear-groups', 'sh', '-c', write('setpriv-back')] }],
  ['su-root', 'host', { command: ['su', 'root', '-c', write('su-root')] }],
  ['healthcheck', 'host', { command: ['sleep', '30'], healthCheck: { command: ['CMD-SHELL', write('healthcheck')], interval: 5, startPeriod: 0 } }],
  ['workdir-root', 'host', { workingDir: '/root', command: ['sh', '-c', 'ls -a > ' + out + '/workdir-root-ls; ' + write('workdir-root')] }],
  ['privileged', 'host', { privileged: true, command: ['sh', '-c', write('privileged')] }],
  ['linux-params', 'host', { linuxParameters: { capabilities: { add: ['ALL'] } }, command: ['sh', '-c', write('linux-params')] }],
];
const results = {};
await call('CreateCluster', { clusterName: 'attack' });
for (const [name, networkMode, fields] of attempts) {
  const td = await call('RegisterTaskDefinition', { family: name, networkMode, containerDefinitions: [{ name: 'c', image: 'x', essential: true, ...fields }] });
  if (td.status !== 200) { results[name] = { registered: td.body.__type }; continue; }
  const network = networkMode === 'awsvpc' ? { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } } : {};
  const run = await call('RunTask', { cluster: 'attack', taskDefinition: name, ...network });
  results[name] = { taskArn: run.body.tasks?.[0]?.taskArn, failure: run.body.__type };
}
// A service's tasks go through the same runtime as RunTask's.
await call('RegisterTaskDefinition', { family: 'svc', networkMode: 'host', containerDefinitions: [{ name: 'c', image: 'x', essential: true, command: ['sh', '-c', write('service') + '; sleep 30'] }] });
const svc = await call('CreateService', { cluster: 'attack', serviceName: 'svc', taskDefinition: 'svc', desiredCount: 1 });
results.service = { status: svc.status };
console.log(JSON.stringify(results));
`;

describe('an unauthenticated local user against a root server', { skip: canAct ? false : 'needs root and setpriv (util-linux) to act as nobody' }, () => {
  let s: TestServer;
  let ecs: ECS;
  let out = '';
  before(async () => {
    // awsvpc tasks on issue 8's own bridge and addresses.
    s = await startTestServer({ taskBridge: 'ph8br1', taskCidr: '198.18.82.0/24' });
    ecs = new ECS({ endpoint: s.apiUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, maxAttempts: 1 });
    out = tempDir('pharos-attack-');
    chmodSync(out, 0o777);
    writeFileSync(join(out, 'attack.mjs'), ATTACK, { mode: 0o644 });
  });
  after(async () => {
    ecs.destroy();
    await s.destroy();
    rmSync(out, { recursive: true, force: true });
  });

  test('0 ways to run code as root (or as the server); the data directory is closed to them', async () => {
    const dataMode = statSync(s.dataDir).mode & 0o777;
    assert.equal(dataMode, 0o700, 'data directory mode');
    const r = await runAs(NOBODY, [process.execPath, join(out, 'attack.mjs'), s.apiUrl, out], out);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as Record<string, { taskArn?: string; registered?: string; failure?: string; status?: number }>;

    // Refused at registration: fields the runtime cannot honour.
    assert.equal(results['privileged']!.registered, 'ClientException');
    assert.equal(results['linux-params']!.registered, 'ClientException');
    // Ran, as nobody.
    for (const name of ['host-mode', 'bridge-mode', 'awsvpc-mode', 'healthcheck', 'workdir-root', 'service']) {
      const file = join(out, name);
      await eventually(() => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'), { timeoutMs: 15_000, message: `${name} never ran: ${JSON.stringify(results[name])}` });
      assert.equal(readFileSync(file, 'utf8'), `${name} ${NOBODY}\n`, name);
    }
    // /root is 0700: a task may start there but cannot list it.
    assert.equal(readFileSync(join(out, 'workdir-root-ls'), 'utf8'), '');
    // Asked for root: the task never starts, and says why.
    for (const name of ['user-root', 'user-0', 'user-0-0', 'group-root']) {
      const arn = results[name]!.taskArn!;
      const task = await eventually(async () => {
        const t = (await ecs.describeTasks({ cluster: 'attack', tasks: [arn] })).tasks?.[0];
        return t?.lastStatus === 'STOPPED' ? t : undefined;
      });
      assert.match(task.stoppedReason ?? '', /honoured only when the API authenticates requests/, name);
    }
    // Climbing back from inside the task: setpriv and su fail for nobody (no_new_privs, no password).
    for (const name of ['setpriv-back', 'su-root']) {
      const arn = results[name]!.taskArn!;
      await eventually(async () => (await ecs.describeTasks({ cluster: 'attack', tasks: [arn] })).tasks?.[0]?.lastStatus === 'STOPPED');
    }
    const files = readdirSync(out);
    for (const name of ['user-root', 'user-0', 'user-0-0', 'group-root', 'setpriv-back', 'su-root', 'privileged', 'linux-params']) {
      assert.equal(files.includes(name), false, `${name} ran`);
    }
    // The store, the server id and other tasks' directories are out of reach.
    const peek = await runAs(NOBODY, ['cat', join(s.dataDir, 'pharos.db')], out);
    assert.notEqual(peek.code, 0);
    assert.match(peek.stderr, /Permission denied/);
  });
});

function runAs(uid: number, argv: string[], cwd: string): Promise<ChildRun> {
  return runChild('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ...argv], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
}
