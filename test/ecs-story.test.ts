/**
 * The seed story end to end, with real processes in real network namespaces: a task definition
 * whose container is a small node HTTP server, an ECS service with desired count 2 and an A+SRV
 * Cloud Map registry, `services-stable`, name resolution, requests to both task IPs, a StopTask
 * whose task leaves the answers before it is signalled and is replaced, and a failing container
 * health check that gets its task replaced. Driven with @aws-sdk/client-ecs and
 * @aws-sdk/client-servicediscovery against a real `pharos server` (in-process, real sockets).
 */
import { ECS, waitUntilServicesStable, waitUntilTasksRunning, type RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../src/lib/index.ts';
import { ecsClient, privateNamespace, resolveA, runningTasks, taskIpOf as ipOf, startTestServer, tempDir, ttlLoad, waitRunningInDns, type TestServer } from './helpers.ts';
import { createRuntime, NetnsRuntime } from '../src/runtime/index.ts';

/** Test-only names and addresses (198.18.0.0/15 only), so parallel test files never collide. */
const RUNTIME = { taskCidr: '198.19.77.0/24', bridge: 'phecs0', netnsPrefix: 'phecs-', vethPrefix: 'phecsv' };
const TTL = 2;

/** The container: answers `/` with its pid, `/health` with 200 until `/fail` is called. */
const SERVER_JS = `
const http = require('http');
let healthy = true;
http.createServer((req, res) => {
  if (req.url === '/fail') { healthy = false; res.end('failing'); return; }
  if (req.url === '/health') { res.statusCode = healthy ? 200 : 503; res.end(); return; }
  res.end(JSON.stringify({ pid: process.pid }));
}).listen(8080, '0.0.0.0', () => console.log('listening'));
process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
`;

const netnsReason = await NetnsRuntime.unsupportedReason(RUNTIME.netnsPrefix);
const skip = netnsReason === undefined ? false : `awsvpc tasks need network namespaces: ${netnsReason}`;
if (skip && process.env['CI'] === 'true') throw new Error(`CI=true but ${skip}`);

describe('ECS seed story (awsvpc, netns)', { skip }, () => {
  let server: TestServer;
  let ecs: ECS;
  let sd: ServiceDiscovery;
  let registryArn: string;
  let cloudMapServiceId: string;
  let resolver: Resolver | undefined;

  before(async () => {
    server = await startTestServer({}, tempDir('pharos-ecs-'), createRuntime({ awsvpc: RUNTIME }));
    ecs = ecsClient(server.apiUrl);
    sd = server.sd;
    if (server.dnsAddress) {
      resolver = new Resolver({ timeout: 500, tries: 2 });
      resolver.setServers([server.dnsAddress]);
    }
    const nsId = await privateNamespace(sd, 'story.local', 'vpc-1');
    const { Service } = await sd.createService({
      Name: 'web',
      NamespaceId: nsId,
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL }, { Type: 'SRV', TTL }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
    registryArn = Service!.Arn!;
    cloudMapServiceId = Service!.Id!;
    await ecs.createCluster({ clusterName: 'story' });
  });

  after(async () => {
    ecs?.destroy();
    await server?.destroy();
  });

  /** The healthy task IPs the name resolves to: over DNS when the server runs it, else DiscoverInstances. */
  async function answers(): Promise<string[]> {
    if (resolver) return resolveA(resolver, 'web.story.local');
    const { Instances } = await sd.discoverInstances({ NamespaceName: 'story.local', ServiceName: 'web', HealthStatus: 'HEALTHY' });
    return (Instances ?? []).map((i) => i.Attributes!['AWS_INSTANCE_IPV4']!).sort();
  }

  async function srvPorts(): Promise<number[]> {
    if (!resolver) {
      const { Instances } = await sd.discoverInstances({ NamespaceName: 'story.local', ServiceName: 'web', HealthStatus: 'HEALTHY' });
      return (Instances ?? []).map((i) => Number(i.Attributes!['AWS_INSTANCE_PORT']));
    }
    return (await resolver.resolveSrv('web.story.local')).map((r) => r.port);
  }

  async function get(ip: string, path = '/'): Promise<string> {
    const res = await fetch(`http://${ip}:8080${path}`, { signal: AbortSignal.timeout(2000) });
    return res.text();
  }

  test('register, create service, stable, resolve, fetch, stop, heal', async (t) => {
    if (!resolver) t.diagnostic('DNS server not wired into pharos server yet: resolving through DiscoverInstances (HEALTHY) instead');
    const definition: RegisterTaskDefinitionCommandInput = {
      family: 'web',
      networkMode: 'awsvpc',
      containerDefinitions: [
        {
          name: 'app',
          image: 'node:20',
          command: [process.execPath, '-e', SERVER_JS],
          portMappings: [{ containerPort: 8080 }],
          healthCheck: { command: ['CMD-SHELL', 'curl -fsS http://127.0.0.1:8080/health'], interval: 5, timeout: 2, retries: 1, startPeriod: 10 },
          stopTimeout: 5,
        },
      ],
    };
    const { taskDefinition } = await ecs.registerTaskDefinition(definition);
    assert.equal(taskDefinition?.revision, 1);
    await ecs.createService({
      cluster: 'story',
      serviceName: 'web',
      taskDefinition: 'web',
      desiredCount: 2,
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
      serviceRegistries: [{ registryArn, containerName: 'app', containerPort: 8080 }],
    });

    // `aws ecs wait services-stable`, polled faster than the CLI's 15 s.
    const stable = await waitUntilServicesStable({ client: ecs, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { cluster: 'story', services: ['web'] });
    assert.equal(stable.state, 'SUCCESS');
    let tasks = await runningTasks(ecs, 'story', 'web');
    assert.equal(tasks.length, 2);
    await waitUntilTasksRunning({ client: ecs, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { cluster: 'story', tasks: tasks.map((x) => x.taskArn!) });
    for (const ip of tasks.map(ipOf)) assert.match(ip!, /^198\.19\.77\.\d+$/);

    // Both tasks registered once healthy, with the ECS attributes, and answering.
    const { ips } = await waitRunningInDns({ ecs, cluster: 'story', serviceName: 'web', count: 2, answers, timeoutMs: 15_000, message: 'both task IPs in the answers' });
    assert.deepEqual(await srvPorts(), [8080, 8080]);
    const { Instances } = await sd.listInstances({ ServiceId: cloudMapServiceId });
    assert.deepEqual(Instances!.map((i) => i.Id).sort(), tasks.map((x) => x.taskArn!.split('/').pop()).sort());
    const attrs = Instances![0]!.Attributes!;
    assert.equal(attrs['AWS_INSTANCE_PORT'], '8080');
    assert.equal(attrs['REGION'], 'us-east-1');
    assert.equal(attrs['AVAILABILITY_ZONE'], 'us-east-1a');
    assert.equal(attrs['ECS_CLUSTER_NAME'], 'story');
    assert.equal(attrs['ECS_SERVICE_NAME'], 'web');
    assert.equal(attrs['ECS_TASK_DEFINITION_FAMILY'], 'web');
    for (const ip of ips) assert.match(await get(ip), /"pid":\d+/);

    // StopTask: the task leaves the answers first, keeps serving through the drain, then gets SIGTERM.
    const victim = tasks[0]!;
    const victimIp = ipOf(victim)!;
    const stoppedAt = Date.now();
    await ecs.stopTask({ cluster: 'story', task: victim.taskArn!, reason: 'test stop' });
    await eventually(async () => !(await answers()).includes(victimIp), { intervalMs: 5, message: 'stopped task left the answers' });
    const leftAfterMs = Date.now() - stoppedAt;
    t.diagnostic(`stopped task left the answers ${leftAfterMs} ms after StopTask`);
    assert.match(await get(victimIp), /"pid":\d+/, 'still alive during the drain delay');
    const stopped = await eventually(async () => {
      const { tasks: [d] = [] } = await ecs.describeTasks({ cluster: 'story', tasks: [victim.taskArn!] });
      return d?.lastStatus === 'STOPPED' ? d : undefined;
    }, { timeoutMs: 15_000, message: 'victim STOPPED' });
    assert.equal(stopped.stopCode, 'UserInitiated');
    assert.equal(stopped.stoppedReason, 'test stop');
    assert.ok((stopped.stoppedAt!.getTime() - stoppedAt) >= TTL * 1000 - 100, 'signalled only after the drain delay (the record TTL)');
    // A replacement arrives and registers.
    await eventually(async () => {
      const now = await answers();
      return now.length === 2 && !now.includes(victimIp) ? now : undefined;
    }, { timeoutMs: 20_000, message: 'replacement task in the answers' });

    // A failing container health check: the task leaves the answers, is stopped and replaced.
    tasks = await runningTasks(ecs, 'story', 'web');
    const sick = tasks.find((x) => x.taskArn !== victim.taskArn)!;
    const sickIp = ipOf(sick)!;
    assert.equal(await get(sickIp, '/fail'), 'failing');
    await eventually(async () => !(await answers()).includes(sickIp), { timeoutMs: 15_000, message: 'unhealthy task left the answers' });
    const replaced = await eventually(async () => {
      const { tasks: [d] = [] } = await ecs.describeTasks({ cluster: 'story', tasks: [sick.taskArn!] });
      return d?.desiredStatus === 'STOPPED' ? d : undefined;
    }, { timeoutMs: 15_000, message: 'unhealthy task stopped by the scheduler' });
    assert.equal(replaced.stopCode, 'ServiceSchedulerInitiated');
    assert.equal(replaced.stoppedReason, 'Task failed container health checks');
    assert.equal(replaced.healthStatus, 'UNHEALTHY');
    await eventually(async () => {
      const now = await answers();
      return now.length === 2 && !now.includes(sickIp) ? now : undefined;
    }, { timeoutMs: 25_000, message: 'replacement of the unhealthy task in the answers' });

    // A rolling deployment of a new revision under TTL-respecting load: not one failed request.
    await ecs.registerTaskDefinition({ ...definition, containerDefinitions: [{ ...definition.containerDefinitions![0]!, environment: [{ name: 'REV', value: '2' }] }] });
    const load = ttlLoad(answers, TTL, (ip) => get(ip));
    await ecs.updateService({ cluster: 'story', service: 'web', taskDefinition: 'web:2' });
    await waitUntilServicesStable({ client: ecs, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { cluster: 'story', services: ['web'] });
    await eventually(async () => {
      const { taskArns } = await ecs.listTasks({ cluster: 'story', serviceName: 'web', desiredStatus: 'STOPPED' });
      const { tasks: stoppedOnes = [] } = await ecs.describeTasks({ cluster: 'story', tasks: taskArns! });
      return stoppedOnes.every((x) => x.lastStatus === 'STOPPED');
    }, { timeoutMs: 20_000, message: 'old tasks stopped' });
    const { requests, failures } = await load.stop();
    t.diagnostic(`rolling deployment: ${requests} requests, ${failures.length} failed`);
    assert.deepEqual(failures, []);
    tasks = await runningTasks(ecs, 'story', 'web');
    assert.equal(tasks.length, 2);
    assert.ok(tasks.every((x) => x.taskDefinitionArn!.endsWith(':2')));
    await waitRunningInDns({ ecs, cluster: 'story', serviceName: 'web', count: 2, answers, timeoutMs: 5000, message: 'answers are the new tasks' });

    // Scale to zero and delete: the service drains to INACTIVE, the registry empties.
    await ecs.updateService({ cluster: 'story', service: 'web', desiredCount: 0 });
    await ecs.deleteService({ cluster: 'story', service: 'web' });
    await eventually(async () => {
      const { services: [s] = [] } = await ecs.describeServices({ cluster: 'story', services: ['web'] });
      return s?.status === 'INACTIVE';
    }, { timeoutMs: 20_000, message: 'service INACTIVE' });
    assert.deepEqual(await answers(), []);
  });
});
