/**
 * Tasks resolve service names: a real `pharos server` (in-process) with the netns runtime serves
 * DNS on the task bridge's gateway, port 53, and every awsvpc task's resolv.conf points there. An
 * ECS service registers two tasks in Cloud Map; a third task resolves the name through the system
 * resolver — node's dns.lookup (getaddrinfo) in its container and glibc's `getent` through exec
 * (the health check path) — and gets the two task IPs. Names outside Pharos zones are refused
 * without --dns-forward, and answered by the upstream with it. Needs root; skipped visibly
 * otherwise, failing when CI=true.
 */
import { ECS, waitUntilServicesStable } from '@aws-sdk/client-ecs';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../src/cli/index.ts';
import { startDnsServer } from '../src/dns/index.ts';
import { openFixture } from '../src/dns/testutil.ts';
import { createMetricsRegistry, eventually, silentLogger } from '../src/lib/index.ts';
import { ecsClient, privateNamespace, sdClient, testConfig } from './helpers.ts';
import { createRuntime, ETC_NETNS_DIR, NetnsRuntime, type DispatchRuntime } from '../src/runtime/index.ts';

/** Test-only names and addresses (198.18.0.0/15 only), so parallel test files never collide. */
const AWSVPC = { taskCidr: '198.19.171.0/24', bridge: 'phrd0', netnsPrefix: 'phrd-', vethPrefix: 'phrdv' };
const GATEWAY = '198.19.171.1';
const NAME = 'web.rdns.local';

const SERVER_JS = "require('http').createServer((q,s)=>s.end('ok')).listen(8080,'0.0.0.0')";
/** The client container: prints its resolv.conf, then what getaddrinfo says for NAME, every 200 ms. */
const CLIENT_JS = `
const dns = require('dns');
console.log('resolv ' + JSON.stringify(require('fs').readFileSync('/etc/resolv.conf', 'utf8')));
const tick = () => dns.lookup(${JSON.stringify(NAME)}, { all: true, family: 4 }, (err, addrs) => {
  console.log(err ? 'lookup error ' + err.code : 'lookup ' + addrs.map((a) => a.address).sort().join(','));
  setTimeout(tick, 200);
});
tick();
`;

const reason = await NetnsRuntime.unsupportedReason(AWSVPC.netnsPrefix);
const skip = reason === undefined ? false : `tasks in network namespaces need root and iproute2: ${reason}`;
if (skip && process.env['CI'] === 'true') {
  test('network namespaces are available in CI', () => assert.fail(`CI=true but ${skip}`));
}

