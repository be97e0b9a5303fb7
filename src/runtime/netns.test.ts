import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { eventually, isPharosError } from '../lib/index.ts';
import {
  NetnsRuntime,
  RUNTIME_ABORTED,
  RUNTIME_EXECUTABLE_NOT_FOUND,
  RUNTIME_NETWORK_MODE_UNSUPPORTED,
  RUNTIME_SETUP_FAILED,
  RUNTIME_TASK_CIDR_EXHAUSTED,
  type ContainerSpec,
  type TaskSpec,
} from './index.ts';
import { ip, linkExists, namespaces, netnsUnsupported, veths } from './testkit.ts';

// Names and addresses private to this file, so test files running in parallel never collide.
const BRIDGE = 'phtn0';
const CIDR = '198.19.161.0/24';
const NS_PREFIX = 'phtn-';
const VETH_PREFIX = 'phtnv';

const HTTP_SERVER = "require('http').createServer((q,s)=>s.end('ok '+(process.env.NAME||''))).listen(process.env.PORT||8080,()=>console.log('listening'))";

const unsupported = await netnsUnsupported(NS_PREFIX);

let seq = 0;
function container(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return { name: 'web', image: 'node:20', essential: true, command: ['node', '-e', HTTP_SERVER], portMappings: [{ containerPort: 8080, protocol: 'tcp' }], ...over };
}
function task(containers: ContainerSpec[]): TaskSpec {
  return { taskId: `t${process.pid}x${++seq}`, networkMode: 'awsvpc', containers };
}
async function get(url: string): Promise<string> {
  return eventually(async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).text(), { timeoutMs: 5000, message: `GET ${url}` });
}

