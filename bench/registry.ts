/**
 * Registry micro-benchmark (no HTTP): durable RegisterInstance acknowledgements from concurrent
 * callers, and DiscoverInstances on a 100-instance service.
 *
 *   node --import tsx bench/registry.ts [--clients 32] [--seconds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RAW_JSON, Registry, Snapshot } from '../src/registry/index.ts';
import { openStore } from '../src/store/index.ts';
import { cloudMap } from '../src/registry/ops/index.ts';

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '32' }, seconds: { type: 'string', default: '3' }, only: { type: 'string' } },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const dir = mkdtempSync(join(tmpdir(), 'pharos-bench-registry-'));
const kv = await openStore(`sqlite:${join(dir, 'pharos.db')}`);
const snapshot = await Snapshot.open(kv);
const registry = new Registry({
  kv,
  snapshot,
  config: {
    region: 'us-east-1',
    accountId: '000000000000',
    // The bench registers far more than AWS's per-service quota.
    quotas: { instancesPerService: 10_000_000, instancesPerNamespace: 10_000_000 },
  },
});
await registry.start();
/** The handler table, bound once (as the API server holds it). */
const sd = cloudMap(registry);

const created = (await sd.CreatePrivateDnsNamespace({ Name: 'bench.local', Vpc: 'vpc-1' })) as { OperationId: string };
const nsId = (await registry.waitForOperation(created.OperationId)).targets.NAMESPACE!;
const mk = async (name: string) =>
  ((await sd.CreateService({ Name: name, NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] }, HealthCheckCustomConfig: {} })) as { Service: { Id: string } }).Service.Id;
const regSvc = await mk('reg');
const discSvc = await mk('disc');

// ---- RegisterInstance: acknowledged (op record durable) per second ----
{
  let acked = 0;
  const latencies: number[] = [];
  const lastOps: string[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let n = 0;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const out = (await sd.RegisterInstance({
          ServiceId: regSvc,
          InstanceId: `c${c}-${n++}`,
          CreatorRequestId: `${c}-${n}-${Math.random()}`,
          Attributes: { AWS_INSTANCE_IPV4: `198.18.${c}.${n % 250}`, color: 'blue', AVAILABILITY_ZONE: 'az-1' },
        })) as { OperationId: string };
        latencies.push(performance.now() - t0);
        acked++;
        lastOps[c] = out.OperationId;
      }
    }),
  );
  const elapsed = seconds;
  const t0 = performance.now();
  for (const id of lastOps) if (id) await registry.waitForOperation(id);
  const drain = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  console.log(
    `RegisterInstance: ${clients} clients, ${acked} acknowledged in ${elapsed}s = ${Math.round(acked / elapsed)}/s; ` +
      `p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms; ` +
      `all applied ${drain.toFixed(0)} ms after the last ack; instances now ${snapshot.instances(regSvc).size}`,
  );
}

// ---- DiscoverInstances on a 100-instance service ----
if (values.only !== 'register') {
  const ops: string[] = [];
  for (let i = 0; i < 100; i++) {
    const out = (await sd.RegisterInstance({
      ServiceId: discSvc,
      InstanceId: `d${i}`,
      Attributes: { AWS_INSTANCE_IPV4: `198.19.0.${i + 1}`, color: i % 2 ? 'blue' : 'green', ECS_CLUSTER_NAME: 'bench', AVAILABILITY_ZONE: 'az-1' },
    })) as { OperationId: string };
    ops.push(out.OperationId);
  }
  for (const id of ops) await registry.waitForOperation(id);
  for (const mode of ['object', 'JSON.stringify', 'RAW_JSON'] as const) {
    let calls = 0;
    const latencies: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          const out = await sd.DiscoverInstances({ NamespaceName: 'bench.local', ServiceName: 'disc', HealthStatus: 'HEALTHY' });
          if (mode === 'JSON.stringify') JSON.stringify(out);
          else if (mode === 'RAW_JSON' && typeof (out as Record<symbol, unknown>)[RAW_JSON] !== 'string') throw new Error('no RAW_JSON');
          latencies.push(performance.now() - t0);
          calls++;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    console.log(
      `DiscoverInstances (100 instances, body via ${mode}): ${Math.round(calls / seconds)}/s; ` +
        `p50 ${percentile(latencies, 50).toFixed(3)} ms, p99 ${percentile(latencies, 99).toFixed(3)} ms (${clients} concurrent callers)`,
    );
  }
}

await registry.stop();
snapshot.close();
await kv.close();
rmSync(dir, { recursive: true, force: true });
