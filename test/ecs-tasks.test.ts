/**
 * ECS tasks with real processes on the host network (no root needed) through a real server and
 * @aws-sdk/client-ecs: the wire error shape, each bad-input stop reason, RunTask tasks staying out
 * of Cloud Map, task logs, backoff, and a restart that replaces the tasks it lost. The
 * CIDR-exhaustion case needs network namespaces (root) and is skipped visibly without them.
 */
import { ECS, type Task } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../src/cli/index.ts';
import { main } from '../src/cli/main.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { ecsClient, httpNamespace, privateNamespace, sdClient, testConfig } from './helpers.ts';
import { createRuntime, NetnsRuntime, type Runtime } from '../src/runtime/index.ts';
import { keys as registryKeys } from '../src/registry/index.ts';
import { openStore } from '../src/store/index.ts';

const ECS_TARGET = 'AmazonEC2ContainerServiceV20141113';
const NODE = process.execPath;

interface Harness {
  server: RunningServer;
  ecs: ECS;
  sd: ServiceDiscovery;
  close(): Promise<void>;
}

async function start(dataDir: string, runtime: Runtime): Promise<Harness> {
  const config = testConfig(dataDir);
  const server = await startServer(config, { logger: silentLogger(), runtime });
  const ecs = ecsClient(server.apiUrl);
  const sd = sdClient(server.apiUrl);
  return {
    server,
    ecs,
    sd,
    close: async () => {
      ecs.destroy();
      sd.destroy();
      await server.close();
    },
  };
}