describe('NetnsRuntime', { skip: unsupported === undefined ? false : `network namespaces unavailable: ${unsupported}` }, () => {
  let runtime: NetnsRuntime;

  before(async () => {
    runtime = new NetnsRuntime({ taskCidr: CIDR, bridge: BRIDGE, netnsPrefix: NS_PREFIX, vethPrefix: VETH_PREFIX });
    await runtime.cleanup();
  });
  after(async () => {
    await runtime.close({ timeoutMs: 500 });
    assert.deepEqual(namespaces(NS_PREFIX), []);
    assert.deepEqual(veths(VETH_PREFIX), []);
    assert.equal(linkExists(BRIDGE), false);
  });

  test('a task gets its own namespace and IP, reachable from the host', async () => {
    const t = await runtime.startTask(task([container({ environment: { NAME: 'a' } })]));
    assert.match(t.ipv4, /^198\.19\.161\.\d+$/);
    assert.notEqual(t.ipv4, runtime.gateway);
    assert.equal(t.netns, `${NS_PREFIX}${t.taskId}`);
    assert.deepEqual(namespaces(NS_PREFIX), [t.netns]);
    assert.deepEqual(t.networkBindings, [{ containerName: 'web', bindIP: t.ipv4, containerPort: 8080, hostPort: 8080, protocol: 'tcp' }]);
    assert.equal(await get(`http://${t.ipv4}:8080/`), 'ok a');
    await eventually(() => t.logs('web').some((l) => l.line === 'listening'));
    await t.stop({ timeoutMs: 1000 });
    assert.deepEqual(namespaces(NS_PREFIX), []);
    assert.deepEqual(veths(VETH_PREFIX), []);
  });

  test('containers of a task share localhost; tasks reach each other by IP; the same port in two tasks is fine', async () => {
    const client = container({
      name: 'client',
      essential: false,
      command: ['node', '-e', "const go=()=>fetch('http://127.0.0.1:8080').then(r=>r.text()).then(t=>console.log('got',t)).catch(()=>setTimeout(go,20));go()"],
      portMappings: [],
    });
    const a = await runtime.startTask(task([container({ environment: { NAME: 'a' } }), client]));
    const b = await runtime.startTask(task([container({ environment: { NAME: 'b' } })]));
    await eventually(() => a.logs('client').some((l) => l.line === 'got ok a'), { message: 'client never reached localhost:8080' });
    const [exit] = await new Promise<import('./index.ts').ContainerExit[]>((resolve) => {
      const seen: import('./index.ts').ContainerExit[] = [];
      a.onContainerExit((e) => resolve([...seen, e]));
    });
    assert.equal(exit!.exitCode, 0);
    // From inside task a, task b's IP answers (over the bridge).
    await get(`http://${b.ipv4}:8080/`);
    const r = await a.exec(['node', '-e', `fetch('http://${b.ipv4}:8080').then(r=>r.text()).then(t=>console.log(t))`], { timeoutMs: 5000 });
    assert.deepEqual([r.exitCode, r.output], [0, 'ok b\n']);
    await Promise.all([a.stop({ timeoutMs: 1000 }), b.stop({ timeoutMs: 1000 })]);
  });

  test("the bridge's MAC stays put as tasks come and go (tasks' ARP entries for the gateway stay right)", async () => {
    const mac = () => execFileSync('cat', [`/sys/class/net/${BRIDGE}/address`], { encoding: 'utf8' }).trim();
    const a = await runtime.startTask(task([container({ command: ['sleep', '30'], portMappings: [] })]));
    const b = await runtime.startTask(task([container({ command: ['sleep', '30'], portMappings: [] })]));
    const before = mac();
    await a.stop({ timeoutMs: 1000 });
    assert.equal(mac(), before, 'one task gone');
    await b.stop({ timeoutMs: 1000 });
    // Without a MAC of its own a bridge takes its lowest port's, and 00:00:00:00:00:00 with none.
    assert.equal(mac(), before, 'both tasks gone');
  });

  test('exec runs inside the namespace', async () => {
    const t = await runtime.startTask(task([container({ command: ['sleep', '30'], portMappings: [] })]));
    const r = await t.exec(
      ['node', '-e', "const n=require('os').networkInterfaces();console.log(JSON.stringify(Object.keys(n).sort()), n.eth0.find(a=>a.family==='IPv4').address)"],
      { timeoutMs: 5000 },
    );
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(r.output.trim(), `["eth0","lo"] ${t.ipv4}`);
    await t.stop({ timeoutMs: 1000 });
  });

  test('stop: SIGTERM, SIGKILL after the timeout, nothing left in the namespace', async () => {
    const t = await runtime.startTask(task([container({ command: ['sh', '-c', 'trap "" TERM; echo ready; sleep 30 & wait'], portMappings: [] })]));
    await eventually(() => t.logs().some((l) => l.line === 'ready'));
    const started = Date.now();
    await t.stop({ timeoutMs: 300 });
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 3000, `took ${took} ms`);
    assert.equal(t.containers()[0]!.signal, 'SIGKILL');
    assert.deepEqual(namespaces(NS_PREFIX), []);
  });

  test('a container that exits at once releases the namespace by itself', async () => {
    const t = await runtime.startTask(task([container({ command: ['sh', '-c', 'echo bye; exit 7'], portMappings: [] })]));
    await t.stopped;
    assert.equal(t.containers()[0]!.exitCode, 7);
    assert.deepEqual(namespaces(NS_PREFIX), []);
    assert.deepEqual(veths(VETH_PREFIX), []);
    assert.deepEqual(runtime.tasks(), []);
  });

  test('a missing executable fails before any namespace is made', async () => {
    await assert.rejects(runtime.startTask(task([container({ command: ['no-such-binary-xyz'] })])), (err) => isPharosError(err, RUNTIME_EXECUTABLE_NOT_FOUND));
    assert.deepEqual(namespaces(NS_PREFIX), []);
  });

  test('an aborted start leaves nothing behind', async () => {
    await assert.rejects(runtime.startTask(task([container()]), AbortSignal.abort()), (err) => isPharosError(err, RUNTIME_ABORTED));
    assert.deepEqual(namespaces(NS_PREFIX), []);
    assert.deepEqual(runtime.tasks(), []);
  });

  test('host-mode tasks are refused', async () => {
    await assert.rejects(runtime.startTask({ ...task([container()]), networkMode: 'host' }), (err) => isPharosError(err, RUNTIME_NETWORK_MODE_UNSUPPORTED));
  });

  test('cleanup removes namespaces, their processes and veths left by a previous run', async () => {
    const stale = `${NS_PREFIX}stale`;
    ip('netns', 'add', stale);
    ip('link', 'add', `${VETH_PREFIX}zz`, 'type', 'veth', 'peer', 'name', `${VETH_PREFIX}zy`);
    // A process inside the stale namespace, detached from this test (as if its server had died).
    execFileSync('sh', ['-c', `setsid nsenter --net=/var/run/netns/${stale} sleep 30 >/dev/null 2>&1 &`]);
    await eventually(() => ip('netns', 'pids', stale).trim() !== '');
    const pid = Number(ip('netns', 'pids', stale).trim().split('\n')[0]);
    const live = await runtime.startTask(task([container()]));
    await runtime.cleanup();
    assert.deepEqual(namespaces(NS_PREFIX), [live.netns], 'the live task is kept, the stale one removed');
    assert.deepEqual(veths(VETH_PREFIX).length, 1);
    await eventually(() => {
      try {
        process.kill(pid, 0);
        return /\) Z/.test(execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }));
      } catch {
        return true;
      }
    }, { message: 'process in the stale namespace survived' });
    assert.equal(await get(`http://${live.ipv4}:8080/`), 'ok ');
    await live.stop({ timeoutMs: 1000 });
  });
});

