/**
 * 100,000 registered instances in one server: resident memory once they are all registered, and
 * restart-to-ready (spawn → first 200 on /ping, which needs the snapshot loaded from the store)
 * after a clean SIGTERM. Instances go into 100 services of 1,000 (the AWS per-service quota) in
 * one namespace whose quota is raised with --max-instances-per-namespace.
 *
 *   node --import tsx bench/api-scale.ts [instances=100000] [concurrency=32]
 */
import { rmSync } from 'node:fs';
import { call, fmt, rssMiB, runLoad, startServerProcess, tempDataDir, waitOperation } from './api-lib.ts';

const total = Number(process.argv[2] ?? 100_000);
const concurrency = Number(process.argv[3] ?? 32);
const PER_SERVICE = 1000;
const services = Math.ceil(total / PER_SERVICE);

const dataDir = tempDataDir();
const args = ['--data-dir', dataDir, '--log-level', 'warn', '--max-instances-per-namespace', String(total)];
const server = await startServerProcess(args);
console.log(`empty server: ready in ${fmt(server.readyMs)} ms, RSS ${fmt(rssMiB(server.child.pid!), 1)} MiB`);

const { OperationId } = (await call(server.port, 'CreatePrivateDnsNamespace', { Name: 'scale.local', Vpc: 'vpc-1' })) as { OperationId: string };
const nsId = ((await waitOperation(server.port, OperationId))['Targets'] as Record<string, string>)['NAMESPACE'];
const serviceIds: string[] = [];
for (let s = 0; s < services; s++) {
  const { Service } = (await call(server.port, 'CreateService', {
    Name: `svc-${s}`,
    NamespaceId: nsId,
    DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 10 }] },
    HealthCheckCustomConfig: { FailureThreshold: 1 },
  })) as { Service: { Id: string } };
  serviceIds.push(Service.Id);
}

// Register exactly `total` instances: request i goes to service i % services; stop once all are acknowledged.
let next = 0;
const started = performance.now();
const load = await runLoad(server.port, concurrency, 3600, () => {
  const i = next++;
  if (i >= total) return { operation: 'GetService', body: JSON.stringify({ Id: serviceIds[0] }) };
  return {
    operation: 'RegisterInstance',
    body: JSON.stringify({
      ServiceId: serviceIds[i % services],
      InstanceId: `task-${i}`,
      Attributes: {
        AWS_INSTANCE_IPV4: `198.18.${(i >> 8) & 255}.${i & 255}`,
        AWS_INSTANCE_PORT: '8080',
        AVAILABILITY_ZONE: 'us-east-1a',
        ECS_CLUSTER_NAME: 'default',
        ECS_SERVICE_NAME: `svc-${i % services}`,
      },
    }),
  };
}, undefined, () => next >= total);
console.log(`registered ${fmt(total)} in ${fmt((performance.now() - started) / 1000, 1)} s (${fmt(total / load.seconds)}/s), errors ${load.errors}`);

// Wait until every registration is applied (visible in InstanceCount).
for (;;) {
  let count = 0;
  for (const id of serviceIds) count += ((await call(server.port, 'GetService', { Id: id })) as { Service: { InstanceCount: number } }).Service.InstanceCount;
  if (count >= total) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
// Let the server settle (GC, compaction) before reading its memory.
await new Promise((resolve) => setTimeout(resolve, 3000));
const rss = rssMiB(server.child.pid!);
console.log(`${fmt(total)} instances: RSS ${fmt(rss, 1)} MiB`);
await server.stop();

const restarted = await startServerProcess(args);
const sample = (await call(restarted.port, 'DiscoverInstances', { NamespaceName: 'scale.local', ServiceName: 'svc-7', MaxResults: 1000 })) as { Instances: unknown[] };
console.log(`restart to ready (/ping 200): ${fmt(restarted.readyMs)} ms; svc-7 discovers ${sample.Instances.length} instances; RSS ${fmt(rssMiB(restarted.child.pid!), 1)} MiB`);
await restarted.stop();
rmSync(dataDir, { recursive: true, force: true });