/**
 * A free port below the ephemeral range (32768+ on Linux): port-0 servers and client sockets of
 * other test files get ephemeral ports, so they cannot take it between this check and the task's listen.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const srv = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '0.0.0.0', () => resolve(true));
    });
    if (ok) {
      await new Promise((resolve) => srv.close(resolve));
      return port;
    }
  }
}

async function taskOf(ecs: ECS, cluster: string, arn: string): Promise<Task | undefined> {
  const { tasks } = await ecs.describeTasks({ cluster, tasks: [arn] });
  return tasks?.[0];
}

async function stoppedTask(ecs: ECS, cluster: string, arn: string, timeoutMs = 10_000): Promise<Task> {
  return eventually(async () => {
    const t = await taskOf(ecs, cluster, arn);
    return t?.lastStatus === 'STOPPED' ? t : undefined;
  }, { timeoutMs, message: `task ${arn} STOPPED` });
}

async function runOne(ecs: ECS, family: string, container: Record<string, unknown>): Promise<string> {
  await ecs.registerTaskDefinition({ family, networkMode: 'host', containerDefinitions: [{ name: 'app', image: 'local', ...container }] });
  const { tasks } = await ecs.runTask({ cluster: 'tasks', taskDefinition: family });
  return tasks![0]!.taskArn!;
}

describe('ECS tasks on the host network', () => {
  let h: Harness;
  let dataDir: string;
  const holders: Server[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pharos-ecs-tasks-'));
    h = await start(dataDir, createRuntime({ awsvpc: 'host' }));
    await h.ecs.createCluster({ clusterName: 'tasks' });
  });
  after(async () => {
    for (const s of holders) s.close();
    await h?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('errors carry __type and a lowercase message', async () => {
    const res = await fetch(h.server.apiUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `${ECS_TARGET}.DescribeServices` },
      body: JSON.stringify({ cluster: 'nope', services: ['x'] }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { __type: 'ClusterNotFoundException', message: 'Cluster not found.' });
    await assert.rejects(h.ecs.describeServices({ cluster: 'nope', services: ['x'] }), { name: 'ClusterNotFoundException' });
  });

  test('a command that does not exist: TaskFailedToStart', async () => {
    const arn = await runOne(h.ecs, 'missing', { command: ['/nonexistent/pharos-nope'] });
    const t = await stoppedTask(h.ecs, 'tasks', arn);
    assert.equal(t.stopCode, 'TaskFailedToStart');
    assert.match(t.stoppedReason!, /CannotStartContainerError.*not found/);
  });

  test('a container with neither entryPoint nor command: TaskFailedToStart', async () => {
    const arn = await runOne(h.ecs, 'nocommand', {});
    const t = await stoppedTask(h.ecs, 'tasks', arn);
    assert.equal(t.stopCode, 'TaskFailedToStart');
  });

  test('an essential container that exits at once: EssentialContainerExited with its exit code', async () => {
    const arn = await runOne(h.ecs, 'exits', { command: [NODE, '-e', 'process.exit(3)'] });
    const t = await stoppedTask(h.ecs, 'tasks', arn);
    assert.equal(t.stopCode, 'EssentialContainerExited');
    assert.match(t.stoppedReason!, /^Essential container in task exited/);
    assert.equal(t.containers![0]!.exitCode, 3);
  });

  test('a non-essential container that exits does not stop the task', async () => {
    await h.ecs.registerTaskDefinition({
      family: 'sidecar',
      networkMode: 'host',
      containerDefinitions: [
        { name: 'app', image: 'local', command: [NODE, '-e', 'setInterval(() => {}, 1000)'] },
        { name: 'init', image: 'local', essential: false, command: [NODE, '-e', 'process.exit(5)'] },
      ],
    });
    const { tasks } = await h.ecs.runTask({ cluster: 'tasks', taskDefinition: 'sidecar' });
    const arn = tasks![0]!.taskArn!;
    const t = await eventually(async () => {
      const x = await taskOf(h.ecs, 'tasks', arn);
      const init = x?.containers?.find((c) => c.name === 'init');
      return init?.lastStatus === 'STOPPED' ? x : undefined;
    }, { message: 'init container stopped' });
    assert.equal(t!.lastStatus, 'RUNNING');
    assert.equal(t!.containers!.find((c) => c.name === 'init')!.exitCode, 5);
    assert.equal(t!.containers!.find((c) => c.name === 'app')!.lastStatus, 'RUNNING');
    await h.ecs.stopTask({ cluster: 'tasks', task: arn });
    const stopped = await stoppedTask(h.ecs, 'tasks', arn);
    assert.equal(stopped.stopCode, 'UserInitiated');
  });

  test('a host port already in use: TaskFailedToStart', async () => {
    const port = await freePort();
    const holder = createServer();
    holders.push(holder);
    await new Promise<void>((resolve) => holder.listen(port, '0.0.0.0', resolve));
    const arn = await runOne(h.ecs, 'portinuse', { command: [NODE, '-e', 'setInterval(() => {}, 1000)'], portMappings: [{ containerPort: port }] });
    const t = await stoppedTask(h.ecs, 'tasks', arn);
    assert.equal(t.stopCode, 'TaskFailedToStart');
    assert.match(t.stoppedReason!, /in use/);
  });

  test('RunTask tasks run, show their logs, are never registered, and stop on StopTask', async () => {
    const { OperationId } = await h.sd.createHttpNamespace({ Name: 'tasks-http' });
    await eventually(async () => (await h.sd.getOperation({ OperationId })).Operation?.Status === 'SUCCESS');
    const arn = await runOne(h.ecs, 'logger', { command: [NODE, '-e', "console.log('hello from the task'); console.error('to stderr'); setInterval(() => {}, 1000)"] });
    await eventually(async () => (await taskOf(h.ecs, 'tasks', arn))?.lastStatus === 'RUNNING', { message: 'RUNNING' });
    const logs = await eventually(async () => {
      const res = await fetch(h.server.apiUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `${ECS_TARGET}.GetTaskLogs` },
        body: JSON.stringify({ cluster: 'tasks', task: arn }),
      });
      const out = (await res.json()) as { events: { message: string; stream: string; container: string }[] };
      return out.events.length >= 2 ? out.events : undefined;
    }, { message: 'log lines' });
    assert.deepEqual(logs.map((l) => [l.container, l.stream, l.message]).sort(), [
      ['app', 'stderr', 'to stderr'],
      ['app', 'stdout', 'hello from the task'],
    ]);
    let printed = '';
    const code = await main(['logs', '--endpoint', h.server.apiUrl, '--cluster', 'tasks', '--container', 'app', arn], {
      stdout: { write: (s: string) => (printed += s) },
      stderr: { write: () => undefined },
      env: {},
    });
    assert.equal(code, 0);
    assert.match(printed, /^\d{4}-\d\d-\d\dT\S+ app O hello from the task$/m);
    assert.match(printed, / app E to stderr$/m);
    const { Namespaces } = await h.sd.listNamespaces({});
    for (const ns of Namespaces ?? []) {
      const { Services } = await h.sd.listServices({ Filters: [{ Name: 'NAMESPACE_ID', Values: [ns.Id!] }] });
      for (const s of Services ?? []) assert.equal((await h.sd.listInstances({ ServiceId: s.Id! })).Instances?.length ?? 0, 0);
    }
    const t0 = Date.now();
    await h.ecs.stopTask({ cluster: 'tasks', task: arn });
    const t = await stoppedTask(h.ecs, 'tasks', arn);
    assert.equal(t.stopCode, 'UserInitiated');
    assert.ok(Date.now() - t0 < 5000, 'an unregistered task has no drain delay');
  });

  test('a container that ignores SIGTERM is killed after stopTimeout (exit code 137)', async () => {
    const arn = await runOne(h.ecs, 'stubborn', { command: [NODE, '-e', "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000)"], stopTimeout: 2 });
    await eventually(async () => (await taskOf(h.ecs, 'tasks', arn))?.lastStatus === 'RUNNING', { message: 'RUNNING' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // let node install its SIGTERM handler
    const t0 = Date.now();
    await h.ecs.stopTask({ cluster: 'tasks', task: arn });
    const t = await stoppedTask(h.ecs, 'tasks', arn);
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 6000, `stopped after ${took} ms`);
    assert.equal(t.containers![0]!.exitCode, 137);
    const metrics = await (await fetch(`${h.server.apiUrl}/metrics`)).text();
    assert.match(metrics, /pharos_ecs_tasks_started_total\{launch="runtask"\} [1-9]/);
    assert.match(metrics, /pharos_ecs_tasks_stopped_total\{stop_code="UserInitiated"\} [1-9]/);
  });

  test('a registration Cloud Map refuses is reported in the service events', async () => {
    const nsId = await privateNamespace(h.sd, 'gone.local', 'vpc-1');
    const { Service } = await h.sd.createService({ Name: 'gone', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 1 }] } });
    const port = await freePort();
    await h.ecs.registerTaskDefinition({
      family: 'gone',
      networkMode: 'host',
      containerDefinitions: [{ name: 'app', image: 'local', command: [NODE, '-e', `require('http').createServer((q, s) => s.end()).listen(${port})`], portMappings: [{ containerPort: port }] }],
    });
    await h.ecs.createService({ cluster: 'tasks', serviceName: 'gone', taskDefinition: 'gone', desiredCount: 0, serviceRegistries: [{ registryArn: Service!.Arn!, containerName: 'app', containerPort: port }] });
    await h.sd.deleteService({ Id: Service!.Id! });
    await h.ecs.updateService({ cluster: 'tasks', service: 'gone', desiredCount: 1 });
    const event = await eventually(async () => {
      const { services } = await h.ecs.describeServices({ cluster: 'tasks', services: ['gone'] });
      return services![0]!.events!.find((e) => /could not be registered in Cloud Map/.test(e.message!));
    }, { timeoutMs: 10_000, message: 'registration failure event' });
    assert.match(event.message!, /does not exist/);
    await h.ecs.deleteService({ cluster: 'tasks', service: 'gone', force: true });
  });

  test('inside the grace period an unhealthy task leaves Cloud Map (no custom health) and returns when healthy', async () => {
    const nsId = await httpNamespace(h.sd, 'grace-http');
    const { Service } = await h.sd.createService({ Name: 'grace', NamespaceId: nsId });
    const marker = join(dataDir, 'healthy');
    writeFileSync(marker, '');
    const port = await freePort();
    await h.ecs.registerTaskDefinition({
      family: 'grace',
      networkMode: 'host',
      containerDefinitions: [
        {
          name: 'app',
          image: 'local',
          command: [NODE, '-e', `require('http').createServer((q, s) => s.end()).listen(${port})`],
          portMappings: [{ containerPort: port }],
          healthCheck: { command: ['CMD', 'test', '-f', marker], interval: 5, timeout: 2, retries: 1, startPeriod: 5 },
        },
      ],
    });
    await h.ecs.createService({
      cluster: 'tasks',
      serviceName: 'grace',
      taskDefinition: 'grace',
      desiredCount: 1,
      healthCheckGracePeriodSeconds: 600,
      serviceRegistries: [{ registryArn: Service!.Arn!, containerName: 'app', containerPort: port }],
    });
    const instances = async () => ((await h.sd.listInstances({ ServiceId: Service!.Id! })).Instances ?? []).map((i) => i.Id);
    const [id] = await eventually(async () => {
      const ids = await instances();
      return ids.length === 1 ? ids : undefined;
    }, { timeoutMs: 10_000, message: 'registered once healthy' });
    unlinkSync(marker);
    await eventually(async () => (await instances()).length === 0, { timeoutMs: 10_000, message: 'unhealthy task deregistered' });
    const { taskArns } = await h.ecs.listTasks({ cluster: 'tasks', serviceName: 'grace' });
    assert.deepEqual(taskArns!.map((a) => a.split('/').pop()), [id], 'inside the grace period the task is kept');
    assert.equal((await taskOf(h.ecs, 'tasks', taskArns![0]!))!.healthStatus, 'UNHEALTHY');
    writeFileSync(marker, '');
    await eventually(async () => JSON.stringify(await instances()) === JSON.stringify([id]), { timeoutMs: 10_000, message: 're-registered when healthy again' });
    await h.ecs.deleteService({ cluster: 'tasks', service: 'grace', force: true });
  });

  test('a service whose tasks cannot start backs off instead of spinning', async () => {
    await h.ecs.registerTaskDefinition({ family: 'broken', networkMode: 'host', containerDefinitions: [{ name: 'app', image: 'local', command: ['/nonexistent/x'] }] });
    await h.ecs.createService({ cluster: 'tasks', serviceName: 'broken', taskDefinition: 'broken', desiredCount: 1 });
    await new Promise((resolve) => setTimeout(resolve, 4000)); // observing a rate: a fixed window is the measurement
    const { taskArns } = await h.ecs.listTasks({ cluster: 'tasks', serviceName: 'broken', desiredStatus: 'STOPPED' });
    assert.ok(taskArns!.length >= 1 && taskArns!.length <= 4, `${taskArns!.length} attempts in 4 s`);
    const { services } = await h.ecs.describeServices({ cluster: 'tasks', services: ['broken'] });
    assert.match(services![0]!.events![0]!.message!, /Retrying in \d+ s/);
    assert.ok(services![0]!.deployments![0]!.failedTasks! >= 1);
    await h.ecs.deleteService({ cluster: 'tasks', service: 'broken', force: true });
  });
});

describe('restart', () => {
  test('a restarted server records the tasks it lost and the scheduler replaces them', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pharos-ecs-restart-'));
    const port = await freePort();
    try {
      let h = await start(dataDir, createRuntime({ awsvpc: 'host' }));
      const nsId = await privateNamespace(h.sd, 'restart.local', 'vpc-1');
      const { Service } = await h.sd.createService({ Name: 'api', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 1 }] } });
      await h.ecs.createCluster({});
      await h.ecs.registerTaskDefinition({
        family: 'api',
        networkMode: 'host',
        containerDefinitions: [{ name: 'app', image: 'local', command: [NODE, '-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port})`], portMappings: [{ containerPort: port }] }],
      });
      await h.ecs.createService({ serviceName: 'api', taskDefinition: 'api', desiredCount: 1, serviceRegistries: [{ registryArn: Service!.Arn!, containerName: 'app', containerPort: port }] });
      const first = await eventually(async () => {
        const { Instances } = await h.sd.listInstances({ ServiceId: Service!.Id! });
        return Instances?.length === 1 ? Instances[0] : undefined;
      }, { message: 'first task registered' });
      assert.equal(first.Attributes!['AWS_INSTANCE_IPV4'], '127.0.0.1');
      assert.equal(first.Attributes!['AWS_INSTANCE_PORT'], String(port));
      await h.close();

      // A graceful shutdown deregistered and stopped the task. Rewind the records to what a crash
      // (kill -9) would have left: the task RUNNING and registered.
      const kv = await openStore(`sqlite:${join(dataDir, 'pharos.db')}`);
      const taskKey = `/ecs/task/default/${first.Id}`;
      const stored = (await kv.get(taskKey))!;
      const rec = JSON.parse(stored.value);
      assert.equal(rec.lastStatus, 'STOPPED');
      assert.equal(rec.stopCode, 'TerminationNotice');
      assert.equal(await kv.get(registryKeys.instance(Service!.Id!, first.Id!)), undefined, 'deregistered at shutdown');
      Object.assign(rec, { lastStatus: 'RUNNING', desiredStatus: 'RUNNING', registration: { serviceId: Service!.Id! } });
      for (const k of ['stopCode', 'stoppedReason', 'stoppedAt', 'stoppingAt', 'executionStoppedAt']) delete rec[k];
      await kv.update(taskKey, JSON.stringify(rec), stored.modRevision);
      await kv.create(registryKeys.instance(Service!.Id!, first.Id!), JSON.stringify({ id: first.Id, serviceId: Service!.Id!, attributes: first.Attributes, registeredAt: Date.now() }));
      await kv.close();

      h = await start(dataDir, createRuntime({ awsvpc: 'host' }));
      try {
        const old = await stoppedTask(h.ecs, 'default', first.Id!);
        assert.equal(old.stopCode, 'TerminationNotice');
        assert.match(old.stoppedReason!, /restarted/);
        const second = await eventually(async () => {
          const { Instances } = await h.sd.listInstances({ ServiceId: Service!.Id! });
          return Instances?.length === 1 && Instances[0]!.Id !== first.Id ? Instances[0] : undefined;
        }, { timeoutMs: 10_000, message: 'replacement registered after restart' });
        assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'ok');
        const { services } = await h.ecs.describeServices({ services: ['api'] });
        assert.equal(services![0]!.runningCount, 1);
        assert.notEqual(second.Id, first.Id);
        await h.ecs.deleteService({ service: 'api', force: true });
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

const netnsReason = await NetnsRuntime.unsupportedReason('phecx-');
const noNetns = netnsReason === undefined ? false : `needs network namespaces: ${netnsReason}`;
if (noNetns && process.env['CI'] === 'true') throw new Error(`CI=true but ${noNetns}`);

describe('awsvpc task CIDR exhausted', { skip: noNetns }, () => {
  test('tasks beyond the CIDR stop with TaskFailedToStart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pharos-ecs-cidr-'));
    const runtime = createRuntime({ awsvpc: { taskCidr: '198.19.79.0/29', bridge: 'phecx0', netnsPrefix: 'phecx-', vethPrefix: 'phecxv' } });
    const h = await start(dataDir, runtime);
    try {
      await h.ecs.createCluster({});
      await h.ecs.registerTaskDefinition({ family: 'tiny', networkMode: 'awsvpc', containerDefinitions: [{ name: 'app', image: 'local', command: [NODE, '-e', 'setInterval(() => {}, 1000)'] }] });
      const { tasks } = await h.ecs.runTask({ taskDefinition: 'tiny', count: 10, networkConfiguration: { awsvpcConfiguration: { subnets: ['s'] } } });
      const final = await eventually(async () => {
        const { tasks: all } = await h.ecs.describeTasks({ tasks: tasks!.map((t) => t.taskArn!) });
        return all!.every((t) => t.lastStatus === 'RUNNING' || t.lastStatus === 'STOPPED') ? all : undefined;
      }, { timeoutMs: 15_000, message: 'all tasks settled' });
      const failed = final!.filter((t) => t.lastStatus === 'STOPPED');
      assert.ok(final!.some((t) => t.lastStatus === 'RUNNING'), 'the CIDR holds some tasks');
      assert.ok(failed.length > 0, 'and not all ten');
      for (const t of failed) {
        assert.equal(t.stopCode, 'TaskFailedToStart');
        assert.match(t.stoppedReason!, /no free address/);
      }
    } finally {
      await h.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
