/**
 * Custom health end to end (issue 4 §1), through the real server and the AWS SDK:
 * UpdateInstanceCustomHealthStatus takes effect at once by default; `--custom-health-delay`
 * restores the AWS timing (pending for the delay; the opposite value inside the window cancels);
 * AWS_INIT_HEALTH_STATUS sets the first status; CustomHealthNotFound for other services. The effect
 * is checked where users see it: DiscoverInstances, GetInstancesHealthStatus, DNS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { startServer, type RunningServer } from '../src/cli/index.ts';
import { ManualClock, eventually, silentLogger } from '../src/lib/index.ts';
import { sdClient, startTestServer, tempDir, testConfig, waitOp, type TestServer } from './helpers.ts';
import { rmSync } from 'node:fs';

interface Setup {
  serviceId: string;
  namespace: string;
}

/** A public DNS namespace with a custom-health service and two instances: i-1 (default) and i-2 (init UNHEALTHY). */
async function setup(sd: ServiceDiscovery, namespace: string): Promise<Setup> {
  const ns = await sd.createPublicDnsNamespace({ Name: namespace });
  const op = await waitOp(sd, ns.OperationId);
  const svc = await sd.createService({
    Name: 'app',
    NamespaceId: op.Targets!['NAMESPACE'],
    DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 0 }] },
    HealthCheckCustomConfig: { FailureThreshold: 1 },
  });
  const serviceId = svc.Service!.Id!;
  const instances: [string, Record<string, string>][] = [
    ['i-1', { AWS_INSTANCE_IPV4: '198.18.7.1' }],
    ['i-2', { AWS_INSTANCE_IPV4: '198.18.7.2', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' }],
  ];
  for (const [id, attributes] of instances) {
    const r = await sd.registerInstance({ ServiceId: serviceId, InstanceId: id, Attributes: attributes });
    await waitOp(sd, r.OperationId);
  }
  return { serviceId, namespace };
}

async function healthy(sd: ServiceDiscovery, s: Setup): Promise<string[]> {
  const out = await sd.discoverInstances({ NamespaceName: s.namespace, ServiceName: 'app', HealthStatus: 'HEALTHY' });
  return (out.Instances ?? []).map((i) => i.InstanceId!).sort();
}

async function statuses(sd: ServiceDiscovery, s: Setup): Promise<Record<string, string>> {
  return (await sd.getInstancesHealthStatus({ ServiceId: s.serviceId })).Status ?? {};
}

describe('custom health, no delay (the Pharos default)', () => {
  let server: TestServer;
  let s: Setup;
  before(async () => {
    server = await startTestServer();
    s = await setup(server.sd, 'custom-now.test');
  });
  after(() => server?.destroy());

  test('AWS_INIT_HEALTH_STATUS sets the first status; updates take effect when the call returns', async () => {
    assert.deepEqual(await statuses(server.sd, s), { 'i-1': 'HEALTHY', 'i-2': 'UNHEALTHY' });
    assert.deepEqual(await healthy(server.sd, s), ['i-1']);
    const { InstancesRevision } = await server.sd.discoverInstancesRevision({ NamespaceName: s.namespace, ServiceName: 'app' });

    await server.sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-2', Status: 'HEALTHY' });
    assert.deepEqual(await healthy(server.sd, s), ['i-1', 'i-2']);
    await server.sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-1', Status: 'UNHEALTHY' });
    assert.deepEqual(await healthy(server.sd, s), ['i-2']);
    assert.deepEqual(await statuses(server.sd, s), { 'i-1': 'UNHEALTHY', 'i-2': 'HEALTHY' });

    const after = await server.sd.discoverInstancesRevision({ NamespaceName: s.namespace, ServiceName: 'app' });
    assert.equal(after.InstancesRevision, InstancesRevision, 'health changes do not move InstancesRevision');
  });

  test('the change reaches DNS', async (t) => {
    if (!server.dnsAddress) {
      const why = 'the DNS server is not wired into startServer yet (RunningServer.dnsAddress is unset)';
      if (process.env.CI === 'true') assert.fail(why);
      t.skip(why);
      return;
    }
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([server.dnsAddress]);
    const answer = async () => (await resolver.resolve4(`app.${s.namespace}`)).sort();
    await server.sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-1', Status: 'UNHEALTHY' });
    await server.sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-2', Status: 'HEALTHY' });
    await eventually(async () => JSON.stringify(await answer()) === '["198.18.7.2"]');
    await server.sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-1', Status: 'HEALTHY' });
    await eventually(async () => JSON.stringify(await answer()) === '["198.18.7.1","198.18.7.2"]');
  });

  test('CustomHealthNotFound, InstanceNotFound, ServiceNotFound', async () => {
    const ns = await server.sd.listNamespaces({});
    const namespaceId = ns.Namespaces!.find((n) => n.Name === s.namespace)!.Id!;
    const probed = await server.sd.createService({
      Name: 'probed',
      NamespaceId: namespaceId,
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 0 }] },
      HealthCheckConfig: { Type: 'TCP', FailureThreshold: 1 },
    });
    const plain = await server.sd.createService({
      Name: 'plain',
      NamespaceId: namespaceId,
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 0 }] },
    });
    const cases: { serviceId: string; instanceId: string; code: string }[] = [
      { serviceId: probed.Service!.Id!, instanceId: 'x', code: 'CustomHealthNotFound' },
      { serviceId: plain.Service!.Id!, instanceId: 'x', code: 'CustomHealthNotFound' },
      { serviceId: s.serviceId, instanceId: 'nope', code: 'InstanceNotFound' },
      { serviceId: 'srv-doesnotexist0000', instanceId: 'i-1', code: 'ServiceNotFound' },
    ];
    for (const c of cases) {
      await assert.rejects(
        server.sd.updateInstanceCustomHealthStatus({ ServiceId: c.serviceId, InstanceId: c.instanceId, Status: 'HEALTHY' }),
        (err: Error) => err.name === c.code,
        `${c.code} for ${JSON.stringify(c)}`,
      );
    }
  });
});

