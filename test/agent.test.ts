/**
 * `pharos agent` end to end without network namespaces (host-network tasks without ports, any
 * user): a server that runs no tasks itself (`--run-tasks=false`, SigV4 credentials), three agents
 * as real child processes, a service placed on two of them (memberOf), `kill -9` of one agent (its
 * tasks recorded lost within the agent timeout and replaced on the others), the agent's restart
 * (same container instance, its orphaned processes killed), DRAINING, and an agent with a wrong
 * secret refused. Cloud Map, DNS and traffic are in agent-netns.test.ts (awsvpc, root).
 */
import { ECS } from '@aws-sdk/client-ecs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../src/cli/index.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { spawnAgent, tempDir, testConfig, type Agent } from './helpers.ts';

const CREDENTIALS = { accessKeyId: 'agentkey', secretAccessKey: 'agentsecret' };
const AGENT_TIMEOUT_MS = 3000;
/** The figures of the issue: lost tasks recorded (and out of Cloud Map) within the timeout + 1 s, replaced within the timeout + 5 s. */
const OUT_OF_DNS_MS = AGENT_TIMEOUT_MS + 1000;
const REPLACED_MS = AGENT_TIMEOUT_MS + 5000;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('pharos agent (host-network tasks)', () => {
  let server: RunningServer;
  let ecs: ECS;
  const agents: Record<string, Agent> = {};
  const dirs: Record<string, string> = { a: tempDir('pharos-agent-a-'), b: tempDir('pharos-agent-b-'), c: tempDir('pharos-agent-c-') };
  const agentEnv = { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, PHAROS_LOG_LEVEL: 'warn' };
  const start = (name: string, address: string) =>
    spawnAgent(['--server', server.apiUrl, '--cluster', 'work', '--advertise-addr', address, '--data-dir', dirs[name]!, '--attributes', `name=${name}`], agentEnv);

  before(async () => {
    const dataDir = tempDir();
    server = await startServer(
      testConfig(dataDir, { credentials: [CREDENTIALS], runTasks: false, agentTimeoutMs: AGENT_TIMEOUT_MS }),
      { logger: silentLogger() },
    );
    ecs = new ECS({ endpoint: server.apiUrl, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
    await ecs.createCluster({ clusterName: 'work' });
    [agents['a'], agents['b'], agents['c']] = await Promise.all([start('a', '127.0.0.11'), start('b', '127.0.0.12'), start('c', '127.0.0.13')]);
  });

  after(async () => {
    await ecs.updateService({ cluster: 'work', service: 'idle', desiredCount: 0 }).catch(() => undefined);
    for (const a of Object.values(agents)) {
      a.child.kill('SIGTERM');
      await a.exited;
    }
    await server?.close();
  });

  /** Agent name → RUNNING tasks of the service on it (`running`: only RUNNING ones, else every live one). */
  const placement = async (running = true) => {
    const out: Record<string, number> = {};
    for (const t of await liveTasks()) {
      if (running && t.lastStatus !== 'RUNNING') continue;
      const name = Object.entries(agents).find(([, a]) => a.arn === t.containerInstanceArn)?.[0] ?? 'none';
      out[name] = (out[name] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(out).sort());
  };
  const liveTasks = async () => {
    const { taskArns } = await ecs.listTasks({ cluster: 'work', serviceName: 'idle' });
    if (!taskArns?.length) return [];
    return (await ecs.describeTasks({ cluster: 'work', tasks: taskArns })).tasks!;
  };

  test('a service spreads over the agents; a killed agent is healed; a restarted one cleans up; DRAINING moves tasks', async (t) => {
    const list = await ecs.listContainerInstances({ cluster: 'work' });
    assert.deepEqual(list.containerInstanceArns!.sort(), Object.values(agents).map((a) => a.arn).sort(), 'the server has no instance of its own (--run-tasks=false)');
    await ecs.registerTaskDefinition({
      family: 'idle',
      networkMode: 'host',
      containerDefinitions: [{ name: 'app', image: 'node:20', essential: true, memory: 64, command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }],
    });
    await ecs.createService({ cluster: 'work', serviceName: 'idle', taskDefinition: 'idle', desiredCount: 4, placementConstraints: [{ type: 'memberOf', expression: 'attribute:name in [a, b]' }] });
    await eventually(async () => JSON.stringify(await placement()) === JSON.stringify({ a: 2, b: 2 }), { timeoutMs: 15_000, intervalMs: 100, message: 'two running tasks on agents a and b' });
    const onA = (await liveTasks()).filter((t) => t.containerInstanceArn === agents['a']!.arn);
    assert.ok(onA.every((t) => t.lastStatus === 'RUNNING' && t.containers![0]!.lastStatus === 'RUNNING' && t.startedAt !== undefined), 'state reported by the agent');
    const described = await ecs.describeContainerInstances({ cluster: 'work', containerInstances: [agents['a']!.arn] });
    assert.equal(described.containerInstances![0]!.runningTasksCount, 2);
    assert.equal(described.containerInstances![0]!.agentConnected, true);
    assert.ok(described.containerInstances![0]!.attributes!.some((x) => x.name === 'name' && x.value === 'a'));
    const clusters = await ecs.describeClusters({ clusters: ['work'] });
    assert.equal(clusters.clusters![0]!.registeredContainerInstancesCount, 3);
    // From now on c may take tasks too.
    await ecs.updateService({ cluster: 'work', service: 'idle', placementConstraints: [] });

    // kill -9: the agent's processes stay behind as orphans; its tasks are recorded lost and replaced on b and c.
    const killedAt = Date.now();
    agents['a']!.child.kill('SIGKILL');
    await agents['a']!.exited;
    await eventually(async () => (await ecs.describeTasks({ cluster: 'work', tasks: onA.map((t) => t.taskArn!) })).tasks!.every((t) => t.lastStatus === 'STOPPED'), {
      timeoutMs: OUT_OF_DNS_MS + 2000,
      intervalMs: 50,
      message: "agent a's tasks recorded STOPPED",
    });
    const stoppedAfter = Date.now() - killedAt;
    t.diagnostic(`kill -9: tasks recorded STOPPED after ${stoppedAfter} ms (agent timeout ${AGENT_TIMEOUT_MS} ms)`);
    assert.ok(stoppedAfter <= OUT_OF_DNS_MS, `recorded STOPPED after ${stoppedAfter} ms (limit ${OUT_OF_DNS_MS})`);
    await eventually(async () => JSON.stringify(await placement(true)) === JSON.stringify({ b: 2, c: 2 }), { timeoutMs: REPLACED_MS, intervalMs: 50, message: 'replaced on agents b and c' });
    const replacedAfter = Date.now() - killedAt;
    t.diagnostic(`kill -9: 4 running again after ${replacedAfter} ms`);
    assert.ok(replacedAfter <= REPLACED_MS, `4 running again after ${replacedAfter} ms (limit ${REPLACED_MS})`);
    for (const t of (await ecs.describeTasks({ cluster: 'work', tasks: onA.map((x) => x.taskArn!) })).tasks!) assert.match(t.stoppedReason!, /container instance [0-9a-f]{32} was lost/);
    const gone = await ecs.describeContainerInstances({ cluster: 'work', containerInstances: [agents['a']!.arn] });
    assert.equal(gone.containerInstances![0]!.agentConnected, false);

    // The orphans of the killed agent (found by their PHAROS_TASK_ID) die when it starts again.
    const orphanPids = await orphansOf(onA.map((t) => t.taskArn!.split('/').at(-1)!));
    // Any Pharos process on this machine that starts meanwhile (other test files) kills orphans
    // whose owner is dead too; usually both are still there.
    if (orphanPids.length < 2) t.diagnostic(`${2 - orphanPids.length} orphan(s) already killed by another Pharos process's cleanup`);
    agents['a'] = await start('a', '127.0.0.11');
    assert.equal(agents['a'].arn, onA[0]!.containerInstanceArn, 'the same container instance again');
    await eventually(() => orphanPids.every((pid) => !alive(pid)), { timeoutMs: 5000, message: 'orphans killed at restart' });
    const back = await ecs.describeContainerInstances({ cluster: 'work', containerInstances: [agents['a'].arn] });
    assert.equal(back.containerInstances![0]!.agentConnected, true);

    // DRAINING b: replacements start elsewhere first, then b's tasks stop.
    await ecs.updateContainerInstancesState({ cluster: 'work', containerInstances: [agents['b']!.arn], status: 'DRAINING' });
    await eventually(async () => (await placement(true))['b'] === undefined && Object.values(await placement(true)).reduce((x, y) => x + y, 0) === 4, { timeoutMs: 15_000, intervalMs: 100, message: 'moved off b' });
    const drained = await ecs.describeTasks({ cluster: 'work', tasks: (await ecs.listTasks({ cluster: 'work', containerInstance: agents['b']!.arn, desiredStatus: 'STOPPED' })).taskArns! });
    assert.equal(drained.tasks!.length, 2, 'ListTasks filters by container instance');
    assert.ok(drained.tasks!.every((x) => x.stoppedReason === 'Container instance is being drained' && x.containerInstanceArn === agents['b']!.arn));
  });

  test('an agent that was only silent (SIGSTOP) comes back and stops the tasks the server replaced', async () => {
    const b = agents['b']!;
    await ecs.updateContainerInstancesState({ cluster: 'work', containerInstances: [b.arn], status: 'ACTIVE' });
    await ecs.updateService({ cluster: 'work', service: 'idle', placementConstraints: [{ type: 'memberOf', expression: 'attribute:name == b' }], forceNewDeployment: true });
    await eventually(async () => JSON.stringify(await placement()) === JSON.stringify({ b: 4 }), { timeoutMs: 20_000, intervalMs: 100, message: 'all four on b' });
    const onB = (await liveTasks()).map((t) => t.taskArn!.split('/').at(-1)!);
    const pids = await orphansOf(onB);
    assert.equal(pids.length, 4);
    await ecs.updateService({ cluster: 'work', service: 'idle', placementConstraints: [] });
    b.child.kill('SIGSTOP');
    try {
      await eventually(async () => (await placement())['b'] === undefined && Object.values(await placement()).length > 0, { timeoutMs: REPLACED_MS, intervalMs: 100, message: 'replaced while b is silent' });
    } finally {
      b.child.kill('SIGCONT');
    }
    await eventually(() => pids.every((pid) => !alive(pid)), { timeoutMs: 10_000, message: "b stopped the tasks the server replaced" });
    const back = await ecs.describeContainerInstances({ cluster: 'work', containerInstances: [b.arn] });
    assert.equal(back.containerInstances![0]!.agentConnected, true);
    assert.equal(back.containerInstances![0]!.runningTasksCount, 0);
  });

  test('an agent with a wrong secret is refused at start', async () => {
    await assert.rejects(
      spawnAgent(['--server', server.apiUrl, '--cluster', 'work', '--data-dir', tempDir()], { ...agentEnv, AWS_SECRET_ACCESS_KEY: 'wrong' }),
      (err: Error & { code?: unknown }) => err.code === 1 && /could not start: .*signature/i.test(err.message),
    );
  });
});

/** Pids of processes whose environment carries one of these PHAROS_TASK_IDs. */
async function orphansOf(taskIds: string[]): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const env = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    if (taskIds.some((id) => env.includes(`PHAROS_TASK_ID=${id}\0`))) pids.push(Number(name));
  }
  return pids;
}
