import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMetricsRegistry, eventually } from '../lib/index.ts';
import { Registry, Snapshot } from '../registry/index.ts';
import { openStore, type KV } from '../store/index.ts';
import { HealthMonitor, endpointOf } from './monitor.ts';
import type { HealthNotifier } from './status.ts';
import { startEndpoint, type Endpoint } from './testing.ts';
import { cloudMap } from '../registry/ops/index.ts';

/** Fast enough that each test runs in well under a second per transition. */
const INTERVAL_MS = 100;

interface World {
  dir: string;
  kv: KV;
  snapshot: Snapshot;
  registry: Registry;
  close(): Promise<void>;
}

/** A real registry over a real SQLite file; reopening the same dir is a restart. */
async function openWorld(dir = mkdtempSync(path.join(tmpdir(), 'pharos-health-'))): Promise<World> {
  const kv = await openStore(`sqlite:${path.join(dir, 'pharos.db')}`);
  const snapshot = await Snapshot.open(kv);
  const registry = new Registry({ kv, snapshot, config: { region: 'us-east-1', accountId: '123456789012' } });
  await registry.start();
  return {
    dir,
    kv,
    snapshot,
    registry,
    async close() {
      await registry.stop();
      snapshot.close();
      await kv.close();
    },
  };
}

async function op(w: World, out: Record<string, unknown>): Promise<void> {
  const rec = await w.registry.waitForOperation(out['OperationId'] as string);
  assert.equal(rec.status, 'SUCCESS', JSON.stringify(rec));
}

async function namespace(w: World, name = 'health.test'): Promise<string> {
  const out = await cloudMap(w.registry).CreatePublicDnsNamespace({ Name: name });
  await op(w, out);
  const ns = [...w.snapshot.namespaces()].find((n) => n.name === name);
  return ns!.id;
}

async function service(w: World, namespaceId: string, name: string, healthCheckConfig?: Record<string, unknown>): Promise<string> {
  const out = await cloudMap(w.registry).CreateService({
    Name: name,
    NamespaceId: namespaceId,
    DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
    ...(healthCheckConfig ? { HealthCheckConfig: healthCheckConfig } : {}),
  });
  return (out['Service'] as { Id: string }).Id;
}

async function register(w: World, serviceId: string, instanceId: string, port: number, ip = '127.0.0.1'): Promise<void> {
  await op(w, await cloudMap(w.registry).RegisterInstance({ ServiceId: serviceId, InstanceId: instanceId, Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: String(port) } }));
}

function waitHealth(w: World, serviceId: string, instanceId: string, status: string, timeoutMs = 5000): Promise<unknown> {
  return eventually(() => w.snapshot.health(serviceId, instanceId) === status, {
    timeoutMs,
    message: `${instanceId} to be ${status} (is ${w.snapshot.health(serviceId, instanceId)})`,
  });
}

