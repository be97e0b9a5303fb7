import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { eventually, isPharosError } from '../lib/index.ts';
import {
  ProcessRuntime,
  RUNTIME_BAD_CONTAINER_SPEC,
  RUNTIME_EXECUTABLE_NOT_FOUND,
  RUNTIME_NETWORK_MODE_UNSUPPORTED,
  RUNTIME_PORT_IN_USE,
  RUNTIME_TASK_EXISTS,
  RUNTIME_TASK_STOPPED,
  TASK_LOG_LINES,
  type ContainerExit,
  type ContainerSpec,
  type TaskSpec,
} from './index.ts';
import { processIdentity } from './orphans.ts';

const HTTP_SERVER = "require('http').createServer((q,s)=>s.end('ok')).listen(process.env.PORT||8080,()=>console.log('listening'))";
const tmp = mkdtempSync(path.join(os.tmpdir(), 'pharos-runtime-'));
const runtime = new ProcessRuntime({ advertiseAddress: '127.0.0.1' });
let seq = 0;

after(async () => {
  await runtime.close({ timeoutMs: 500 });
  rmSync(tmp, { recursive: true, force: true });
});

function container(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return { name: 'main', image: 'busybox', essential: true, command: ['sleep', '30'], portMappings: [], ...over };
}
function task(containers: ContainerSpec[], over: Partial<TaskSpec> = {}): TaskSpec {
  return { taskId: `proc${process.pid}x${++seq}`, networkMode: 'host', containers, ...over };
}
/**
 * A free port below the ephemeral range (32768+ on Linux): the port-0 servers of other test files
 * running at the same time are given ephemeral ports, so they cannot take it between our check
 * and the container's listen.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const srv = net.createServer();
    const ok = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, '0.0.0.0', () => r(true));
    });
    if (ok) {
      await new Promise((r) => srv.close(r));
      return port;
    }
  }
}
/** A zombie counts as dead: whether init reaps it promptly is not the runtime's business. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
function exits(t: { onContainerExit(l: (e: ContainerExit) => void): () => void }): ContainerExit[] {
  const seen: ContainerExit[] = [];
  t.onContainerExit((e) => seen.push(e));
  return seen;
}

describe('ProcessRuntime', () => {
  test('runs an HTTP server container on its host port and keeps its logs', async () => {
    const port = await freePort();
    const t = await runtime.startTask(
      task([container({ name: 'web', image: 'node:20', command: ['node', '-e', HTTP_SERVER], environment: { PORT: String(port) }, portMappings: [{ containerPort: port, protocol: 'tcp' }] })]),
    );
    assert.equal(t.ipv4, '127.0.0.1');
    assert.equal(t.netns, undefined);
    assert.deepEqual(t.networkBindings, [{ containerName: 'web', bindIP: '0.0.0.0', containerPort: port, hostPort: port, protocol: 'tcp' }]);
    const body = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) })).text());
    assert.equal(body, 'ok');
    assert.deepEqual(t.logs('web').map((l) => [l.stream, l.line]), [['stdout', 'listening']]);
    const [c] = t.containers();
    assert.equal(c!.state, 'RUNNING');
    assert.ok(c!.pid > 0);
    assert.ok(runtime.tasks().includes(t));
    await t.stop({ timeoutMs: 2000 });
    assert.equal(t.containers()[0]!.state, 'STOPPED');
    assert.ok(!runtime.tasks().includes(t));
  });

  test('entryPoint + command, environment and working directory follow Docker semantics', async () => {
    const t = await runtime.startTask(
      task([
        container({
          entryPoint: ['sh', '-c'],
          command: ['echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'],
          environment: { GREETING: 'hello' },
          workingDirectory: tmp,
        }),
      ]),
    );
    const seen = exits(t);
    await t.stopped;
    assert.deepEqual(seen.map((e) => [e.name, e.exitCode, e.signal, e.essential, e.stopRequested, e.reason]), [['main', 3, null, true, false, 'exited with code 3']]);
    await eventually(() => t.logs().length === 2);
    assert.deepEqual(
      t.logs().map((l) => [l.stream, l.line]).sort(),
      [['stderr', 'oops'], ['stdout', `hello from ${tmp}`]],
    );
    assert.equal(t.containers()[0]!.exitCode, 3);
  });

  test('the server environment is not inherited', async () => {
    process.env.PHAROS_TEST_SECRET = 'leak';
    try {
      const t = await runtime.startTask(task([container({ command: ['sh', '-c', 'echo "secret=${PHAROS_TEST_SECRET:-none} path=${PATH:+set}"'] })]));
      await t.stopped;
      await eventually(() => t.logs().length === 1);
      assert.equal(t.logs()[0]!.line, 'secret=none path=set');
    } finally {
      delete process.env.PHAROS_TEST_SECRET;
    }
  });

  test('stop sends SIGTERM and the task ends at once when the container obeys', async () => {
    const t = await runtime.startTask(task([container()]));
    const seen = exits(t);
    const started = Date.now();
    await t.stop({ timeoutMs: 5000 });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.deepEqual(seen.map((e) => [e.signal, e.stopRequested]), [['SIGTERM', true]]);
  });

  test('stop escalates to SIGKILL after the timeout and kills forked children too', async () => {
    // `trap "" TERM` makes the shell and (inherited across exec) its children ignore SIGTERM.
    const t = await runtime.startTask(task([container({ command: ['sh', '-c', 'trap "" TERM; sleep 30 & echo child=$!; wait'] })]));
    const line = await eventually(() => t.logs().find((l) => l.line.startsWith('child=')));
    const child = Number(line.line.slice('child='.length));
    assert.ok(isAlive(child));
    const seen = exits(t);
    const started = Date.now();
    await t.stop({ timeoutMs: 300 });
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 3000, `took ${took} ms`);
    assert.deepEqual(seen.map((e) => e.signal), ['SIGKILL']);
    await eventually(() => !isAlive(child), { message: 'forked child survived' });
    // Repeated stop returns at once.
    await t.stop({ timeoutMs: 300 });
  });

  test('a container that exits on its own takes its forked children with it', async () => {
    const t = await runtime.startTask(task([container({ command: ['sh', '-c', 'sleep 30 & echo child=$!'] })]));
    await t.stopped;
    const line = await eventually(() => t.logs().find((l) => l.line.startsWith('child=')));
    await eventually(() => !isAlive(Number(line.line.slice('child='.length))), { message: 'orphan survived' });
  });

  test('a non-essential container exiting leaves the task running; exits are replayed to late listeners', async () => {
    const t = await runtime.startTask(
      task([container({ name: 'app' }), container({ name: 'init', essential: false, command: ['true'] })]),
    );
    await eventually(() => t.containers().find((c) => c.name === 'init')!.state === 'STOPPED');
    const late = exits(t);
    await eventually(() => late.length === 1);
    assert.deepEqual([late[0]!.name, late[0]!.essential, late[0]!.exitCode], ['init', false, 0]);
    assert.equal(t.containers().find((c) => c.name === 'app')!.state, 'RUNNING');
    assert.ok(runtime.tasks().includes(t));
    await t.stop({ timeoutMs: 1000 });
  });

  test('exec runs with the container environment, reports exit codes, times out and kills', async () => {
    const t = await runtime.startTask(task([container({ environment: { COLOR: 'blue' }, workingDirectory: tmp })]));
    assert.deepEqual(await t.exec(['sh', '-c', 'echo $COLOR $(pwd); exit 4'], { timeoutMs: 2000 }), {
      exitCode: 4,
      signal: null,
      timedOut: false,
      output: `blue ${tmp}\n`,
    });
    const started = Date.now();
    const slow = await t.exec(['sleep', '10'], { timeoutMs: 200 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.signal, 'SIGKILL');
    assert.ok(Date.now() - started < 2000);
    const missing = await t.exec(['no-such-health-tool'], { timeoutMs: 1000 });
    assert.equal(missing.exitCode, 127);
    assert.match(missing.output, /no-such-health-tool/);
    await t.stop({ timeoutMs: 1000 });
    await assert.rejects(t.exec(['true'], { timeoutMs: 1000 }), (err) => isPharosError(err, RUNTIME_TASK_STOPPED));
  });

  test('logs are a bounded ring per task', async () => {
    const n = TASK_LOG_LINES + 500;
    const t = await runtime.startTask(task([container({ command: ['node', '-e', `for (let i = 0; i < ${n}; i++) console.log('line ' + i)`] })]));
    await t.stopped;
    await eventually(() => t.logs().at(-1)?.line === `line ${n - 1}`);
    const logs = t.logs();
    assert.equal(logs.length, TASK_LOG_LINES);
    assert.equal(logs[0]!.line, `line ${n - TASK_LOG_LINES}`);
  });

  test('a missing executable is a clear start error and nothing is left running', async () => {
    const before = runtime.tasks().length;
    await assert.rejects(
      runtime.startTask(task([container({ name: 'ok' }), container({ name: 'bad', command: ['no-such-binary-xyz', '--flag'] })])),
      (err) => {
        assert.ok(isPharosError(err, RUNTIME_EXECUTABLE_NOT_FOUND));
        assert.match(err.message, /^CannotStartContainerError: container bad: executable "no-such-binary-xyz" not found/);
        return true;
      },
    );
    assert.equal(runtime.tasks().length, before);
  });

  test('a file that is not executable is refused', async () => {
    const file = path.join(tmp, 'script.sh');
    writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    await assert.rejects(runtime.startTask(task([container({ command: [file] })])), (err) => {
      assert.ok(isPharosError(err, RUNTIME_EXECUTABLE_NOT_FOUND));
      assert.match(err.message, /is not executable/);
      return true;
    });
  });

  test('a host port that another process holds is refused before anything starts', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const { port } = holder.address() as net.AddressInfo;
    try {
      await assert.rejects(runtime.startTask(task([container({ portMappings: [{ containerPort: port, protocol: 'tcp' }] })])), (err) => {
        assert.ok(isPharosError(err, RUNTIME_PORT_IN_USE));
        assert.match(err.message, new RegExp(`host port ${port}/tcp is already in use`));
        return true;
      });
    } finally {
      holder.close();
    }
  });

  test('a port held on an IPv6 or a specific IPv4 address counts as in use', async () => {
    for (const host of ['::1', '127.0.0.1']) {
      const holder = net.createServer();
      const ok = await new Promise<boolean>((r) => {
        holder.once('error', () => r(false));
        holder.listen(0, host, () => r(true));
      });
      if (!ok) continue; // no IPv6 on this host
      const { port } = holder.address() as net.AddressInfo;
      try {
        await assert.rejects(runtime.startTask(task([container({ portMappings: [{ containerPort: port, protocol: 'tcp' }] })])), (err) => isPharosError(err, RUNTIME_PORT_IN_USE));
      } finally {
        holder.close();
      }
    }
  });

  test('two tasks cannot map the same host port, even before the first one listens', async () => {
    const port = await freePort();
    const mapping = [{ containerPort: port, protocol: 'udp' as const }];
    const first = await runtime.startTask(task([container({ portMappings: mapping })]));
    await assert.rejects(runtime.startTask(task([container({ portMappings: mapping })])), (err) => isPharosError(err, RUNTIME_PORT_IN_USE));
    await first.stop({ timeoutMs: 1000 });
    // Released with the task.
    const second = await runtime.startTask(task([container({ portMappings: mapping })]));
    await second.stop({ timeoutMs: 1000 });
  });

  test('a task id that is running already is refused', async () => {
    const spec = task([container()]);
    const t = await runtime.startTask(spec);
    await assert.rejects(runtime.startTask(spec), (err) => isPharosError(err, RUNTIME_TASK_EXISTS));
    await t.stop({ timeoutMs: 1000 });
  });

  const badSpecs: { name: string; spec: TaskSpec; code: string; message: RegExp }[] = [
    { name: 'no containers', spec: task([]), code: RUNTIME_BAD_CONTAINER_SPEC, message: /at least one container/ },
    { name: 'no command', spec: task([container({ command: undefined, image: 'nginx' })]), code: RUNTIME_BAD_CONTAINER_SPEC, message: /no entryPoint or command.*nginx/ },
    { name: 'duplicate names', spec: task([container(), container()]), code: RUNTIME_BAD_CONTAINER_SPEC, message: /used twice/ },
    {
      name: 'remapped host port',
      spec: task([container({ portMappings: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }] })]),
      code: RUNTIME_BAD_CONTAINER_SPEC,
      message: /cannot be remapped/,
    },
    { name: 'port out of range', spec: task([container({ portMappings: [{ containerPort: 70000, protocol: 'tcp' }] })]), code: RUNTIME_BAD_CONTAINER_SPEC, message: /1-65535/ },
    {
      name: 'bad protocol',
      spec: task([container({ portMappings: [{ containerPort: 80, protocol: 'sctp' as 'tcp' }] })]),
      code: RUNTIME_BAD_CONTAINER_SPEC,
      message: /tcp or udp/,
    },
    { name: 'missing working directory', spec: task([container({ workingDirectory: '/no/such/dir' })]), code: RUNTIME_BAD_CONTAINER_SPEC, message: /does not exist/ },
    { name: 'bad environment name', spec: task([container({ environment: { 'A=B': 'x' } })]), code: RUNTIME_BAD_CONTAINER_SPEC, message: /environment/ },
    { name: 'awsvpc on the host runtime', spec: task([container()], { networkMode: 'awsvpc' }), code: RUNTIME_NETWORK_MODE_UNSUPPORTED, message: /awsvpc/ },
  ];
  for (const c of badSpecs) {
    test(`refuses a bad spec: ${c.name}`, async () => {
      await assert.rejects(runtime.startTask(c.spec), (err) => {
        assert.ok(isPharosError(err, c.code), `got ${String(err)}`);
        assert.match(err.message, c.message);
        return true;
      });
    });
  }

  test('cleanup kills containers of a dead server, not those of a live one', async () => {
    const spawnMarked = (server: string) =>
      spawn('sleep', ['30'], { env: { PATH: process.env.PATH, PHAROS_TASK_ID: 'old', PHAROS_SERVER: server }, detached: true, stdio: 'ignore' });
    // pid_max is at most 4194304, so this server cannot be alive.
    const orphan = spawnMarked('4999999@1');
    // A live "server": this test's parent process, with its real identity.
    const other = spawnMarked(processIdentity(process.ppid)!);
    // A pid reused by another process (same pid, different start time) is not the server.
    const reused = spawnMarked(`${process.ppid}@1`);
    const live = await runtime.startTask(task([container()]));
    try {
      await eventually(() => [orphan, other, reused].every((c) => c.pid !== undefined && isAlive(c.pid)));
      await runtime.cleanup();
      await eventually(() => !isAlive(orphan.pid!) && !isAlive(reused.pid!), { message: 'orphans survived cleanup' });
      assert.equal(isAlive(other.pid!), true, "a live server's container was killed");
      assert.equal(live.containers()[0]!.state, 'RUNNING', 'our own live task was killed');
    } finally {
      other.kill('SIGKILL');
      orphan.kill('SIGKILL');
      reused.kill('SIGKILL');
      await live.stop({ timeoutMs: 1000 });
    }
  });

  test("cleanup kills only orphans of its own owner (data-dir identity), never another server's", async () => {
    const spawnOwned = (owner: string) =>
      spawn('sleep', ['30'], { env: { PATH: process.env.PATH, PHAROS_TASK_ID: 'old', PHAROS_SERVER: '4999999@1', PHAROS_OWNER: owner }, detached: true, stdio: 'ignore' });
    const mine = spawnOwned('ownera1');
    const theirs = spawnOwned('ownerb2');
    const rt = new ProcessRuntime({ owner: 'ownera1' });
    try {
      await eventually(() => [mine, theirs].every((c) => c.pid !== undefined && isAlive(c.pid)));
      await rt.cleanup();
      await eventually(() => !isAlive(mine.pid!), { message: 'our orphan survived cleanup' });
      assert.equal(isAlive(theirs.pid!), true, "another owner's container was killed");
      // The default runtime (no owner) leaves both owners' containers alone too.
      await runtime.cleanup();
      assert.equal(isAlive(theirs.pid!), true, "a runtime without owner killed an owned container");
    } finally {
      mine.kill('SIGKILL');
      theirs.kill('SIGKILL');
      await rt.close();
    }
  });

  test('close stops every live task', async () => {
    const rt = new ProcessRuntime();
    const a = await rt.startTask(task([container()]));
    const b = await rt.startTask(task([container({ command: ['sh', '-c', 'trap "" TERM; sleep 30'] })]));
    await rt.close({ timeoutMs: 200 });
    assert.deepEqual([a, b].map((t) => t.containers()[0]!.state), ['STOPPED', 'STOPPED']);
    assert.equal(rt.tasks().length, 0);
    await rt.close();
  });
});
