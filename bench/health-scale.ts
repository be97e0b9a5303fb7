/**
 * Scale benchmark for the health checker (issue 4): N HTTP endpoints (default 10,000) probed at a
 * 5 s interval by a HealthMonitor over a real Registry/Snapshot/SQLite store, with the endpoints
 * in a child process. Reports probes/s achieved vs scheduled, missed intervals, and the CPU of this
 * process (the server side: monitor + registry + store) as a fraction of one core.
 *
 * Run: node --import tsx bench/health-scale.ts [endpoints=10000] [intervalMs=5000] [measureS=30] [hanging=0] [slots=1024]
 * (`hanging`: that many endpoints accept and never answer, so their probes hold a slot until the
 * 2 s timeout — the case the probe cap must survive without starving the others.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MAX_CONCURRENT_PROBES, HealthMonitor } from '../src/health/index.ts';
import { createMetricsRegistry } from '../src/lib/index.ts';
import { Registry, Snapshot } from '../src/registry/index.ts';
import { openStore } from '../src/store/index.ts';
import { cloudMap } from '../src/registry/ops/index.ts';

const N = Number(process.argv[2] ?? 10_000);
const INTERVAL_MS = Number(process.argv[3] ?? 5000);
const MEASURE_S = Number(process.argv[4] ?? 30);
const HANGING = Number(process.argv[5] ?? 0);
const SLOTS = Number(process.argv[6] ?? DEFAULT_MAX_CONCURRENT_PROBES);
/** Instances registered at once while setting up (the set-up is not measured). */
const REGISTER_CONCURRENCY = 200;

