/**
 * Servers (and agents) sharing one host: each runtime has an owner (its data dir's identity);
 * cleanup removes only what carries it, a bridge is deleted only by the runtime that created it,
 * a bridge deleted under live tasks is made again at once, and a task whose network is gone ends.
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, test } from 'node:test';
import { eventually, isPharosError } from '../lib/index.ts';
import { NetnsRuntime, RUNTIME_SETUP_FAILED, type ContainerExit, type ContainerSpec, type TaskSpec } from './index.ts';
import { ip, linkExists, namespaces, netnsUnsupported } from './testkit.ts';

// Names and addresses of issue 8's tests (198.18.80.0-198.18.89.255), unique on this host.
const BRIDGE = 'ph8br0';
const CIDR_A = '198.18.80.0/24';
const CIDR_B = '198.18.81.0/24';
const HTTP_SERVER = "require('http').createServer((q,s)=>s.end('ok')).listen(8080)";

const unsupported = await netnsUnsupported('ph8probe-');

let seq = 0;
function task(over: Partial<ContainerSpec> = {}): TaskSpec {
  const c: ContainerSpec = { name: 'web', image: 'node:20', essential: true, command: ['node', '-e', HTTP_SERVER], portMappings: [{ containerPort: 8080, protocol: 'tcp' }], ...over };
  return { taskId: `s${process.pid}x${++seq}`, networkMode: 'awsvpc', containers: [c] };
}
async function reachable(ipv4: string): Promise<boolean> {
  try {
    return (await (await fetch(`http://${ipv4}:8080/`, { signal: AbortSignal.timeout(300) })).text()) === 'ok';
  } catch {
    return false;
  }
}

describe('runtimes sharing a host', { skip: unsupported === undefined ? false : `network namespaces unavailable: ${unsupported}` }, () => {
  const runtimes: NetnsRuntime[] = [];
  const make = (owner: string, taskCidr: string) => {
    const rt = new NetnsRuntime({ owner, taskCidr, bridge: BRIDGE });
    runtimes.push(rt);
    return rt;
  };
  // Each test starts from no bridge, and leaves none (a failed one must not fail the next).
  const reset = async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close({ timeoutMs: 200 })));
    if (linkExists(BRIDGE)) ip('link', 'del', BRIDGE);
  };
  beforeEach(reset);
  after(reset);

  test("cleanup leaves another owner's namespaces; only the creator deletes the bridge, once nothing else is on it", async () => {
    const a = make('i8ownera', CIDR_A);
    const b = make('i8ownerb', CIDR_B);
    assert.equal(a.netnsPrefix, 'ph8br0-i8ownera-');
    assert.notEqual(a.vethPrefix, b.vethPrefix);
    const ta = await a.startTask(task());
    const tb = await b.startTask(task());
    assert.equal(ta.netns, `ph8br0-i8ownera-${ta.taskId}`);
    // A restarted "b" cleans up: a's live namespace is not its to remove.
    const b2 = make('i8ownerb', CIDR_B);
    await b2.cleanup();
    assert.deepEqual(namespaces('ph8br0-i8ownera-'), [ta.netns]);
    await eventually(() => reachable(ta.ipv4), { message: "a's task unreachable after b's cleanup" });
    // b did not create the bridge: closing it leaves the bridge (and a's task) alone.
    await b.close({ timeoutMs: 200 });
    assert.equal(tb.containers()[0]!.state, 'STOPPED');
    assert.equal(linkExists(BRIDGE), true);
    assert.equal(await reachable(ta.ipv4), true);
    assert.doesNotMatch(ip('-4', 'addr', 'show', 'dev', BRIDGE), /198\.18\.81\.1\//, "b's gateway address stays behind");
    // a created it, and nothing else is attached any more: a deletes it.
    await a.close({ timeoutMs: 200 });
    assert.equal(linkExists(BRIDGE), false);
    assert.deepEqual(namespaces('ph8br0-'), []);
  });

  test('another Pharos server on the bridge with an overlapping CIDR is refused, not shared', async () => {
    const a = make('i8ownerc', CIDR_A);
    const b = make('i8ownerd', CIDR_A);
    const ta = await a.startTask(task());
    await eventually(() => reachable(ta.ipv4));
    await assert.rejects(b.startTask(task()), (err) => {
      assert.ok(isPharosError(err, RUNTIME_SETUP_FAILED), String(err));
      assert.match(err.message, /belongs to another Pharos server, i8ownerc.*--task-cidr/);
      return true;
    });
    assert.equal(await reachable(ta.ipv4), true);
    await a.close({ timeoutMs: 200 });
    await b.close({ timeoutMs: 200 });
  });

  test('a bridge deleted under live tasks is made again at once and the tasks re-attached', async () => {
    const a = make('i8ownere', CIDR_A);
    const t = await a.startTask(task());
    await eventually(() => reachable(t.ipv4));
    ip('link', 'del', BRIDGE);
    await eventually(() => reachable(t.ipv4), { timeoutMs: 5000, message: 'task unreachable after its bridge was deleted' });
    assert.match(ip('-d', 'link', 'show', BRIDGE), /alias pharos-owner:i8ownere/);
    // And the next task starts on it.
    const t2 = await a.startTask(task());
    await eventually(() => reachable(t2.ipv4));
    await a.close({ timeoutMs: 200 });
    assert.equal(linkExists(BRIDGE), false);
  });

  test("a task whose veth is deleted ends (its essential container exits, not asked to), so it leaves DNS", async () => {
    const a = make('i8ownerf', CIDR_A);
    const t = await a.startTask(task());
    await eventually(() => reachable(t.ipv4));
    const exited = new Promise<ContainerExit>((resolve) => t.onContainerExit(resolve));
    const veth = ip('-o', 'link', 'show', 'master', BRIDGE).match(/^\d+:\s+([^:@\s]+)/m)![1]!;
    ip('link', 'del', veth);
    const exit = await exited;
    assert.equal(exit.stopRequested, false);
    assert.equal(exit.signal, 'SIGKILL');
    await t.stopped;
    await a.close({ timeoutMs: 200 });
  });
});