describe('awsvpc tasks resolve Cloud Map names through Pharos DNS on the bridge', { skip }, () => {
  let server: RunningServer;
  let runtime: DispatchRuntime;
  let dataDir: string;
  let ecs: ECS;
  let sd: ServiceDiscovery;
  let registryArn: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pharos-rdns-'));
    const config = testConfig(dataDir, { drainDelayMs: 0 });
    runtime = createRuntime({ awsvpc: AWSVPC });
    server = await startServer(config, { logger: silentLogger(), runtime });
    ecs = ecsClient(server.apiUrl);
    sd = sdClient(server.apiUrl);
    const nsId = await privateNamespace(sd, 'rdns.local', 'vpc-1');
    const { Service } = await sd.createService({ Name: 'web', NamespaceId: nsId, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 1 }] } });
    registryArn = Service!.Arn!;
    await ecs.createCluster({ clusterName: 'rdns' });
  });

  after(async () => {
    ecs?.destroy();
    sd?.destroy();
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('a task resolves a registered name to the task IPs with the system resolver', async (t) => {
    const hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    await ecs.registerTaskDefinition({
      family: 'web',
      networkMode: 'awsvpc',
      containerDefinitions: [{ name: 'app', image: 'node:20', command: [process.execPath, '-e', SERVER_JS], portMappings: [{ containerPort: 8080 }] }],
    });
    await ecs.createService({
      cluster: 'rdns',
      serviceName: 'web',
      taskDefinition: 'web',
      desiredCount: 2,
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
      serviceRegistries: [{ registryArn }],
    });
    const stable = await waitUntilServicesStable({ client: ecs, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { cluster: 'rdns', services: ['web'] });
    assert.equal(stable.state, 'SUCCESS');
    const { taskArns } = await ecs.listTasks({ cluster: 'rdns', serviceName: 'web' });
    const { tasks } = await ecs.describeTasks({ cluster: 'rdns', tasks: taskArns! });
    const ips = tasks!.map((x) => x.containers![0]!.networkInterfaces![0]!.privateIpv4Address!).sort();
    assert.equal(ips.length, 2);

    // Pharos DNS listens on the gateway too (the host can ask it there as well as on 127.0.0.1).
    const onGateway = new Resolver({ timeout: 1000, tries: 2 });
    onGateway.setServers([GATEWAY]);
    await eventually(async () => JSON.stringify((await onGateway.resolve4(NAME).catch(() => [])).sort()) === JSON.stringify(ips), {
      timeoutMs: 15_000,
      message: 'both tasks registered and answered on the gateway',
    });

    // A task whose container resolves the name through getaddrinfo.
    const started = Date.now();
    await ecs.registerTaskDefinition({
      family: 'client',
      networkMode: 'awsvpc',
      containerDefinitions: [{ name: 'client', image: 'node:20', command: [process.execPath, '-e', CLIENT_JS] }],
    });
    const run = await ecs.runTask({ cluster: 'rdns', taskDefinition: 'client', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } });
    const clientArn = run.tasks![0]!.taskArn!;
    const clientId = clientArn.split('/').pop()!;
    const client = await eventually(() => runtime.tasks().find((x) => x.taskId === clientId), { timeoutMs: 10_000, message: 'client task started' });
    const lines = () => client.logs().map((l) => l.line);
    const lookup = await eventually(() => [...lines()].reverse().find((l) => l.startsWith('lookup ') && !l.startsWith('lookup error')), {
      timeoutMs: 10_000,
      message: 'the container resolved the name',
    });
    t.diagnostic(`RunTask → first getaddrinfo answer in the task: ${Date.now() - started} ms`);
    assert.equal(lookup, `lookup ${ips.join(',')}`);
    assert.ok(lines().every((l) => !l.startsWith('lookup error')), `a lookup failed: ${lines().join(' | ')}`);
    const resolv = JSON.parse(lines().find((l) => l.startsWith('resolv '))!.slice('resolv '.length)) as string;
    assert.match(resolv, new RegExp(`^nameserver ${GATEWAY.replaceAll('.', '\\.')}$`, 'm'));

    // glibc through exec (what a CMD-SHELL health check runs): the same answers.
    const getent = await client.exec(['getent', 'ahostsv4', NAME], { timeoutMs: 5000 });
    assert.equal(getent.exitCode, 0, getent.output);
    assert.deepEqual([...new Set(getent.output.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]))].sort(), ips);
    // dig reads resolv.conf itself (not through nsswitch): the same answers, when it is installed.
    const dig = await client.exec(['dig', '+short', '+tries=1', NAME, 'A'], { timeoutMs: 5000 });
    if (dig.exitCode === 127) t.diagnostic('dig is not installed: skipped the dig check');
    else assert.deepEqual(dig.output.trim().split('\n').sort(), ips, dig.output);
    // Outside Pharos zones without --dns-forward: refused, so not found (and quickly).
    const outside = await client.exec(['getent', 'hosts', 'pharos-test.example'], { timeoutMs: 5000 });
    assert.notEqual(outside.exitCode, 0);
    assert.equal(outside.timedOut, false);

    // The resolv.conf lives with the task's namespace; the host's is untouched.
    const dir = `${ETC_NETNS_DIR}/${client.netns}`;
    assert.equal(existsSync(`${dir}/resolv.conf`), true);
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), hostResolv);
    await ecs.stopTask({ cluster: 'rdns', task: clientArn });
    await client.stopped;
    assert.equal(existsSync(dir), false, 'resolv.conf removed with the namespace');

    await ecs.updateService({ cluster: 'rdns', service: 'web', desiredCount: 0 });
  });
});

describe('with --dns-forward, awsvpc tasks resolve names outside Pharos zones through the upstream', { skip }, () => {
  const FORWARD_AWSVPC = { taskCidr: '198.19.173.0/24', bridge: 'phrf0', netnsPrefix: 'phrf-', vethPrefix: 'phrfv' };

  test('getent in a task answers a name only the upstream serves', async () => {
    // The upstream: another authoritative server on the host's loopback, serving upstream.test.
    const fx = await openFixture();
    const ns = await fx.namespace('upstream.test');
    const far = await fx.service(ns, 'far', [{ type: 'A', ttl: 60 }]);
    await fx.instance(far, 'u-1', { AWS_INSTANCE_IPV4: '198.18.20.1' });
    const upstream = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry() });
    const dataDir = mkdtempSync(join(tmpdir(), 'pharos-rdnsf-'));
    const runtime = createRuntime({ awsvpc: FORWARD_AWSVPC });
    const server = await startServer(
      testConfig(dataDir, { dnsForward: upstream.address }),
      { logger: silentLogger(), runtime },
    );
    const ecs = ecsClient(server.apiUrl);
    try {
      await ecs.createCluster({ clusterName: 'fwd' });
      await ecs.registerTaskDefinition({
        family: 'sleeper',
        networkMode: 'awsvpc',
        containerDefinitions: [{ name: 'main', image: 'busybox', command: ['sleep', '30'] }],
      });
      const run = await ecs.runTask({ cluster: 'fwd', taskDefinition: 'sleeper', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } });
      const id = run.tasks![0]!.taskArn!.split('/').pop()!;
      const task = await eventually(() => runtime.tasks().find((x) => x.taskId === id), { timeoutMs: 10_000, message: 'task started' });
      const r = await task.exec(['getent', 'ahostsv4', 'far.upstream.test'], { timeoutMs: 5000 });
      assert.equal(r.exitCode, 0, r.output);
      assert.equal(r.output.split(/\s+/)[0], '198.18.20.1');
    } finally {
      ecs.destroy();
      await server.close();
      await upstream.close();
      await fx.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
