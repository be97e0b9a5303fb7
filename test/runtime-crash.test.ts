/**
 * A server that dies with SIGKILL leaves its containers running (each has its own process group)
 * and its network namespaces in place. The next server's `cleanup()` must remove all of it —
 * including what a container forked into another process group with a cleared environment, and
 * the host port a host-network container held, so a replacement can bind it at once — and must
 * not touch what a live server (this test process) is running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';
import { namespaces, netnsUnsupported } from '../src/runtime/testkit.ts';

const RUNTIME_INDEX = fileURLToPath(new URL('../src/runtime/index.ts', import.meta.url));
const AWSVPC = { taskCidr: '198.19.166.0/24', bridge: 'phtc0', netnsPrefix: 'phtc-', vethPrefix: 'phtcv' };
const unsupported = await netnsUnsupported(AWSVPC.netnsPrefix);

/** The "server" that will be killed: starts one host task and (when possible) one awsvpc task, prints what it started. */
const CHILD = `
import { createRuntime } from ${JSON.stringify(RUNTIME_INDEX)};
const rt = createRuntime({ awsvpc: ${JSON.stringify(AWSVPC)} });
const sleeper = { name: 'main', image: 'busybox', essential: true, command: ['sh', '-c', 'sleep 60 & wait'], portMappings: [] };
// Holds a host port, and forks a grandchild with a cleared environment into its own process
// group (job control), which only the container's session ties to it.
const web = {
  name: 'web', image: 'node', essential: true, portMappings: [{ containerPort: Number(process.env.PORT), protocol: 'tcp' }],
  environment: { PIDFILE: process.env.PIDFILE, NODE: process.execPath, HOLD: "require('net').createServer().listen(" + process.env.PORT + ", () => console.log(1))" },
  command: ['sh', '-c', 'set -m; env -i sleep 61 & echo $! > "$PIDFILE"; exec "$NODE" -e "$HOLD"'],
};
const out = {};
const host = await rt.startTask({ taskId: 'crash-host', networkMode: 'host', containers: [sleeper, web] });
out.hostPid = host.containers()[0].pid;
out.webPid = host.containers()[1].pid;
await new Promise((resolve) => { const poll = () => (host.logs('web').length > 0 ? resolve() : setTimeout(poll, 10)); poll(); });
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
const ours = () => namespaces(AWSVPC.netnsPrefix);

/** A port nobody holds right now (the kernel's pick), for the crashed server's container to take. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '0.0.0.0', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const runtime = createRuntime({ awsvpc: AWSVPC });
const tmp = mkdtempSync(join(tmpdir(), 'pharos-crash-'));
after(async () => {
  await runtime.close({ timeoutMs: 500 });
  rmSync(tmp, { recursive: true, force: true });
});

test('cleanup after a SIGKILLed server removes its containers and namespaces, not a live server\'s', { skip: process.platform !== 'linux' ? 'needs /proc' : false }, async () => {
  const withNetns = unsupported === undefined;
  // This process is the live server; its task must survive the cleanup.
  const mine = await runtime.startTask({
    taskId: 'crash-live',
    networkMode: 'host',
    containers: [{ name: 'main', image: 'busybox', essential: true, command: ['sleep', '60'], portMappings: [] }],
  });

  const port = await freePort();
  const pidFile = join(tmp, 'grandchild.pid');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    env: { ...process.env, WITH_NETNS: withNetns ? '1' : '0', PORT: String(port), PIDFILE: pidFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const started = await eventually(() => (stdout.includes('\n') ? (JSON.parse(stdout) as { hostPid: number; webPid: number; vpcPid?: number; netns?: string }) : undefined), {
    timeoutMs: 20_000,
    message: 'child server did not start its tasks',
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;

  // The dead server's containers live on as orphans, holding the port.
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  assert.equal(alive(started.hostPid), true);
  assert.equal(alive(started.webPid), true);
  assert.equal(alive(grandchild), true);
  assert.doesNotMatch(readFileSync(`/proc/${grandchild}/environ`, 'utf8'), /PHAROS_/, 'the grandchild carries no marks');
  const replacement = { taskId: 'crash-replacement', networkMode: 'host' as const, containers: [{ name: 'web', image: 'node', essential: true, command: ['sleep', '60'], portMappings: [{ containerPort: port, protocol: 'tcp' as const }] }] };
  await assert.rejects(runtime.startTask(replacement), /port/, 'the orphan holds the port');
  if (withNetns) {
    assert.equal(alive(started.vpcPid!), true);
    assert.ok(ours().includes(started.netns!));
  }

  await runtime.cleanup();

  // cleanup() resolves once the orphans are gone: the port is free for a replacement at once.
  assert.equal(alive(started.hostPid), false, 'host-network orphan survived cleanup');
  assert.equal(alive(started.webPid), false, 'port-holding orphan survived cleanup');
  assert.equal(alive(grandchild), false, 'unmarked grandchild in its own process group survived cleanup');
  const again = await runtime.startTask(replacement);
  assert.equal(again.containers()[0]!.state, 'RUNNING');
  await again.stop({ timeoutMs: 500 });
  if (withNetns) {
    await eventually(() => !alive(started.vpcPid!), { message: 'awsvpc orphan survived cleanup' });
    assert.deepEqual(ours(), []);
  }
  assert.equal(mine.containers()[0]!.state, 'RUNNING', "the live server's task was touched");
  await mine.stop({ timeoutMs: 500 });
});
