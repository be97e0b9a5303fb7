/**
 * The ECS story with real images in a real Podman and a real Docker Engine (the `container` runtime, the same story on each): an image built
 * offline from busybox-static, a service of 3 awsvpc tasks registered in Cloud Map and reachable
 * on their IPs, DescribeTasks' runtimeId/imageDigest, `pharos logs`, a failing container health
 * check (exec in the container) replaced, StopTask drained, a rolling deployment to a second image
 * tag under TTL-respecting load with 0 failed requests, and an image that cannot be pulled.
 */
import { ECS, waitUntilServicesStable } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { runLogs } from '../src/cli/logs.ts';
import { eventually } from '../src/lib/index.ts';
import { ENGINE_KINDS, ENGINE_TITLES, engineTestSkip, execIn, startEngineKit, type EngineKind, type EngineKit } from '../src/runtime/enginekit.ts';
import { chooseRuntime, createRuntime } from '../src/runtime/index.ts';
import { ecsClient, privateNamespace, resolveA, runningTasks, taskIpOf as ipOf, startTestServer, tempDir, ttlLoad, waitRunningInDns, type TestServer } from './helpers.ts';

/** Issue 12's names and addresses per engine, so parallel test files never collide. */
const SETUPS: Record<EngineKind, { name: string; runtime: { taskCidr: string; bridge: string; netnsPrefix: string; vethPrefix: string }; bridgeSubnet?: string }> = {
  podman: { name: 'ph12e2e', runtime: { taskCidr: '198.18.122.0/24', bridge: 'ph12e2ebr0', netnsPrefix: 'ph12e-', vethPrefix: 'ph12ev' }, bridgeSubnet: '198.18.123.0/24' },
  // awsvpc only: no engine bridge network needed.
  docker: { name: 'ph12f2e', runtime: { taskCidr: '198.18.127.0/24', bridge: 'ph12f2ebr0', netnsPrefix: 'ph12f-', vethPrefix: 'ph12fv' } },
};
const TTL = 1;

