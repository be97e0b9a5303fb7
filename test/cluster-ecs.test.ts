/**
 * ECS on several servers on a 3-member etcd. Each server has its own node name, and only the
 * leader runs tasks, on its own built-in container instance; a RunTask sent to a follower runs
 * there too. Leadership moves with `etcdctl del` of the leader key: the new leader's instance takes
 * the tasks and the old leader's is disconnected at once. When the first leader wins again, its
 * second term schedules with working metrics and serves the logs of the tasks it runs now;
 * `pharos logs` sent to the follower gets them from the leader.
 */
import type { ECS } from '@aws-sdk/client-ecs';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { eventually } from '../src/lib/index.ts';
import { createRuntime } from '../src/runtime/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { ecsClient, startTestServer, tempDir, type TestServer } from './helpers.ts';

const skip = etcdSkip();
const LEASE_TTL_MS = 2000;
const PREFIX = '/ecs-servers';
const LEADER_KEY = '/cluster/leader';
const ECS_TARGET = 'AmazonEC2ContainerServiceV20141113';
const CLUSTER = 'i11';
const NODE = process.execPath;

interface Server {
  s: TestServer;
  ecs: ECS;
  /** The ec2InstanceId of its built-in container instance. */
  instanceName: string;
}

describe('ECS on several servers on etcd', { skip }, () => {
  let etcd: EtcdTestCluster;
  const servers: Server[] = [];
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
    // One server named by --node-name, one by default (its server id): both must be unique.
    for (const nodeName of ['i11-alpha', undefined]) {
      const dataDir = tempDir('pharos-i11-ecs-');
      const s = await startTestServer({ store: etcd.url(PREFIX), leaseTtlMs: LEASE_TTL_MS, nodeName }, dataDir, createRuntime({ awsvpc: 'host' }));
      const node = nodeName ?? readFileSync(join(dataDir, 'server-id'), 'utf8').trim();
      servers.push({ s, ecs: ecsClient(s.apiUrl), instanceName: `pharos-server-${node}` });
    }
  });
  after(async () => {
    for (const { s, ecs } of servers) {
      ecs.destroy();
      await s.destroy();
    }
    await etcd?.stop();
  });

  const leader = async (): Promise<Server | undefined> => {
    for (const server of servers) {
      const st = (await (await fetch(`${server.s.apiUrl}/cluster`)).json()) as { self: string; leader?: { id: string } };
      if (st.leader?.id === st.self) return server;
    }
    return undefined;
  };
  /** Deletes the leader key as an operator would; the leader steps down and the other server wins. */
  const moveLeadership = async (from: Server): Promise<Server> => {
    await etcd.ctl('del', `${PREFIX}${LEADER_KEY}`);
    return eventually(async () => {
      const l = await leader();
      return l && l !== from ? l : undefined;
    }, { timeoutMs: 10_000, message: 'the other server leads' });
  };
  /** ec2InstanceId → agentConnected of the cluster's instances, as `server` lists and describes them. */
  const instances = async (server: Server): Promise<Record<string, boolean>> => {
    const { containerInstanceArns = [] } = await server.ecs.listContainerInstances({ cluster: CLUSTER });
    if (containerInstanceArns.length === 0) return {};
    const { containerInstances = [] } = await server.ecs.describeContainerInstances({ cluster: CLUSTER, containerInstances: containerInstanceArns });
    assert.equal(new Set(containerInstances.map((i) => i.ec2InstanceId)).size, containerInstances.length, 'instance names are unique');
    return Object.fromEntries(containerInstances.map((i) => [i.ec2InstanceId!, i.agentConnected!]));
  };
  const waitInstances = async (want: Record<string, boolean>, message: string) => {
    for (const server of servers) {
      let seen = {};
      await eventually(async () => isDeepStrictEqual((seen = await instances(server)), want), { timeoutMs: 10_000 }).catch((err: Error) => {
        throw new Error(`${message}: ${server.instanceName} lists ${JSON.stringify(seen)}`, { cause: err });
      });
    }
  };
  /** RunTask through `via`; resolves once RUNNING with the ec2InstanceId of the instance it runs on. */
  const runTask = async (via: Server, line: string): Promise<{ arn: string; on: string }> => {
    const { tasks, failures } = await via.ecs.runTask({ cluster: CLUSTER, taskDefinition: 'hello', overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'LINE', value: line }] }] } });
    assert.deepEqual(failures, []);
    const arn = tasks![0]!.taskArn!;
    const task = await eventually(async () => {
      const t = (await via.ecs.describeTasks({ cluster: CLUSTER, tasks: [arn] })).tasks?.[0];
      return t?.lastStatus === 'RUNNING' ? t : undefined;
    }, { timeoutMs: 10_000, message: `task "${line}" RUNNING` });
    const { containerInstances } = await via.ecs.describeContainerInstances({ cluster: CLUSTER, containerInstances: [task.containerInstanceArn!] });
    return { arn, on: containerInstances![0]!.ec2InstanceId! };
  };
  const logLines = async (server: Server, arn: string): Promise<string[]> => {
    const res = await fetch(server.s.apiUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `${ECS_TARGET}.GetTaskLogs` },
      body: JSON.stringify({ cluster: CLUSTER, task: arn }),
    });
    return ((await res.json()) as { events: { message: string }[] }).events.map((e) => e.message);
  };
  /** What `pharos logs --server <server>` prints. */
  const pharosLogs = async (server: Server, arn: string): Promise<string> => {
    let out = '';
    let err = '';
    const code = await main(['logs', '--server', server.s.apiUrl, '--cluster', CLUSTER, arn], { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env: {} });
    assert.equal(code, 0, err);
    return out;
  };
  const metric = async (server: Server, line: RegExp): Promise<number> => Number(line.exec(await (await fetch(`${server.s.apiUrl}/metrics`)).text())?.[1] ?? NaN);
  const schedulerPasses = (server: Server) => metric(server, /^pharos_ecs_scheduler_passes_total (\d+)/m);
  const runTasksStarted = (server: Server) => metric(server, /^pharos_ecs_tasks_started_total\{launch="runtask"\} (\d+)/m);

  test('one uniquely named instance per leading server; tasks follow the leader; a leader that wins again has metrics and logs', async () => {
    const first = await eventually(leader, { timeoutMs: 10_000, message: 'a leader' });
    const second = servers.find((s) => s !== first)!;
    assert.notEqual(first.instanceName, second.instanceName);

    // Through the follower: the cluster gets the leader's instance only (the follower makes none).
    await second.ecs.createCluster({ clusterName: CLUSTER });
    await waitInstances({ [first.instanceName]: true }, "only the leader's instance");
    await second.ecs.registerTaskDefinition({
      family: 'hello',
      networkMode: 'host',
      containerDefinitions: [{ name: 'app', image: 'local', command: [NODE, '-e', "console.log('hello from ' + process.env.LINE); setInterval(() => {}, 1000)"] }],
    });
    const term1 = await runTask(second, 'term 1');
    assert.equal(term1.on, first.instanceName, "placed on the leader's instance, and it runs there");
    await eventually(async () => (await logLines(first, term1.arn)).includes('hello from term 1'), { message: 'term 1 logs' });
    // `pharos logs` through the follower asks the leader, which keeps them.
    const printed = await pharosLogs(second, term1.arn);
    assert.match(printed, / app O hello from term 1$/m);
    const passesTerm1 = await schedulerPasses(first);
    assert.ok(passesTerm1 > 0, 'the scheduler counts its passes');

    // The other server leads: its own instance runs the tasks, the old leader's is disconnected.
    assert.equal(await moveLeadership(first), second);
    await waitInstances({ [first.instanceName]: false, [second.instanceName]: true }, "the new leader's instance only is connected");
    const onSecond = await runTask(first, 'the other server');
    assert.equal(onSecond.on, second.instanceName);
    await eventually(async () => (await second.ecs.describeTasks({ cluster: CLUSTER, tasks: [term1.arn] })).tasks?.[0]?.lastStatus === 'STOPPED', { message: "the old leader's task stopped" });

    // The first server wins again: a second term with working metrics and its own task logs.
    assert.equal(await moveLeadership(second), first);
    await waitInstances({ [first.instanceName]: true, [second.instanceName]: false }, "the first server's instance is connected again");
    const startedBefore = await runTasksStarted(first);
    const passesBefore = await schedulerPasses(first);
    const term2 = await runTask(second, 'term 2');
    assert.equal(term2.on, first.instanceName);
    await eventually(async () => (await logLines(first, term2.arn)).includes('hello from term 2'), { message: 'term 2 logs served' });
    await eventually(async () => (await schedulerPasses(first)) > passesBefore, { message: 'scheduler passes counted in the second term' });
    assert.equal(await runTasksStarted(first), startedBefore + 1, 'the task started in the second term is counted');
    assert.equal(await metric(first, /^pharos_cluster_leader (\d+)/m), 1);
    // The first term's task logs are still there too.
    assert.ok((await logLines(first, term1.arn)).includes('hello from term 1'));
  });
});