const here = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  // ---- endpoints in a child process
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'health-targets.ts'), String(N), String(HANGING)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (): Promise<Record<string, unknown>> => new Promise((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))));
  const t0 = Date.now();
  const { ports } = (await next()) as { ports: number[] };
  console.error(`${ports.length} endpoints listening in ${Date.now() - t0} ms`);
  const childCpu = async (): Promise<number> => {
    child.stdin!.write('cpu\n');
    const { cpu } = (await next()) as { cpu: NodeJS.CpuUsage };
    return (cpu.user + cpu.system) / 1000;
  };

  // ---- registry over a real store, quotas raised to hold N instances in one service
  const dir = mkdtempSync(path.join(tmpdir(), 'pharos-bench-health-'));
  const kv = await openStore(`sqlite:${path.join(dir, 'pharos.db')}`);
  const snapshot = await Snapshot.open(kv);
  const registry = new Registry({
    kv,
    snapshot,
    config: { region: 'us-east-1', accountId: '123456789012', quotas: { instancesPerService: N, instancesPerNamespace: N } },
  });
  await registry.start();
  const nsOp = await cloudMap(registry).CreatePublicDnsNamespace({ Name: 'bench.health' });
  const ns = await registry.waitForOperation(nsOp['OperationId'] as string);
  const svc = await cloudMap(registry).CreateService({
    Name: 'web',
    NamespaceId: ns.targets.NAMESPACE,
    DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
    HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/health', FailureThreshold: 3 },
  });
  const serviceId = (svc['Service'] as { Id: string }).Id;
  const t1 = Date.now();
  for (let i = 0; i < ports.length; i += REGISTER_CONCURRENCY) {
    await Promise.all(
      ports.slice(i, i + REGISTER_CONCURRENCY).map(async (port, j) => {
        const out = await cloudMap(registry).RegisterInstance({
          ServiceId: serviceId,
          InstanceId: `i-${i + j}`,
          Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port) },
        });
        await registry.waitForOperation(out['OperationId'] as string);
      }),
    );
  }
  console.error(`${snapshot.instances(serviceId).size} instances registered in ${Date.now() - t1} ms`);

  // ---- the monitor, as pharos server runs it
  const metrics = createMetricsRegistry();
  const monitor = new HealthMonitor({ view: snapshot, notifier: registry, intervalMs: INTERVAL_MS, metrics, maxConcurrentProbes: SLOTS });
  const counter = async (name: string): Promise<number> => {
    const m = (await metrics.getMetricsAsJSON()).find((x) => x.name === name) as { values: { value: number }[] } | undefined;
    return (m?.values ?? []).reduce((s, v) => s + v.value, 0);
  };
  const countHealthy = (): number => {
    let n = 0;
    for (const id of snapshot.instances(serviceId).keys()) if (snapshot.health(serviceId, id) === 'HEALTHY') n++;
    return n;
  };
  const countDecided = (): number => {
    let n = 0;
    for (const id of snapshot.instances(serviceId).keys()) if (snapshot.health(serviceId, id) !== 'UNKNOWN') n++;
    return n;
  };
  const tStart = performance.now();
  monitor.start();
  // Warm-up: the first result of each endpoint writes HEALTHY (N store writes); wait for all of
  // them, then one more interval, so the window measures steady-state probing only.
  console.error(`monitor started on ${monitor.size} endpoints; waiting for every first status to be stored`);
  while (countDecided() < N && performance.now() - tStart < 120_000) await new Promise((r) => setTimeout(r, 100));
  const allHealthyMs = Math.round(performance.now() - tStart);
  const healthy = countHealthy();
  console.error(`${healthy} HEALTHY after ${allHealthyMs} ms; one more interval before measuring`);
  await new Promise((r) => setTimeout(r, INTERVAL_MS));

  // ---- measure
  const probes0 = await counter('pharos_health_probes_total');
  const missed0 = await counter('pharos_health_missed_intervals_total');
  const cpu0 = process.cpuUsage();
  const child0 = await childCpu();
  const wall0 = performance.now();
  const lag: number[] = [];
  const inFlight: number[] = [];
  let last = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lag.push(now - last - 100);
    last = now;
    void monitor.metrics.inFlight.get().then((g) => inFlight.push(g.values[0]?.value ?? 0));
  }, 100);
  const latency0 = await monitor.metrics.probeDuration.get();
  const delay0 = await monitor.metrics.startDelay.get();
  await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
  clearInterval(lagTimer);
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const childMs = (await childCpu()) - child0;
  const probes = (await counter('pharos_health_probes_total')) - probes0;
  const missed = (await counter('pharos_health_missed_intervals_total')) - missed0;
  const json = await metrics.getMetricsAsJSON();
  const byResult = (json.find((x) => x.name === 'pharos_health_probes_total') as { values: { labels: Record<string, string>; value: number }[] }).values;
  lag.sort((a, b) => a - b);
  inFlight.sort((a, b) => a - b);
  // Probe latency over the window, from the histogram's cumulative buckets.
  const latency1 = await monitor.metrics.probeDuration.get();
  const buckets = (h: typeof latency1) => h.values.filter((v) => v.metricName?.endsWith('_bucket')).map((v) => [Number((v.labels as Record<string, unknown>)['le']), v.value] as const);
  const b0 = new Map(buckets(latency0));
  const window = buckets(latency1).map(([le, n]) => [le, n - (b0.get(le) ?? 0)] as const);
  const total = window.at(-1)?.[1] ?? 0;
  const quantile = (q: number) => window.find(([, n]) => n >= q * total)?.[0];
  const d0 = new Map(buckets(delay0));
  const delayWindow = buckets(await monitor.metrics.startDelay.get()).map(([le, n]) => [le, n - (d0.get(le) ?? 0)] as const);
  const delayTotal = delayWindow.at(-1)?.[1] ?? 0;
  const delayQuantile = (q: number) => delayWindow.find(([, n]) => n >= q * delayTotal)?.[0];

  const result = {
    endpoints: N,
    hanging: HANGING,
    slots: SLOTS,
    intervalMs: INTERVAL_MS,
    measuredS: Math.round(wall / 100) / 10,
    healthyAfterWarmup: healthy,
    allFirstStatusesStoredMs: allHealthyMs,
    probesPerSecondScheduled: Math.round((N / INTERVAL_MS) * 1000),
    probesPerSecondAchieved: Math.round((probes / wall) * 1000),
    missedIntervals: missed,
    serverCpuOfOneCore: Number(((cpu.user + cpu.system) / 1000 / wall).toFixed(3)),
    targetsCpuOfOneCore: Number((childMs / wall).toFixed(3)),
    probeLatencyP50AtMostS: quantile(0.5),
    probeLatencyP99AtMostS: quantile(0.99),
    startDelayP50AtMostS: delayQuantile(0.5),
    startDelayP99AtMostS: delayQuantile(0.99),
    startDelayP999AtMostS: delayQuantile(0.999),
    probesInFlightP50: inFlight[Math.floor(inFlight.length * 0.5)],
    probesInFlightMax: inFlight.at(-1),
    eventLoopLagMsP99: Math.round(lag[Math.floor(lag.length * 0.99)] ?? 0),
    eventLoopLagMsMax: Math.round(lag.at(-1) ?? 0),
    resultsTotal: byResult.map((v) => `${v.labels['result']}/${v.labels['cause']}=${v.value}`).join(' '),
  };
  console.log(JSON.stringify(result, null, 2));

  await monitor.stop();
  await registry.stop();
  snapshot.close();
  await kv.close();
  rmSync(dir, { recursive: true, force: true });
  child.stdin!.end();
  child.kill();
}

await main();
