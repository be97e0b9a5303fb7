/**
 * Detection benchmark for the health checker (issue 4): `pharos server` in this process with
 * `--health-interval 1s`, a service with FailureThreshold 2 and two HTTP endpoints; one endpoint is
 * killed and restarted `trials` times. Measures the time from the kill until its address has left
 * the answer, and from the restart until it is back. The answer is read from the real DNS server
 * when it is wired into startServer, otherwise from DiscoverInstances (HealthStatus HEALTHY).
 *
 * Run: node --import tsx bench/health-detection.ts [trials=50] [intervalMs=1000] [threshold=2]
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultConfig, startServer } from '../src/cli/index.ts';
import { startEndpoint } from '../src/health/testing.ts';
import { silentLogger } from '../src/lib/index.ts';

const TRIALS = Number(process.argv[2] ?? 50);
const INTERVAL_MS = Number(process.argv[3] ?? 1000);
const THRESHOLD = Number(process.argv[4] ?? 2);
/** How often the answer is read while waiting for a change (bounds the measurement error). */
const POLL_MS = 10;
const NAMESPACE = 'detect.bench';

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pharos-bench-detect-'));
  const server = await startServer(
    defaultConfig({
      apiAddr: { host: '127.0.0.1', port: 0 },
      dnsAddr: { host: '127.0.0.1', port: 0 },
      dataDir,
      store: `sqlite:${path.join(dataDir, 'pharos.db')}`,
      logLevel: 'silent',
      healthIntervalMs: INTERVAL_MS,
    }),
    { logger: silentLogger() },
  );
  const sd = new ServiceDiscovery({
    endpoint: server.apiUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'pharos', secretAccessKey: 'pharos' },
    disableHostPrefix: true,
    maxAttempts: 1,
  });
  const stable = await startEndpoint('http', { host: '127.0.0.2' });
  const victim = await startEndpoint('http', { host: '127.0.0.3' });

  const waitOp = async (id: string | undefined): Promise<Record<string, string>> => {
    for (;;) {
      const { Operation } = await sd.getOperation({ OperationId: id });
      if (Operation?.Status === 'SUCCESS') return Operation.Targets ?? {};
      if (Operation?.Status === 'FAIL') throw new Error(`operation failed: ${Operation.ErrorMessage}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const ns = await sd.createPublicDnsNamespace({ Name: NAMESPACE });
  const namespaceId = (await waitOp(ns.OperationId))['NAMESPACE'];
  const svc = await sd.createService({
    Name: 'web',
    NamespaceId: namespaceId,
    DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 0 }] },
    HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/', FailureThreshold: THRESHOLD },
  });
  for (const [id, e, ip] of [['stable', stable, '127.0.0.2'], ['victim', victim, '127.0.0.3']] as const) {
    const r = await sd.registerInstance({ ServiceId: svc.Service!.Id!, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: String(e.port) } });
    await waitOp(r.OperationId);
  }

  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  if (server.dnsAddress) resolver.setServers([server.dnsAddress]);
  const via = server.dnsAddress ? `DNS (${server.dnsAddress})` : 'DiscoverInstances HEALTHY (DNS not wired into startServer)';
  let dnsErrors = 0;
  const victimListed = async (): Promise<boolean> => {
    if (server.dnsAddress) {
      // A failed query (timeout on the loaded machine) says nothing about the answer: ask again.
      for (;;) {
        try {
          return (await resolver.resolve4(`web.${NAMESPACE}`)).includes('127.0.0.3');
        } catch {
          dnsErrors++;
        }
      }
    }
    const out = await sd.discoverInstances({ NamespaceName: NAMESPACE, ServiceName: 'web', HealthStatus: 'HEALTHY' });
    return (out.Instances ?? []).some((i) => i.InstanceId === 'victim');
  };
  const until = async (want: boolean): Promise<number> => {
    const t0 = performance.now();
    while ((await victimListed()) !== want) await new Promise((r) => setTimeout(r, POLL_MS));
    return performance.now() - t0;
  };

  await until(true);
  console.error(`reading the answer via ${via}; ${TRIALS} trials, interval ${INTERVAL_MS} ms, threshold ${THRESHOLD}`);
  const down: number[] = [];
  const up: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    // A random phase against the probe schedule.
    await new Promise((r) => setTimeout(r, Math.random() * INTERVAL_MS));
    await victim.down();
    down.push(await until(false));
    await new Promise((r) => setTimeout(r, Math.random() * INTERVAL_MS));
    await victim.up();
    up.push(await until(true));
    console.error(`trial ${i + 1}: out in ${Math.round(down.at(-1)!)} ms, back in ${Math.round(up.at(-1)!)} ms`);
  }

  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => Math.round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
    return { p50: q(0.5), p99: q(0.99), max: Math.round(s.at(-1)!), min: Math.round(s[0]!) };
  };
  console.log(JSON.stringify({ via, trials: TRIALS, intervalMs: INTERVAL_MS, threshold: THRESHOLD, dnsErrors, removal: stats(down), recovery: stats(up) }, null, 2));

  sd.destroy();
  await server.close();
  await stable.close();
  await victim.close();
  rmSync(dataDir, { recursive: true, force: true });
}

await main();
