/**
 * A server that dies with SIGKILL leaves its containers running (each has its own process group)
 * and its network namespaces in place. The next server's `cleanup()` must remove all of it, and
 * must not touch what a live server (this test process) is running.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually } from '../src/lib/index.ts';
import { createRuntime, NetnsRuntime } from '../src/runtime/index.ts';

const RUNTIME_INDEX = fileURLToPath(new URL('../src/runtime/index.ts', import.meta.url));
const AWSVPC = { taskCidr: '198.19.166.0/24', bridge: 'phtc0', netnsPrefix: 'phtc-', vethPrefix: 'phtcv' };
const unsupported = await NetnsRuntime.unsupportedReason(AWSVPC.netnsPrefix);
if (unsupported !== undefined && process.env.CI === 'true') {
  test('network namespaces are available in CI', () => assert.fail(`netns runtime cannot run: ${unsupported}`));
}

/** The "server" that will be killed: starts one host task and (when possible) one awsvpc task, prints what it started. */
const CHILD = `
import { createRuntime } from ${JSON.stringify(RUNTIME_INDEX)};
const rt = createRuntime({ awsvpc: ${JSON.stringify(AWSVPC)} });
const sleeper = { name: 'main', image: 'busybox', essential: true, command: ['sh', '-c', 'sleep 60 & wait'], portMappings: [] };
const out = {};
const host = await rt.startTask({ taskId: 'crash-host', networkMode: 'host', containers: [sleeper] });
out.hostPid = host.containers()[0].pid;
if (process.env.WITH_NETNS === '1') {
  const vpc = await rt.startTask({ taskId: 'crash-vpc', networkMode: 'awsvpc', containers: [sleeper] });
  out.vpcPid = vpc.containers()[0].pid;
  out.netns = vpc.netns;
}
console.log(JSON.stringify(out));
setInterval(() => {}, 1000);
`;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(AWSVPC.netnsPrefix));
}

const runtime = createRuntime({ awsvpc: AWSVPC });
after(() => runtime.close({ timeoutMs: 500 }));

test('cleanup after a SIGKILLed server removes its containers and namespaces, not a live server\'s', { skip: process.platform !== 'linux' ? 'needs /proc' : false }, async () => {
  const withNetns = unsupported === undefined;
  // This process is the live server; its task must survive the cleanup.
  const mine = await runtime.startTask({
    taskId: 'crash-live',
    networkMode: 'host',
    containers: [{ name: 'main', image: 'busybox', essential: true, command: ['sleep', '60'], portMappings: [] }],
  });

  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    env: { ...process.env, WITH_NETNS: withNetns ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const started = await eventually(() => (stdout.includes('\n') ? (JSON.parse(stdout) as { hostPid: number; vpcPid?: number; netns?: string }) : undefined), {
    timeoutMs: 20_000,
    message: 'child server did not start its tasks',
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;

  // The dead server's containers live on as orphans.
  assert.equal(alive(started.hostPid), true);
  if (withNetns) {
    assert.equal(alive(started.vpcPid!), true);
    assert.ok(namespaces().includes(started.netns!));
  }

  await runtime.cleanup();

  await eventually(() => !alive(started.hostPid), { message: 'host-network orphan survived cleanup' });
  if (withNetns) {
    await eventually(() => !alive(started.vpcPid!), { message: 'awsvpc orphan survived cleanup' });
    assert.deepEqual(namespaces(), []);
  }
  assert.equal(mine.containers()[0]!.state, 'RUNNING', "the live server's task was touched");
  await mine.stop({ timeoutMs: 500 });
});