test('namespace and veth names follow the bridge and the owner unless given', () => {
  const dflt = new NetnsRuntime();
  assert.deepEqual([dflt.bridge, dflt.netnsPrefix, dflt.vethPrefix], ['pharos0', 'pharos-', 'phv']);
  const a = new NetnsRuntime({ bridge: 'pharosa' });
  const b = new NetnsRuntime({ bridge: 'pharosb' });
  assert.equal(a.netnsPrefix, 'pharosa-');
  assert.match(a.vethPrefix, /^v[0-9a-z]{6}$/);
  assert.notEqual(a.vethPrefix, b.vethPrefix);
  // A server's runtime: its data-dir identity is in every name, so servers on one bridge never clash.
  const s1 = new NetnsRuntime({ owner: 'abcd1234' });
  const s2 = new NetnsRuntime({ owner: 'wxyz9876' });
  assert.equal(s1.netnsPrefix, 'pharos-abcd1234-');
  assert.match(s1.vethPrefix, /^v[0-9a-z]{6}$/);
  assert.notEqual(s1.vethPrefix, s2.vethPrefix);
  assert.throws(() => new NetnsRuntime({ owner: 'Bad Owner' }), /owner/);
});

describe('NetnsRuntime with a tiny CIDR', { skip: unsupported === undefined ? false : `network namespaces unavailable: ${unsupported}` }, () => {
  test('a task CIDR that overlaps another interface is refused with a clear reason', async () => {
    const rt = new NetnsRuntime({ taskCidr: '198.19.161.128/25', bridge: 'phtx0', netnsPrefix: 'phtx-', vethPrefix: 'phtxv' });
    // An interface with 198.19.161.0/24 (the other suite's bridge may hold it too).
    ip('link', 'add', 'phtxo0', 'type', 'bridge');
    ip('addr', 'add', '198.19.161.200/24', 'dev', 'phtxo0');
    try {
      await assert.rejects(rt.startTask(task([container()])), (err) => {
        assert.ok(isPharosError(err, RUNTIME_SETUP_FAILED));
        assert.match(err.message, /overlaps 198\.19\.161\.\d+\/24 on (phtxo0|phtn0)/);
        return true;
      });
    } finally {
      ip('link', 'del', 'phtxo0');
      await rt.close();
    }
    assert.deepEqual(namespaces('phtx-'), []);
  });

  test('a bridge left by our last run with another CIDR gets the new gateway address', async () => {
    ip('link', 'add', 'phtx0', 'type', 'bridge');
    // Ours: the alias names this runtime's owner (none here).
    ip('link', 'set', 'dev', 'phtx0', 'alias', 'pharos-owner:');
    ip('addr', 'add', '198.19.164.1/24', 'dev', 'phtx0');
    const rt = new NetnsRuntime({ taskCidr: '198.19.162.0/30', bridge: 'phtx0', netnsPrefix: 'phtx-', vethPrefix: 'phtxv' });
    try {
      await rt.cleanup();
      const t = await rt.startTask(task([container()]));
      assert.equal(await get(`http://${t.ipv4}:8080/`), 'ok ');
      assert.match(ip('-o', '-4', 'addr', 'show', 'dev', 'phtx0'), /inet 198\.19\.162\.1\/30/);
      assert.doesNotMatch(ip('-o', '-4', 'addr', 'show', 'dev', 'phtx0'), /198\.19\.164/);
    } finally {
      await rt.close({ timeoutMs: 500 });
    }
    assert.equal(linkExists('phtx0'), false);
  });

  test('an exhausted task CIDR is a clear error and leaks nothing', async () => {
    // A /30 holds network, gateway, one task and broadcast.
    const rt = new NetnsRuntime({ taskCidr: '198.19.162.0/30', bridge: 'phtx0', netnsPrefix: 'phtx-', vethPrefix: 'phtxv' });
    await rt.cleanup();
    try {
      const first = await rt.startTask(task([container({ command: ['sleep', '30'], portMappings: [] })]));
      assert.equal(first.ipv4, '198.19.162.2');
      await assert.rejects(rt.startTask(task([container({ command: ['sleep', '30'], portMappings: [] })])), (err) => {
        assert.ok(isPharosError(err, RUNTIME_TASK_CIDR_EXHAUSTED));
        assert.match(err.message, /198\.19\.162\.0\/30/);
        return true;
      });
      assert.deepEqual(namespaces('phtx-'), [first.netns]);
      await first.stop({ timeoutMs: 1000 });
      // The address is free again.
      const again = await rt.startTask(task([container({ command: ['sleep', '30'], portMappings: [] })]));
      assert.equal(again.ipv4, '198.19.162.2');
    } finally {
      await rt.close({ timeoutMs: 500 });
    }
    assert.deepEqual(namespaces('phtx-'), []);
    assert.equal(linkExists('phtx0'), false);
  });
});