describe('HealthMonitor', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const track = <T extends { close(): Promise<void> }>(x: T): T => {
    cleanups.push(() => x.close());
    return x;
  };

  test('an endpoint going down and up is written through the registry: status, reason, GetInstancesHealthStatus', async () => {
    const w = track(await openWorld());
    cleanups.push(() => rmSync(w.dir, { recursive: true, force: true }));
    const e: Endpoint = track(await startEndpoint('http'));
    const metrics = createMetricsRegistry();
    const monitor = new HealthMonitor({ view: w.snapshot, notifier: w.registry, intervalMs: INTERVAL_MS, metrics });
    monitor.start();
    cleanups.push(() => monitor.stop());

    const ns = await namespace(w);
    const svc = await service(w, ns, 'web', { Type: 'HTTP', ResourcePath: '/healthz', FailureThreshold: 2 });
    await register(w, svc, 'i-1', e.port);
    assert.equal(w.snapshot.health(svc, 'i-1'), 'UNKNOWN', 'UNKNOWN before the first result');
    await waitHealth(w, svc, 'i-1', 'HEALTHY');
    assert.equal(e.lastPath, '/healthz');
    const revision = w.snapshot.instancesRevision(svc);

    e.setStatus(503);
    await waitHealth(w, svc, 'i-1', 'UNHEALTHY');
    assert.equal(w.snapshot.healthRecord(svc, 'i-1')?.reason, 'HTTP 503');
    await e.down();
    e.setStatus(200);
    await e.up();
    await waitHealth(w, svc, 'i-1', 'HEALTHY');
    await e.down();
    await waitHealth(w, svc, 'i-1', 'UNHEALTHY');
    assert.equal(w.snapshot.healthRecord(svc, 'i-1')?.reason, 'connect ECONNREFUSED');

    const status = await cloudMap(w.registry).GetInstancesHealthStatus({ ServiceId: svc });
    assert.deepEqual(status['Status'], { 'i-1': 'UNHEALTHY' });
    assert.equal(w.snapshot.instancesRevision(svc), revision, 'health changes do not move InstancesRevision');

    const text = await metrics.metrics();
    assert.match(text, /pharos_health_probes_total\{type="HTTP",result="healthy",cause="ok"\} \d+/);
    assert.match(text, /pharos_health_probes_total\{type="HTTP",result="unhealthy",cause="refused"\} \d+/);
    assert.match(text, /pharos_health_status_transitions_total\{from="HEALTHY",to="UNHEALTHY"\} 2/);
    assert.match(text, /pharos_health_probe_duration_seconds_count\{type="HTTP"\} \d+/);
    await e.up();
  });

  test('checkers follow registrations, config changes and deletions', async () => {
    const w = track(await openWorld());
    cleanups.push(() => rmSync(w.dir, { recursive: true, force: true }));
    const e = track(await startEndpoint('http'));
    const tcp = track(await startEndpoint('tcp'));
    const monitor = new HealthMonitor({ view: w.snapshot, notifier: w.registry, intervalMs: INTERVAL_MS });
    monitor.start();
    cleanups.push(() => monitor.stop());

    const ns = await namespace(w);
    const plain = await service(w, ns, 'plain');
    await register(w, plain, 'p-1', e.port);
    const svc = await service(w, ns, 'api', { Type: 'HTTP', FailureThreshold: 1 });
    await register(w, svc, 'a-1', e.port);
    await register(w, svc, 'a-2', tcp.port);
    assert.equal(monitor.size, 2, 'only services with a HealthCheckConfig are probed');
    await waitHealth(w, svc, 'a-1', 'HEALTHY');
    await waitHealth(w, svc, 'a-2', 'UNHEALTHY'); // a raw TCP port that never says anything
    assert.equal(w.snapshot.healthRecord(svc, 'a-2')!.reason, `timeout after ${INTERVAL_MS}ms`);

    // A config change rebuilds the checkers: TCP makes a-2 healthy.
    await op(w, await cloudMap(w.registry).UpdateService({ Id: svc, Service: { HealthCheckConfig: { Type: 'TCP', FailureThreshold: 1 } } }));
    await waitHealth(w, svc, 'a-2', 'HEALTHY');

    // Re-registering with a new port moves the probe there.
    await register(w, svc, 'a-1', tcp.port);
    const hitsBefore = tcp.hits;
    await eventually(() => tcp.hits > hitsBefore + 2);

    await op(w, await cloudMap(w.registry).DeregisterInstance({ ServiceId: svc, InstanceId: 'a-1' }));
    assert.equal(monitor.size, 1);

    // Removing the HealthCheckConfig stops probing.
    await op(w, await cloudMap(w.registry).UpdateService({ Id: svc, Service: {} }));
    assert.equal(monitor.size, 0);
    const hits = tcp.hits;
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 3));
    assert.equal(tcp.hits, hits, 'no probes after the config was removed');
  });

  test('status survives a restart and probing resumes from it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pharos-health-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const e = track(await startEndpoint('http'));
    let w = await openWorld(dir);
    let monitor = new HealthMonitor({ view: w.snapshot, notifier: w.registry, intervalMs: INTERVAL_MS });
    monitor.start();
    const ns = await namespace(w);
    const svc = await service(w, ns, 'db', { Type: 'HTTP', FailureThreshold: 3 });
    await register(w, svc, 'd-1', e.port);
    await e.down();
    await waitHealth(w, svc, 'd-1', 'UNHEALTHY');
    await monitor.stop();
    await monitor.stop(); // repeatable
    await w.close();

    // Restart: the store remembers UNHEALTHY; the new monitor starts from it, and with threshold 3
    // it takes three good probes to bring the endpoint back.
    w = await openWorld(dir);
    cleanups.push(() => w.close());
    assert.equal(w.snapshot.health(svc, 'd-1'), 'UNHEALTHY');
    const writes: string[] = [];
    const notifier: HealthNotifier = {
      setHealth: (s, i, status, reason) => {
        writes.push(status);
        return w.registry.setHealth(s, i, status, reason);
      },
    };
    monitor = new HealthMonitor({ view: w.snapshot, notifier, intervalMs: INTERVAL_MS });
    monitor.start();
    cleanups.push(() => monitor.stop());
    assert.equal(monitor.status(svc, 'd-1'), 'UNHEALTHY');
    await e.up();
    await waitHealth(w, svc, 'd-1', 'HEALTHY');
    assert.deepEqual(writes, ['HEALTHY']);
    assert.ok(monitor.probesRun(svc, 'd-1')! >= 3);
  });

  test('the concurrency cap holds: hanging endpoints never get more sockets than slots', async () => {
    const w = track(await openWorld());
    cleanups.push(() => rmSync(w.dir, { recursive: true, force: true }));
    const CAP = 3;
    const silent = await Promise.all(Array.from({ length: 12 }, () => startEndpoint('silent')));
    for (const s of silent) track(s);
    const monitor = new HealthMonitor({ view: w.snapshot, notifier: w.registry, intervalMs: 200, probeTimeoutMs: 150, maxConcurrentProbes: CAP });
    const ns = await namespace(w);
    const svc = await service(w, ns, 'slow', { Type: 'HTTP', FailureThreshold: 1 });
    for (const [i, s] of silent.entries()) await register(w, svc, `s-${i}`, s.port);
    // Probes in flight (the gauge rises before a probe opens its socket and falls after the socket
    // is destroyed, so it bounds the client sockets) and, as a cross-check, connections the servers
    // see (those lag: a server notices a close a little after the client made it).
    let peak = 0;
    let serverPeak = 0;
    const sampler = setInterval(() => {
      void monitor.metrics.inFlight.get().then((g) => (peak = Math.max(peak, g.values[0]?.value ?? 0)));
      serverPeak = Math.max(serverPeak, silent.reduce((n, s) => n + s.openConnections(), 0));
    }, 5);
    monitor.start();
    try {
      await eventually(() => silent.every((_, i) => w.snapshot.health(svc, `s-${i}`) === 'UNHEALTHY'), { timeoutMs: 8000 });
      assert.equal(w.snapshot.healthRecord(svc, 's-0')?.reason, 'timeout after 150ms');
    } finally {
      clearInterval(sampler);
      await monitor.stop();
    }
    assert.equal(peak, CAP, `peak ${peak} probes in flight, cap ${CAP}`);
    assert.ok(serverPeak <= CAP + 2, `servers saw ${serverPeak} connections at once`);
    await eventually(() => silent.every((s) => s.openConnections() === 0), { message: 'probe sockets closed after stop' });
  });

  test('endpointOf: which address is probed, and why some cannot be', () => {
    const cases: [Record<string, string>, ReturnType<typeof endpointOf>][] = [
      [{ AWS_INSTANCE_IPV4: '198.18.0.2', AWS_INSTANCE_PORT: '8080' }, { host: '198.18.0.2', port: 8080 }],
      [{ AWS_INSTANCE_IPV4: '198.18.0.2', AWS_INSTANCE_IPV6: '2001:db8::1', AWS_INSTANCE_PORT: '80' }, { host: '198.18.0.2', port: 80 }],
      [{ AWS_INSTANCE_IPV6: '2001:db8::1', AWS_INSTANCE_PORT: '443' }, { host: '2001:db8::1', port: 443 }],
      [{ AWS_INSTANCE_PORT: '80' }, 'no AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6'],
      [{ AWS_INSTANCE_IPV4: 'web.local', AWS_INSTANCE_PORT: '80' }, 'AWS_INSTANCE_IPV4 is not an IPv4 address'],
      [{ AWS_INSTANCE_IPV6: '198.18.0.2', AWS_INSTANCE_PORT: '80' }, 'AWS_INSTANCE_IPV6 is not an IPv6 address'],
      [{ AWS_INSTANCE_IPV4: '198.18.0.2' }, 'no AWS_INSTANCE_PORT'],
      [{ AWS_INSTANCE_IPV4: '198.18.0.2', AWS_INSTANCE_PORT: '0' }, 'AWS_INSTANCE_PORT is not a port (1-65535)'],
      [{ AWS_INSTANCE_IPV4: '198.18.0.2', AWS_INSTANCE_PORT: '65536' }, 'AWS_INSTANCE_PORT is not a port (1-65535)'],
      [{ AWS_INSTANCE_IPV4: '198.18.0.2', AWS_INSTANCE_PORT: '80 ' }, 'AWS_INSTANCE_PORT is not a port (1-65535)'],
    ];
    for (const [attributes, want] of cases) {
      assert.deepEqual(endpointOf({ id: 'i', serviceId: 'srv-x', attributes, registeredAt: 0 }), want, JSON.stringify(attributes));
    }
  });
});
