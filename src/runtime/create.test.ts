import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMetricsRegistry, isPharosError } from '../lib/index.ts';
import { createRuntime, NetnsRuntime, RUNTIME_NETWORK_MODE_UNSUPPORTED, type ContainerSpec, type NetworkMode, type TaskSpec } from './index.ts';

const unsupported = await NetnsRuntime.unsupportedReason('phtd-');
const sleeper: ContainerSpec = { name: 'main', image: 'busybox', essential: true, command: ['sleep', '30'], portMappings: [] };
let seq = 0;
const spec = (networkMode: NetworkMode): TaskSpec => ({ taskId: `d${process.pid}x${++seq}`, networkMode, containers: [sleeper] });

describe('createRuntime', () => {
  test('host and bridge tasks run on the host network', async () => {
    const rt = createRuntime({ advertiseAddress: '127.0.0.2', awsvpc: { taskCidr: '198.19.165.0/24', bridge: 'phtd0', netnsPrefix: 'phtd-', vethPrefix: 'phtdv' } });
    try {
      for (const mode of ['host', 'bridge'] as const) {
        const t = await rt.startTask(spec(mode));
        assert.equal(t.ipv4, '127.0.0.2');
        assert.equal(t.netns, undefined);
      }
      assert.equal(rt.tasks().length, 2);
      await assert.rejects(rt.startTask(spec('none' as NetworkMode)), (err) => isPharosError(err, RUNTIME_NETWORK_MODE_UNSUPPORTED));
    } finally {
      await rt.close({ timeoutMs: 500 });
    }
    assert.equal(rt.tasks().length, 0);
  });

  test('awsvpc tasks get a namespace', { skip: unsupported === undefined ? false : `network namespaces unavailable: ${unsupported}` }, async () => {
    const rt = createRuntime({ awsvpc: { taskCidr: '198.19.165.0/24', bridge: 'phtd0', netnsPrefix: 'phtd-', vethPrefix: 'phtdv' } });
    await rt.cleanup();
    try {
      const t = await rt.startTask(spec('awsvpc'));
      assert.match(t.ipv4, /^198\.19\.165\./);
      assert.equal(t.netns, `phtd-${t.taskId}`);
    } finally {
      await rt.close({ timeoutMs: 500 });
    }
  });

  test('metrics count starts by result, container exits and live tasks', async () => {
    const registry = createMetricsRegistry();
    const rt = createRuntime({ metrics: registry, awsvpc: { taskCidr: '198.19.165.0/24', bridge: 'phtd0', netnsPrefix: 'phtd-', vethPrefix: 'phtdv' } });
    try {
      const t = await rt.startTask(spec('host'));
      await assert.rejects(rt.startTask({ ...spec('host'), containers: [{ ...sleeper, command: ['no-such-binary-xyz'] }] }));
      let text = await registry.metrics();
      assert.match(text, /pharos_runtime_task_starts_total\{runtime="process",result="ok"\} 1/);
      assert.match(text, /pharos_runtime_task_starts_total\{runtime="process",result="RuntimeExecutableNotFound"\} 1/);
      assert.match(text, /pharos_runtime_tasks\{runtime="process"\} 1/);
      await t.stop({ timeoutMs: 1000 });
      text = await registry.metrics();
      assert.match(text, /pharos_runtime_container_exits_total\{runtime="process",how="signal",requested="true"\} 1/);
      assert.match(text, /pharos_runtime_tasks\{runtime="process"\} 0/);
      assert.match(text, /pharos_runtime_task_addresses\{state="capacity"\} 253/);
    } finally {
      await rt.close({ timeoutMs: 500 });
    }
  });

  test("awsvpc: 'host' runs awsvpc tasks on the host network", async () => {
    const rt = createRuntime({ awsvpc: 'host' });
    try {
      const t = await rt.startTask(spec('awsvpc'));
      assert.equal(t.ipv4, '127.0.0.1');
      assert.equal(t.netns, undefined);
    } finally {
      await rt.close({ timeoutMs: 500 });
    }
  });
});
