// Loaders shared by views: each gathers one view's data through the API.
import { allEcs, allHealth, allPages, cloudmap, consoleFetch, describeAll, ecs } from './api.js';

/** { healthy, unhealthy, unknown } of a { id: status } map. */
function countHealth(status) {
  const c = { healthy: 0, unhealthy: 0, unknown: 0 };
  for (const s of Object.values(status)) {
    if (s === 'HEALTHY') c.healthy++;
    else if (s === 'UNHEALTHY') c.unhealthy++;
    else c.unknown++;
  }
  return c;
}

const nsFilter = (id) => ({ Filters: [{ Name: 'NAMESPACE_ID', Values: [id], Condition: 'EQ' }] });

/** A namespace's services, each with its instances' health counts. */
export async function servicesWithHealth(namespaceId) {
  const services = await allPages('ListServices', nsFilter(namespaceId), 'Services');
  return Promise.all(services.map(async (s) => ({ ...s, health: countHealth(await allHealth(s.Id)) })));
}

/** Every namespace with its services' health summed up. */
export async function namespacesWithHealth() {
  const namespaces = await allPages('ListNamespaces', {}, 'Namespaces');
  return Promise.all(
    namespaces.map(async (n) => {
      const services = await servicesWithHealth(n.Id);
      const health = { healthy: 0, unhealthy: 0, unknown: 0 };
      let instances = 0;
      for (const s of services) {
        for (const k of Object.keys(health)) health[k] += s.health[k];
        instances += s.InstanceCount ?? 0;
      }
      return { ...n, services, health, instances };
    }),
  );
}

/** Every ECS cluster, with how many of its live tasks are unhealthy. */
export async function clustersWithHealth() {
  const arns = await allEcs('ListClusters', {}, 'clusterArns');
  const clusters = await describeAll('DescribeClusters', {}, 'clusters', arns, 100, 'clusters');
  return Promise.all(
    clusters.map(async (c) => {
      const tasks = await tasksOf(c.clusterName, {});
      return { ...c, unhealthyTasks: tasks.filter((t) => t.healthStatus === 'UNHEALTHY').length };
    }),
  );
}

/** Tasks of a cluster (running ones; `stopped: true` adds the recently stopped), optionally of one service. */
export async function tasksOf(cluster, { serviceName, stopped }) {
  const base = { cluster, ...(serviceName ? { serviceName } : {}) };
  const arns = await allEcs('ListTasks', base, 'taskArns');
  if (stopped) arns.push(...(await allEcs('ListTasks', { ...base, desiredStatus: 'STOPPED' }, 'taskArns')));
  if (!arns.length) return [];
  return describeAll('DescribeTasks', { cluster }, 'tasks', arns, 100, 'tasks');
}

/** A Cloud Map service with its instances, each with status, reason and since when. */
export async function serviceDetail(id) {
  const { Service } = await cloudmap('GetService', { Id: id });
  const [instances, status, details] = await Promise.all([
    allPages('ListInstances', { ServiceId: id }, 'Instances'),
    allHealth(id),
    consoleFetch(`health?serviceId=${encodeURIComponent(id)}`).catch(() => ({ instances: {} })),
  ]);
  const rows = instances
    .map((i) => ({ ...i, key: i.Id, status: status[i.Id] ?? 'UNKNOWN', detail: details.instances[i.Id] }))
    .sort((a, b) => (a.Id < b.Id ? -1 : 1));
  const { Namespace } = await cloudmap('GetNamespace', { Id: Service.NamespaceId });
  return { service: Service, namespace: Namespace, instances: rows, health: countHealth(status) };
}

/** Records a DNS service serves: one per record type, with the healthy instances' values. */
export function dnsRecords(namespace, service, instances) {
  if (!service.DnsConfig?.DnsRecords || namespace.Type === 'HTTP') return [];
  const name = `${service.Name}.${namespace.Name}`;
  // As Pharos DNS answers: with a health check, the healthy instances, or all when none is (fail open).
  const checked = service.HealthCheckConfig || service.HealthCheckCustomConfig;
  const healthy = checked ? instances.filter((i) => i.status === 'HEALTHY') : instances;
  const serving = healthy.length ? healthy : instances;
  return service.DnsConfig.DnsRecords.map((r) => {
    const values = serving
      .map((i) => {
        const a = i.Attributes ?? {};
        if (r.Type === 'A') return a.AWS_INSTANCE_IPV4;
        if (r.Type === 'AAAA') return a.AWS_INSTANCE_IPV6;
        if (r.Type === 'CNAME') return a.AWS_INSTANCE_CNAME;
        if (r.Type === 'SRV') return `1 1 ${a.AWS_INSTANCE_PORT ?? 0} ${i.Id}.${name}.`;
        return undefined;
      })
      .filter(Boolean);
    return { name: `${name}.`, type: r.Type, ttl: r.TTL, values };
  });
}

/** An ECS service by cluster and name. */
export async function ecsService(cluster, name) {
  const { services, failures } = await ecs('DescribeServices', { cluster, services: [name] });
  if (!services?.length) throw Object.assign(new Error(failures?.[0]?.reason ?? 'service not found'), { code: 'ServiceNotFoundException' });
  return services[0];
}
