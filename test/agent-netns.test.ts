/**
 * Several hosts on one machine: a server that runs no tasks (`--run-tasks=false`, SigV4) and three
 * `pharos agent` processes, each with its own bridge and CIDR, running awsvpc tasks in network
 * namespaces (root). A service of 6 tasks spreads 2/2/2 and DNS answers all 6; `kill -9` of an
 * agent takes its IPs out of DNS within `--agent-timeout` + 1 s and the service is back to 6
 * within `--agent-timeout` + 5 s; the agent's restart removes the namespaces its last run left;
 * DRAINING an instance moves its tasks with 0 failed requests from a TTL-respecting client.
 */
import { ECS } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { execFileSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../src/cli/index.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import { NetnsRuntime } from '../src/runtime/index.ts';
import { privateNamespace, resolveA, runningTasks, spawnAgent, tempDir, testConfig, ttlLoad, type Agent } from './helpers.ts';

const CREDENTIALS = { accessKeyId: 'agentkey', secretAccessKey: 'agentsecret' };
/** Names and addresses of issue 11 only (bridges ph110*, 198.18.110.0–198.18.112.255). */
const HOSTS = {
  a: { bridge: 'ph110a0', cidr: '198.18.110.0/24', prefix: '198.18.110.' },
  b: { bridge: 'ph110b0', cidr: '198.18.111.0/24', prefix: '198.18.111.' },
  c: { bridge: 'ph110c0', cidr: '198.18.112.0/24', prefix: '198.18.112.' },
} as const;
type Host = keyof typeof HOSTS;
const AGENT_TIMEOUT_MS = 3000;
const TTL = 1;
const SERVER_JS = `require('http').createServer((q, r) => r.end('ok')).listen(8080, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));`;

const netnsReason = await NetnsRuntime.unsupportedReason('ph110a0-');
const skip = netnsReason === undefined ? false : `awsvpc tasks need network namespaces: ${netnsReason}`;
if (skip && process.env['CI'] === 'true') throw new Error(`CI=true but ${skip}`);

describe('pharos agent: awsvpc tasks over three hosts', { skip }, () => {
  let server: RunningServer;
  let ecs: ECS;
  let sd: ServiceDiscovery;
  let resolver: Resolver;
  const agents: Partial<Record<Host, Agent>> = {};
  const dirs: Record<Host, string> = { a: tempDir('pharos-agent-a-'), b: tempDir('pharos-agent-b-'), c: tempDir('pharos-agent-c-') };
  const start = (h: Host) =>
    spawnAgent(['--server', server.apiUrl, '--cluster', 'hosts', '--task-bridge', HOSTS[h].bridge, '--task-cidr', HOSTS[h].cidr, '--data-dir', dirs[h], '--attributes', `host=${h}`], {
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      PHAROS_LOG_LEVEL: 'warn',
    });

  before(async () => {
    const dataDir = tempDir();
    server = await startServer(
      testConfig(dataDir, {
        credentials: [CREDENTIALS],
        runTasks: false,
        agentTimeoutMs: AGENT_TIMEOUT_MS,
      }),
      { logger: silentLogger() },
    );
    ecs = new ECS({ endpoint: server.apiUrl, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
    sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: CREDENTIALS, disableHostPrefix: true, maxAttempts: 1 });
    resolver = new Resolver({ timeout: 500, tries: 2 });
    resolver.setServers([server.dnsAddress!]);
    await ecs.createCluster({ clusterName: 'hosts' });
    [agents.a, agents.b, agents.c] = await Promise.all([start('a'), start('b'), start('c')]);
  });

  after(async () => {
    await ecs?.updateService({ cluster: 'hosts', service: 'web', desiredCount: 0 }).catch(() => undefined);
    // SIGTERM: each agent stops its tasks and removes its bridge.
    for (const a of Object.values(agents)) a.child.kill('SIGTERM');
    await Promise.all(Object.values(agents).map((a) => a.exited));
    await server?.close();
  });

  const answers = () => resolveA(resolver, 'web.hosts.local');
  const hostOf = (ip: string) => (Object.keys(HOSTS) as Host[]).find((h) => ip.startsWith(HOSTS[h].prefix)) ?? 'none';
  const count = (ips: string[]) => {
    const out: Record<string, number> = {};
    for (const ip of ips) out[hostOf(ip)] = (out[hostOf(ip)] ?? 0) + 1;
    return JSON.stringify(Object.fromEntries(Object.entries(out).sort()));
  };
  const running = () => runningTasks(ecs, 'hosts', 'web');
  const namespacesOf = (h: Host) =>
    execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`${HOSTS[h].bridge}-`));

  test('spread 2/2/2, kill -9 heals, restart cleans up, DRAINING under load loses nothing', async (t) => {
    const nsId = await privateNamespace(sd, 'hosts.local', 'vpc-1');
    const { Service } = await sd.createService({
      Name: 'web',
      NamespaceId: nsId,
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL }, { Type: 'SRV', TTL }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
    await ecs.registerTaskDefinition({
      family: 'web',
      networkMode: 'awsvpc',
      containerDefinitions: [{ name: 'app', image: 'node:20', essential: true, memory: 64, portMappings: [{ containerPort: 8080 }], command: [process.execPath, '-e', SERVER_JS] }],
    });
    await ecs.createService({
      cluster: 'hosts',
      serviceName: 'web',
      taskDefinition: 'web',
      desiredCount: 6,
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
      serviceRegistries: [{ registryArn: Service!.Arn!, containerName: 'app', containerPort: 8080 }],
    });
    await eventually(async () => count(await answers()) === '{"a":2,"b":2,"c":2}', { timeoutMs: 30_000, intervalMs: 100, message: 'DNS answers 6 tasks, 2 per host' });
    for (const ip of await answers()) assert.equal(await (await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2000) })).text(), 'ok');

    // kill -9 of agent a: its IPs leave DNS, the service is back to 6 on b and c.
    const lostNamespaces = namespacesOf('a');
    assert.equal(lostNamespaces.length, 2);
    const killedAt = Date.now();
    agents.a!.child.kill('SIGKILL');
    await agents.a!.exited;
    await eventually(async () => (await answers()).every((ip) => hostOf(ip) !== 'a'), { timeoutMs: AGENT_TIMEOUT_MS + 5000, intervalMs: 50, message: "a's IPs out of DNS" });
    const outOfDns = Date.now() - killedAt;
    await eventually(async () => count(await answers()) === '{"b":3,"c":3}' && (await running()).length === 6, { timeoutMs: AGENT_TIMEOUT_MS + 10_000, intervalMs: 50, message: 'back to 6 on b and c' });
    const healed = Date.now() - killedAt;
    t.diagnostic(`kill -9: out of DNS after ${outOfDns} ms, 6 running again after ${healed} ms (agent timeout ${AGENT_TIMEOUT_MS} ms)`);
    assert.ok(outOfDns <= AGENT_TIMEOUT_MS + 1000, `out of DNS after ${outOfDns} ms`);
    assert.ok(healed <= AGENT_TIMEOUT_MS + 5000, `6 running again after ${healed} ms`);

    // Restarted, agent a is the same instance and removes the namespaces its killed run left.
    const arn = agents.a!.arn;
    agents.a = await start('a');
    assert.equal(agents.a.arn, arn);
    await eventually(() => lostNamespaces.every((n) => !namespacesOf('a').includes(n)), { timeoutMs: 5000, message: 'old namespaces removed' });

    // DRAINING c under TTL-respecting load: replacements join DNS before c's tasks leave it.
    const load = ttlLoad(answers, TTL, (ip) => fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text()));
    await ecs.updateContainerInstancesState({ cluster: 'hosts', containerInstances: [agents.c!.arn], status: 'DRAINING' });
    await eventually(async () => count(await answers()) === '{"a":3,"b":3}' && (await running()).length === 6, { timeoutMs: 30_000, intervalMs: 100, message: 'c drained' });
    await eventually(async () => namespacesOf('c').length === 0, { timeoutMs: 15_000, message: "c's tasks stopped" });
    const { requests, failures } = await load.stop();
    t.diagnostic(`DRAINING: ${requests} requests, ${failures.length} failed`);
    assert.deepEqual(failures, []);
    assert.ok(requests > 50);
  });
});