describe('custom health with --custom-health-delay 30s (the AWS timing), on a manual clock', () => {
  const clock = new ManualClock(Date.now());
  let server: RunningServer;
  let sd: ServiceDiscovery;
  let s: Setup;
  const dataDir = tempDir();
  before(async () => {
    server = await startServer(
      testConfig(dataDir, { customHealthDelayMs: 30_000 }),
      { logger: silentLogger(), clock },
    );
    sd = sdClient(server.apiUrl);
    s = await setup(sd, 'custom-delay.test');
  });
  after(async () => {
    sd?.destroy();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a change is pending for the delay; repeating it does not hurry it', async () => {
    await sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-2', Status: 'HEALTHY' });
    assert.deepEqual(await healthy(sd, s), ['i-1']);
    await clock.advance(20_000);
    await sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-2', Status: 'HEALTHY' });
    await clock.advance(9_000);
    assert.deepEqual(await healthy(sd, s), ['i-1'], 'still pending at 29 s');
    await clock.advance(1_000);
    await eventually(async () => JSON.stringify(await healthy(sd, s)) === '["i-1","i-2"]', { message: 'effective at 30 s' });
  });

  test('the opposite value inside the window cancels the change', async () => {
    await sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-1', Status: 'UNHEALTHY' });
    await clock.advance(10_000);
    await sd.updateInstanceCustomHealthStatus({ ServiceId: s.serviceId, InstanceId: 'i-1', Status: 'HEALTHY' });
    await clock.advance(60_000);
    // Give a wrongly armed timer's write the chance to land before asserting nothing changed.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(await statuses(sd, s), { 'i-1': 'HEALTHY', 'i-2': 'HEALTHY' });
  });
});
