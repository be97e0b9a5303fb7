/**
 * ECS benchmarks against a real in-process `pharos server` with the netns runtime (root):
 *   1. CreateService desired 20 (a node HTTP server per task) → all 20 in the answers, and answering HTTP.
 *   2. StopTask → the task's IP leaves the answers (N trials).
 *   3. A rolling deployment of 4 tasks under load: a client resolving with TTL-respecting caching
 *      and sending HTTP requests to a random answer, counting failures.
 * "The answers" are DNS A answers from the server's DNS listener when the server runs one;
 * otherwise DiscoverInstances (HEALTHY) — the output says which.
 *
 * `--runtime container` runs the same story with images in a private Podman, or with `--engine
 * docker` a private dockerd (the container runtime: busybox httpd images built offline, awsvpc
 * tasks joining the prepared namespaces, by path on Podman, through a pause container on Docker);
 * `--runtime both` runs the process (netns) story first, then the container one, in one run.
 *
 *   node --import tsx bench/ecs.ts [trials=10] [--runtime process|container|both] [--engine podman|docker]
 */
import { ECS } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { mkdtempSync, rmSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, startServer } from '../src/cli/index.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { createRuntime, NetnsRuntime, type Runtime } from '../src/runtime/index.ts';
import { engineUnsupportedReason, startEngineKit, type EngineKit } from '../src/runtime/enginekit.ts';