for (const kind of ENGINE_KINDS) {
  const { name: NAME, runtime: RUNTIME, bridgeSubnet: BRIDGE_SUBNET } = SETUPS[kind];
  const IMAGE_V1 = `localhost/${NAME}-web:1`;
  const IMAGE_V2 = `localhost/${NAME}-web:2`;
  /** Task addresses start with the CIDR's first three octets. */
  const TASK_NET = `${RUNTIME.taskCidr.split('.').slice(0, 3).join('.')}.`;

  describe(`ECS story with container images (${ENGINE_TITLES[kind]}, awsvpc)`, { skip: await engineTestSkip(kind, RUNTIME.netnsPrefix) }, () => {
    let kit: EngineKit;
    let server: TestServer;
    let ecs: ECS;
    let sd: ServiceDiscovery;
    let registryArn: string;
    let resolver: Resolver;

    before(async () => {
      kit = await startEngineKit(kind, { name: NAME, ...(BRIDGE_SUBNET ? { subnet: BRIDGE_SUBNET } : {}) });
      await Promise.all([kit.buildImage(IMAGE_V1), kit.buildImage(IMAGE_V2)]);
      const runtime = createRuntime({ awsvpc: RUNTIME, engine: kit.engine, container: { ...(kit.network ? { bridgeNetwork: kit.network } : {}), namePrefix: `${NAME}-` } });
      server = await startTestServer({}, tempDir('pharos-ecs-container-'), runtime);
      ecs = ecsClient(server.apiUrl);
      sd = server.sd;
      resolver = new Resolver({ timeout: 500, tries: 2 });
      resolver.setServers([server.dnsAddress!]);
      const nsId = await privateNamespace(sd, 'box.local', 'vpc-1');
      const { Service } = await sd.createService({
        Name: 'web',
        NamespaceId: nsId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
      });
      registryArn = Service!.Arn!;
      await ecs.createCluster({ clusterName: 'box' });
    });

    after(async () => {
      ecs?.destroy();
      await server?.destroy();
      await kit?.close();
    });

    const answers = () => resolveA(resolver, 'web.box.local');
    const web = { cluster: 'box', serviceName: 'web', count: 3, answers };
    async function get(ip: string): Promise<string> {
      const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2000) });
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return (await res.text()).trim();
    }

    test('--runtime auto|container|process picks the engine when it answers', async () => {
      assert.equal((await chooseRuntime('container', kit.url, {})).kind, 'container');
      assert.equal((await chooseRuntime('auto', undefined, { DOCKER_HOST: kit.url })).kind, 'container');
      assert.equal((await chooseRuntime('process', kit.url, {})).kind, 'process');
      const missing = `unix://${kit.dir}/nosuch.sock`;
      const auto = await chooseRuntime('auto', missing, {});
      assert.equal(auto.kind, 'process');
      assert.match(auto.reason, /nosuch\.sock is not answering/);
      await assert.rejects(chooseRuntime('container', missing, {}), /ResourceInitializationError: container engine at unix:\/\/.*nosuch\.sock is not answering/);
    });

    test('a service of 3 image tasks: registered, reachable, health-checked, stopped, rolled to a new tag', async (t) => {
      const definition = {
        family: 'web',
        networkMode: 'awsvpc' as const,
        containerDefinitions: [
          {
            name: 'app',
            image: IMAGE_V1,
            portMappings: [{ containerPort: 8080 }],
            // busybox httpd as the image's CMD; sick once /tmp/sick exists (made by the test through exec).
            healthCheck: { command: ['CMD-SHELL', 'test ! -f /tmp/sick && wget -q -O /dev/null http://127.0.0.1:8080/'], interval: 5, timeout: 2, retries: 1, startPeriod: 0 },
            stopTimeout: 2,
          },
        ],
      };
      await ecs.registerTaskDefinition(definition);
      await ecs.createService({
        cluster: 'box',
        serviceName: 'web',
        taskDefinition: 'web',
        desiredCount: 3,
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
        serviceRegistries: [{ registryArn }],
      });
      const running = await waitRunningInDns({ ecs, ...web, timeoutMs: 50_000, message: '3 tasks RUNNING, their IPs in DNS' });
      let tasks = running.tasks;
      const ips = running.ips;
      for (const ip of ips) assert.ok(ip.startsWith(TASK_NET), ip);
      for (const ip of ips) assert.equal(await get(ip), IMAGE_V1);

      // DescribeTasks: the engine's container id and the image's digest.
      const c0 = tasks[0]!.containers![0]!;
      assert.equal(c0.image, IMAGE_V1);
      assert.match(c0.runtimeId!, /^[0-9a-f]{64}$/);
      assert.match(c0.imageDigest!, /^sha256:[0-9a-f]{64}$/);
      const inspect = await kit.engine.docker.getContainer(c0.runtimeId!).inspect();
      assert.equal(inspect.Config.Labels['pharos.cluster'], 'box');
      assert.equal(inspect.Config.Labels['pharos.task-id'], tasks[0]!.taskArn!.split('/').pop());

      // `pharos logs` shows the container's output.
      assert.equal((await execIn(kit.engine.docker, c0.runtimeId!, ['sh', '-c', 'echo hello-from-the-container > /proc/1/fd/1'])).exitCode, 0);
      const out: string[] = [];
      const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) }, env: { PHAROS_ENDPOINT: server.apiUrl } };
      await eventually(async () => {
        out.length = 0;
        return (await runLogs(['--cluster', 'box', tasks[0]!.taskArn!], io)) === 0 && out.join('').includes('hello-from-the-container');
      }, { timeoutMs: 5000, message: 'pharos logs shows the container output' });

      // StopTask: out of DNS at once, still serving through the drain, then stopped and replaced.
      const victim = tasks[0]!;
      const victimIp = ipOf(victim)!;
      const stopAt = Date.now();
      await ecs.stopTask({ cluster: 'box', task: victim.taskArn!, reason: 'test stop' });
      await eventually(async () => !(await answers()).includes(victimIp), { intervalMs: 5, message: 'stopped task left DNS' });
      t.diagnostic(`StopTask → out of DNS: ${Date.now() - stopAt} ms`);
      assert.equal(await get(victimIp), IMAGE_V1, 'still serving during the drain');
      await eventually(async () => {
        const now = await answers();
        return now.length === 3 && !now.includes(victimIp) ? now : undefined;
      }, { timeoutMs: 30_000, message: 'replacement in DNS' });

      // A failing container health check (run with exec in the container): out of DNS, replaced.
      tasks = await runningTasks(ecs, 'box', 'web');
      const sick = tasks.find((x) => x.taskArn !== victim.taskArn && ipOf(x) !== undefined)!;
      const sickIp = ipOf(sick)!;
      assert.equal((await execIn(kit.engine.docker, sick.containers![0]!.runtimeId!, ['touch', '/tmp/sick'])).exitCode, 0);
      const replaced = await eventually(async () => {
        const { tasks: [d] = [] } = await ecs.describeTasks({ cluster: 'box', tasks: [sick.taskArn!] });
        return d?.desiredStatus === 'STOPPED' ? d : undefined;
      }, { timeoutMs: 20_000, message: 'unhealthy task stopped by the scheduler' });
      assert.equal(replaced.stoppedReason, 'Task failed container health checks');
      assert.ok(!(await answers()).includes(sickIp));
      await eventually(async () => {
        const now = await answers();
        return now.length === 3 && !now.includes(sickIp) ? now : undefined;
      }, { timeoutMs: 30_000, message: 'replacement of the unhealthy task in DNS' });

      // A rolling deployment to the second image tag under TTL-respecting load: 0 failed requests.
      await ecs.registerTaskDefinition({ ...definition, containerDefinitions: [{ ...definition.containerDefinitions[0]!, image: IMAGE_V2 }] });
      const seen = new Set<string>();
      const load = ttlLoad(answers, TTL, (ip) => get(ip).then((body) => seen.add(body)));
      await ecs.updateService({ cluster: 'box', service: 'web', taskDefinition: 'web:2' });
      await waitUntilServicesStable({ client: ecs, maxWaitTime: 90, minDelay: 1, maxDelay: 1 }, { cluster: 'box', services: ['web'] });
      await waitRunningInDns({ ecs, ...web, accept: (x) => x.containers![0]!.image === IMAGE_V2, timeoutMs: 30_000, message: 'DNS answers the 3 new tasks only' });
      const { requests, failures } = await load.stop();
      t.diagnostic(`rolling deployment: ${requests} requests, ${failures.length} failed`);
      assert.deepEqual(failures, []);
      assert.ok(seen.has(IMAGE_V1) && seen.has(IMAGE_V2), `answers from both tags: ${[...seen].join(', ')}`);

      await ecs.updateService({ cluster: 'box', service: 'web', desiredCount: 0 });
      await eventually(async () => (await answers()).length === 0, { timeoutMs: 20_000, message: 'scaled to 0' });
    });

    test('an image that cannot be pulled stops the task with CannotPullContainerError', async () => {
      await ecs.registerTaskDefinition({
        family: 'nopull',
        networkMode: 'awsvpc',
        containerDefinitions: [{ name: 'app', image: 'localhost:1/ph12/nosuch:1', essential: true }],
      });
      const { tasks } = await ecs.runTask({ cluster: 'box', taskDefinition: 'nopull', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } });
      const stopped = await eventually(async () => {
        const { tasks: [d] = [] } = await ecs.describeTasks({ cluster: 'box', tasks: [tasks![0]!.taskArn!] });
        return d?.lastStatus === 'STOPPED' ? d : undefined;
      }, { timeoutMs: 15_000, message: 'task STOPPED' });
      assert.equal(stopped.stopCode, 'TaskFailedToStart');
      assert.match(stopped.stoppedReason!, /^CannotPullContainerError: pull image "localhost:1\/ph12\/nosuch:1": /);
    });
  });
}
