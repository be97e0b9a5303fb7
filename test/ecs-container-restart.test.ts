/**
 * `kill -9` of a `pharos server` whose service runs container tasks (awsvpc, real Podman and real
 * Docker Engine), then a
 * restart on the same data directory: the task whose container still runs is adopted (same task,
 * same container, still RUNNING, its registration kept, its exit watched again); the task whose
 * container died while the server was down is recorded stopped, its container removed, and
 * replaced. At every point after the restart each labelled container belongs to a RUNNING task,
 * and DNS answers the desired count.
 */
import { ECS, type Task } from '@aws-sdk/client-ecs';
import type { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { ENGINE_KINDS, ENGINE_TITLES, engineTestSkip, startEngineKit, type EngineKind, type EngineKit } from '../src/runtime/enginekit.ts';
import { CONTAINER_LABELS } from '../src/runtime/index.ts';
import { privateNamespace, sdClient, spawnServer, tempDir, type ChildServer } from './helpers.ts';

/** Issue 12's names and addresses per engine, so parallel test files never collide. */
const SETUPS: Record<EngineKind, { name: string; taskCidr: string }> = {
  podman: { name: 'ph12rs', taskCidr: '198.18.125.0/24' },
  docker: { name: 'ph12rx', taskCidr: '198.18.128.0/24' },
};
const TTL = 1;

for (const kind of ENGINE_KINDS) {
  const { name: NAME, taskCidr: TASK_CIDR } = SETUPS[kind];
  const IMAGE = `localhost/${NAME}-web:1`;

  describe(`pharos server kill -9 with container tasks on ${ENGINE_TITLES[kind]}, restarted on the same data directory`, { skip: await engineTestSkip(kind, `${NAME}-`), timeout: 180_000 }, () => {
    let kit: EngineKit;
    let dataDir: string;
    let server: ChildServer | undefined;

    before(async () => {
      kit = await startEngineKit(kind, { name: NAME });
      await kit.buildImage(IMAGE);
      dataDir = tempDir('pharos-ph12rs-');
    });
    after(async () => {
      if (server && server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      await kit?.close();
    });

    const start = () =>
      spawnServer([
        '--data-dir', dataDir,
        '--api-addr', '127.0.0.1:0',
        '--dns-addr', '127.0.0.1:0',
        '--runtime', 'container',
        '--container-engine', kit.url,
        '--task-cidr', TASK_CIDR,
        '--task-bridge', `${NAME}br0`,
      ], {}, 60_000);
    function clients(s: ChildServer): { ecs: ECS; sd: ServiceDiscovery; resolver: Resolver } {
      const ecs = new ECS({ endpoint: s.apiUrl, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
      const listening = s.logs.map((l) => JSON.parse(l) as { dnsAddress?: string }).find((r) => r.dnsAddress !== undefined);
      const resolver = new Resolver({ timeout: 500, tries: 2 });
      resolver.setServers([listening!.dnsAddress!]);
      return { ecs, sd: sdClient(s.apiUrl), resolver };
    }
    async function answers(resolver: Resolver): Promise<string[]> {
      try {
        return (await resolver.resolve4('web.rs.local')).sort();
      } catch (err) {
        if (['ENOTFOUND', 'ENODATA'].includes((err as { code?: string }).code ?? '')) return [];
        throw err;
      }
    }
    async function tasksOf(ecs: ECS): Promise<Task[]> {
      const { taskArns } = await ecs.listTasks({ cluster: 'rs', serviceName: 'web' });
      if (!taskArns?.length) return [];
      return (await ecs.describeTasks({ cluster: 'rs', tasks: taskArns })).tasks ?? [];
    }
    const ipOf = (t: Task) => t.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address;
    /** Every container this server's scope labelled, running or not (`pause`: the container holding an awsvpc task's namespace, Docker's join). */
    async function labelled(): Promise<{ id: string; taskId: string; running: boolean; pause: boolean }[]> {
      const list = await kit.engine.docker.listContainers({ all: true, filters: { label: [CONTAINER_LABELS.taskId] } });
      return list.map((c) => ({ id: c.Id, taskId: c.Labels[CONTAINER_LABELS.taskId]!, running: c.State === 'running', pause: c.Labels[CONTAINER_LABELS.role] === 'pause' }));
    }
    async function get(ip: string): Promise<string> {
      const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2000) });
      return (await res.text()).trim();
    }
    /**
     * Every labelled container is a RUNNING task's container (or its pause container), and every
     * RUNNING task has one (and one pause container on Docker): nothing unaccounted.
     */
    async function accounted(ecs: ECS): Promise<Task[] | undefined> {
      const running = (await tasksOf(ecs)).filter((t) => t.lastStatus === 'RUNNING');
      const ids = new Set(running.map((t) => t.containers![0]!.runtimeId));
      const taskIds = new Set(running.map((t) => t.taskArn!.split('/').pop()));
      const found = await labelled();
      const apps = found.filter((c) => !c.pause);
      const pauses = found.filter((c) => c.pause);
      const pausesOk = kind === 'docker' ? pauses.length === running.length && pauses.every((c) => c.running && taskIds.has(c.taskId)) : pauses.length === 0;
      return pausesOk && apps.length === running.length && apps.every((c) => c.running && ids.has(c.id)) ? running : undefined;
    }

    test('the running task is adopted, the one that died meanwhile is replaced, nothing runs unaccounted', async (t) => {
      server = await start();
      let { ecs, sd, resolver } = clients(server);
      const nsId = await privateNamespace(sd, 'rs.local', 'vpc-1');
      const { Service } = await sd.createService({
        Name: 'web',
        NamespaceId: nsId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
      });
      await ecs.createCluster({ clusterName: 'rs' });
      await ecs.registerTaskDefinition({
        family: 'web',
        networkMode: 'awsvpc',
        containerDefinitions: [{ name: 'app', image: IMAGE, portMappings: [{ containerPort: 8080 }], stopTimeout: 2 }],
      });
      await ecs.createService({
        cluster: 'rs',
        serviceName: 'web',
        taskDefinition: 'web',
        desiredCount: 2,
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
        serviceRegistries: [{ registryArn: Service!.Arn! }],
      });
      const before = await eventually(async () => {
        const running = await accounted(ecs);
        if (running?.length !== 2) return undefined;
        const ips = running.map(ipOf).sort();
        return JSON.stringify(await answers(resolver)) === JSON.stringify(ips) ? running : undefined;
      }, { timeoutMs: 60_000, message: '2 tasks RUNNING and in DNS' });
      const [keep, lose] = before;
      ecs.destroy();
      sd.destroy();

      // ---- kill -9; one container dies while nobody watches -------------------------------
      server.child.kill('SIGKILL');
      assert.equal(await server.exited, 'SIGKILL');
      assert.equal(await get(ipOf(keep!)!), IMAGE, 'the containers outlive the server');
      await kit.engine.docker.getContainer(lose!.containers![0]!.runtimeId!).kill();

      // ---- restart on the same data directory --------------------------------------------
      const restartedAt = Date.now();
      server = await start();
      ({ ecs, sd, resolver } = clients(server));
      t.diagnostic(`restart → listening: ${Date.now() - restartedAt} ms`);
      // Adopted: the same task and container, RUNNING all along, still in DNS.
      const kept = (await ecs.describeTasks({ cluster: 'rs', tasks: [keep!.taskArn!] })).tasks![0]!;
      assert.equal(kept.lastStatus, 'RUNNING');
      assert.equal(kept.desiredStatus, 'RUNNING');
      assert.equal(kept.containers![0]!.runtimeId, keep!.containers![0]!.runtimeId);
      assert.ok((await answers(resolver)).includes(ipOf(keep!)!), 'the adopted task never left DNS');
      assert.ok(server.logs.some((l) => l.includes('adopted')), 'the server says it adopted the task');
      // The dead one: recorded stopped, its container removed, replaced.
      const lost = (await ecs.describeTasks({ cluster: 'rs', tasks: [lose!.taskArn!] })).tasks![0]!;
      assert.equal(lost.lastStatus, 'STOPPED');
      assert.match(lost.stoppedReason!, /restarted/);
      const after1 = await eventually(async () => {
        const running = await accounted(ecs);
        if (running?.length !== 2) return undefined;
        const ips = running.map(ipOf).sort();
        return JSON.stringify(await answers(resolver)) === JSON.stringify(ips) ? running : undefined;
      }, { timeoutMs: 60_000, message: 'back to 2 tasks RUNNING and in DNS, every labelled container accounted for' });
      t.diagnostic(`restart → desired count in DNS: ${Date.now() - restartedAt} ms`);
      assert.ok(after1.some((x) => x.taskArn === keep!.taskArn));

      // The adopted task's exit is watched again: an essential container killed → stopped, out of DNS, replaced.
      await kit.engine.docker.getContainer(keep!.containers![0]!.runtimeId!).kill();
      const exited = await eventually(async () => {
        const d = (await ecs.describeTasks({ cluster: 'rs', tasks: [keep!.taskArn!] })).tasks![0]!;
        return d.lastStatus === 'STOPPED' ? d : undefined;
      }, { timeoutMs: 10_000, message: 'the adopted task STOPPED after its container was killed' });
      assert.equal(exited.stopCode, 'EssentialContainerExited');
      // By task, not by address: the replacement may be given the address the adopted task just freed.
      await eventually(async () => {
        const running = await accounted(ecs);
        if (running?.length !== 2 || running.some((x) => x.taskArn === keep!.taskArn)) return undefined;
        return JSON.stringify(await answers(resolver)) === JSON.stringify(running.map(ipOf).sort()) ? true : undefined;
      }, { timeoutMs: 60_000, message: 'the adopted task replaced' });
      ecs.destroy();
      sd.destroy();

      // A graceful stop takes every container with it.
      server.child.kill('SIGTERM');
      await server.exited;
      assert.deepEqual(await labelled(), []);
    });
  });
}