const args = process.argv.slice(2);
const runtimeArg = args.includes('--runtime') ? args[args.indexOf('--runtime') + 1] : 'process';
const engineArg = args.includes('--engine') ? args[args.indexOf('--engine') + 1] : 'podman';
if (engineArg !== 'podman' && engineArg !== 'docker') {
  console.error('--engine must be podman or docker');
  process.exit(2);
}
const TRIALS = Number(args.find((a) => /^\d+$/.test(a)) ?? 10);
if (runtimeArg !== 'process' && runtimeArg !== 'container' && runtimeArg !== 'both') {
  console.error('--runtime must be process, container or both');
  process.exit(2);
}
const KINDS = runtimeArg === 'both' ? (['process', 'container'] as const) : ([runtimeArg] as const);
/** The container story's names and addresses (issue 12's block), apart from the process story's. */
const CONTAINER_RUNTIME = { taskCidr: '198.18.124.0/24', bridge: 'ph12bb0', netnsPrefix: 'ph12b-', vethPrefix: 'ph12bv' };
const IMAGE = 'localhost/ph12bench-web';
const CREDENTIALS = { accessKeyId: 'pharos', secretAccessKey: 'pharos' };
const RUNTIME = { taskCidr: '198.19.101.0/24', bridge: 'phecsb0', netnsPrefix: 'phecsb-', vethPrefix: 'phecsbv' };
const TTL = 1;
/** Event-loop stall sampling during the rolling deployment: a timer every STALL_SAMPLE_MS, stalls over STALL_REPORT_MS reported. */
const STALL_SAMPLE_MS = 20;
const STALL_REPORT_MS = 250;
const SERVER_JS = `
const http = require('http');
const server = http.createServer((req, res) => res.end('ok ' + process.env.REV));
server.listen(8080, '0.0.0.0');
// A well-behaved container: on SIGTERM, finish in-flight requests and exit.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const reason = (await NetnsRuntime.unsupportedReason(RUNTIME.netnsPrefix)) ?? (KINDS.includes('container' as never) ? await engineUnsupportedReason(engineArg) : undefined);
if (reason) {
  console.error(`bench/ecs.ts needs network namespaces (and ${engineArg} for --runtime container): ${reason}`);
  process.exit(1);
}

for (const kind of KINDS) {
  let kit: EngineKit | undefined;
  let runtime: Runtime;
  if (kind === 'container') {
    kit = await startEngineKit(engineArg, { name: 'ph12bench' });
    await Promise.all([kit.buildImage(`${IMAGE}:1`), kit.buildImage(`${IMAGE}:2`)]);
    runtime = createRuntime({ awsvpc: CONTAINER_RUNTIME, engine: kit.engine, container: { namePrefix: 'ph12bench-' } });
  } else {
    runtime = createRuntime({ awsvpc: RUNTIME });
  }
  console.log(`== ${kind} runtime${kit ? ` (${kit.kind}, image ${IMAGE})` : ' (netns, node -e HTTP servers)'}`);
  try {
    await story(kind, runtime);
  } finally {
    await kit?.close();
  }
}

async function story(kind: 'process' | 'container', runtime: Runtime): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pharos-bench-ecs-'));
  const config = defaultConfig({
    apiAddr: { host: '127.0.0.1', port: 0 },
    dnsAddr: { host: '127.0.0.1', port: 0 },
    dataDir,
    store: `sqlite:${join(dataDir, 'pharos.db')}`,
    logLevel: 'silent',
    // All 20 in one answer (the Route 53 default of 8 would hide the rest).
    dnsMaxAnswers: 32,
  });
  const server = await startServer(config, { logger: silentLogger(), runtime });
  const ecs = new ECS({ endpoint: server.apiUrl, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
  const sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: CREDENTIALS, disableHostPrefix: true, maxAttempts: 1 });
  const resolver = server.dnsAddress ? new Resolver({ timeout: 500, tries: 1 }) : undefined;
  resolver?.setServers([server.dnsAddress!]);
  console.log(`answers from: ${resolver ? `DNS ${server.dnsAddress}` : 'DiscoverInstances (DNS server not wired into pharos server)'}`);

  /** Current answer: IPs and the TTL to cache them for. */
  async function answer(): Promise<{ ips: string[]; ttl: number }> {
    if (resolver) {
      try {
        const records = await resolver.resolve4('web.bench.local', { ttl: true });
        return { ips: records.map((r) => r.address), ttl: records[0]?.ttl ?? TTL };
      } catch {
        return { ips: [], ttl: 0 };
      }
    }
    const { Instances } = await sd.discoverInstances({ NamespaceName: 'bench.local', ServiceName: 'web', HealthStatus: 'HEALTHY', MaxResults: 1000 });
    return { ips: (Instances ?? []).map((i) => i.Attributes!['AWS_INSTANCE_IPV4']!), ttl: TTL };
  }

  function httpGet(ip: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ host: ip, port: 8080, path: '/', agent: false, timeout: 2000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

  try {
    const { OperationId } = await sd.createPrivateDnsNamespace({ Name: 'bench.local', Vpc: 'vpc-1' });
    const nsId = await eventually(async () => {
      const { Operation } = await sd.getOperation({ OperationId });
      return Operation?.Status === 'SUCCESS' ? Operation.Targets!['NAMESPACE'] : undefined;
    });
    const { Service } = await sd.createService({
      Name: 'web',
      NamespaceId: nsId,
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
    await ecs.createCluster({});
    const register = (rev: string) =>
      ecs.registerTaskDefinition({
        family: 'web',
        networkMode: 'awsvpc',
        containerDefinitions: [
          kind === 'container'
            ? { name: 'app', image: `${IMAGE}:${rev}`, portMappings: [{ containerPort: 8080 }], stopTimeout: 5 }
            : { name: 'app', image: 'node:20', command: [process.execPath, '-e', SERVER_JS], environment: [{ name: 'REV', value: rev }], portMappings: [{ containerPort: 8080 }], stopTimeout: 5 },
        ],
      });
    await register('1');

    // ---- 1. desired 20 → all 20 in the answers --------------------------------------------
    const t0 = performance.now();
    await ecs.createService({
      serviceName: 'web',
      taskDefinition: 'web',
      desiredCount: 20,
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
      serviceRegistries: [{ registryArn: Service!.Arn! }],
    });
    const ips = await eventually(async () => {
      const a = await answer();
      return a.ips.length === 20 ? a.ips : undefined;
    }, { timeoutMs: 60_000, intervalMs: 10 });
    const allInAnswers = performance.now() - t0;
    await Promise.all(ips.map((ip) => httpGet(ip)));
    const allAnswering = performance.now() - t0;
    console.log(`1. CreateService desired 20 → 20 IPs in the answers: ${allInAnswers.toFixed(0)} ms; all 20 answered HTTP at ${allAnswering.toFixed(0)} ms`);

    // ---- 2. StopTask → leaves the answers -------------------------------------------------
    const leave: number[] = [];
    /** When the StopTask call itself returned: the rest of `leave` is the supervisor's deregistration and the DNS view. */
    const called: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const before = await answer();
      const { taskArns } = await ecs.listTasks({ serviceName: 'web' });
      const { tasks } = await ecs.describeTasks({ tasks: taskArns! });
      const victim = tasks!.find((t) => t.lastStatus === 'RUNNING' && before.ips.includes(t.containers![0]!.networkInterfaces![0]!.privateIpv4Address!))!;
      const ip = victim.containers![0]!.networkInterfaces![0]!.privateIpv4Address!;
      const s = performance.now();
      await ecs.stopTask({ task: victim.taskArn! });
      called.push(performance.now() - s);
      await eventually(async () => !(await answer()).ips.includes(ip), { intervalMs: 1, timeoutMs: 5000 });
      leave.push(performance.now() - s);
    }
    console.log(`2. StopTask → IP out of the answers over ${TRIALS} trials: p50 ${pct(leave, 50).toFixed(1)} ms, max ${Math.max(...leave).toFixed(1)} ms (the StopTask call returned after p50 ${pct(called, 50).toFixed(1)}, max ${Math.max(...called).toFixed(1)} ms)`);

    // ---- 3. rolling deployment of 4 under TTL-respecting load -----------------------------
    await ecs.updateService({ service: 'web', desiredCount: 4 });
    await eventually(async () => {
      const { services } = await ecs.describeServices({ services: ['web'] });
      const s = services![0]!;
      return s.runningCount === 4 && s.deployments!.length === 1 && (await answer()).ips.length === 4;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    let stop = false;
    let requests = 0;
    const failures: string[] = [];
    /** Each failure: when its request started and when the answer it used was resolved (ms since epoch), to set beside the task's life below. */
    const failed: { ip: string; why: string; sentAt: number; resolvedAt: number }[] = [];
    const revs = new Map<string, number>();
    const client = async () => {
      let cache: { ips: string[]; until: number; at: number } = { ips: [], until: 0, at: 0 };
      while (!stop) {
        if (performance.now() >= cache.until || cache.ips.length === 0) {
          const a = await answer();
          cache = { ips: a.ips, until: performance.now() + a.ttl * 1000, at: Date.now() };
        }
        const ip = cache.ips[Math.floor(Math.random() * cache.ips.length)];
        requests++;
        if (!ip) {
          failures.push('empty answer');
          continue;
        }
        const sentAt = Date.now();
        try {
          const body = await httpGet(ip);
          revs.set(body, (revs.get(body) ?? 0) + 1);
        } catch (err) {
          failures.push(`${ip}: ${(err as Error).message}`);
          failed.push({ ip, why: (err as Error).message, sentAt, resolvedAt: cache.at });
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    const d0 = performance.now();
    const wall0 = Date.now();
    // The server and the load clients share this process: a stalled event loop fails requests
    // (their 2 s timers fire before the answers that arrived meanwhile are read), so stalls are logged.
    const stalls: { at: number; ms: number }[] = [];
    let tick = performance.now();
    const stallTimer = setInterval(() => {
      const late = performance.now() - tick - STALL_SAMPLE_MS;
      if (late > STALL_REPORT_MS) stalls.push({ at: Date.now() - wall0, ms: Math.round(late) });
      tick = performance.now();
    }, STALL_SAMPLE_MS);
    await register('2');
    await ecs.updateService({ service: 'web', taskDefinition: 'web:2' });
    await eventually(async () => {
      const { services } = await ecs.describeServices({ services: ['web'] });
      const s = services![0]!;
      if (s.deployments!.length !== 1 || s.deployments![0]!.rolloutState !== 'COMPLETED') return false;
      const { taskArns } = await ecs.listTasks({ serviceName: 'web' });
      const { tasks } = await ecs.describeTasks({ tasks: taskArns! });
      return tasks!.every((t) => t.taskDefinitionArn!.endsWith(':2'));
    }, { timeoutMs: 120_000, intervalMs: 100 });
    const rollout = performance.now() - d0;
    // Keep the load on until every old task has been signalled and is gone.
    await eventually(async () => {
      const { taskArns } = await ecs.listTasks({ serviceName: 'web', desiredStatus: 'STOPPED' });
      const { tasks } = await ecs.describeTasks({ tasks: taskArns!.slice(0, 100) });
      return tasks!.every((t) => t.lastStatus === 'STOPPED');
    }, { timeoutMs: 60_000, intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(clients);
    clearInterval(stallTimer);
    console.log(
      `3. rolling deployment of 4 tasks (TTL ${TTL} s, drain = TTL): rollout ${rollout.toFixed(0)} ms, ${requests} requests, ${failures.length} failed; responses by revision: ${JSON.stringify(Object.fromEntries(revs))}`,
    );
    if (failures.length > 0) console.log(`   failures: ${JSON.stringify(failures.slice(0, 10))}`);
    const worst = stalls.reduce((m, x) => Math.max(m, x.ms), 0);
    console.log(`   event loop of this process (server + clients): ${stalls.length} stalls over ${STALL_REPORT_MS} ms, longest ${worst} ms${stalls.length ? ` (at ${stalls.slice(0, 8).map((x) => `+${x.at}: ${x.ms}`).join(', ')})` : ''}`);
    if (failed.length > 0) await explainFailures(failed, wall0);
    /** Each failed request beside the life of the task that had its address (ms since the deployment started). */
    async function explainFailures(list: typeof failed, origin: number): Promise<void> {
      const arns = [...(await ecs.listTasks({ serviceName: 'web' })).taskArns!, ...(await ecs.listTasks({ serviceName: 'web', desiredStatus: 'STOPPED' })).taskArns!];
      const tasks = [];
      for (let i = 0; i < arns.length; i += 100) tasks.push(...(await ecs.describeTasks({ tasks: arns.slice(i, i + 100) })).tasks!);
      const rel = (d: Date | undefined) => (d ? `+${d.getTime() - origin}` : '-');
      for (const f of list.slice(0, 10)) {
        const t = tasks.filter((x) => x.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address === f.ip).sort((a, b) => b.createdAt!.getTime() - a.createdAt!.getTime())[0];
        console.log(
          `   ${f.ip} ${f.why}: resolved +${f.resolvedAt - origin}, sent +${f.sentAt - origin} ms; its task ${t?.taskDefinitionArn?.split(':').pop() ?? '?'}: ` +
            `started ${rel(t?.startedAt)}, stopping ${rel(t?.stoppingAt)}, stopped ${rel(t?.stoppedAt)}, exit ${t?.containers?.[0]?.exitCode ?? '-'} (${t?.stoppedReason ?? ''})`,
        );
      }
    }
  } finally {
    ecs.destroy();
    sd.destroy();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
