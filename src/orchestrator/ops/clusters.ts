import { PharosError } from '../../lib/index.ts';
import type { EcsApi } from '../api.ts';
import { CLUSTER_CONTAINS_SERVICES, CLUSTER_CONTAINS_TASKS, clusterNotFound } from '../errors.ts';
import { DEFAULT_CLUSTER, NAME_PATTERN, clusterNameOf, ecsKeys, type ClusterRecord, type EcsServiceRecord, type TaskRecord } from '../model.ts';
import { UNCHANGED } from '../state.ts';
import { objects, str, strings, type Json } from '../validate.ts';
import { includes, paginate, parseTags } from './parse.ts';

/** Items per DescribeClusters call (the ECS model's limit). */
const MAX_DESCRIBE_CLUSTERS = 100;

export async function CreateCluster(ecs: EcsApi, b: Json): Promise<unknown> {
  const name = str(b, 'clusterName', { max: 255, pattern: NAME_PATTERN, patternHelp: 'must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.' }) ?? DEFAULT_CLUSTER;
  const tags = parseTags(b);
  const settings = (objects(b, 'settings') ?? []).map((s, i) => ({
    name: str(s, `settings[${i}].name`, { required: true, oneOf: ['containerInsights'] })!,
    value: str(s, `settings[${i}].value`, { required: true, oneOf: ['enabled', 'disabled', 'enhanced'] })!,
  }));
  const now = ecs.clock.now();
  const cluster = await ecs.store.mutate<ClusterRecord>(ecsKeys.cluster(name), (cur) => {
    // Creating an ACTIVE cluster again returns it unchanged; an INACTIVE one comes back to life.
    if (cur && cur.status === 'ACTIVE') return UNCHANGED;
    return {
      name,
      arn: ecs.arn(`cluster/${name}`),
      status: 'ACTIVE',
      createdAt: now,
      tags,
      settings: settings.length > 0 ? settings : [{ name: 'containerInsights', value: 'disabled' }],
    };
  });
  await ecs.onClusterActive?.(cluster!);
  return { cluster: await ecs.clusterOutput(cluster!, true) };
}

export async function DescribeClusters(ecs: EcsApi, b: Json): Promise<unknown> {
  const refs = strings(b, 'clusters', { max: MAX_DESCRIBE_CLUSTERS }) ?? [DEFAULT_CLUSTER];
  const includeTags = includes(b, 'TAGS');
  const clusters: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const name = clusterNameOf(ref);
    const rec = name === undefined ? undefined : (await ecs.store.get<ClusterRecord>(ecsKeys.cluster(name)))?.value;
    if (rec) clusters.push(await ecs.clusterOutput(rec, includeTags));
    else failures.push({ arn: name === undefined ? ref : ecs.arn(`cluster/${name}`), reason: 'MISSING' });
  }
  return { clusters, failures };
}

export async function ListClusters(ecs: EcsApi, b: Json): Promise<unknown> {
  const all = (await ecs.store.list<ClusterRecord>(ecsKeys.clusterPrefix)).filter((c) => c.status === 'ACTIVE');
  const page = paginate(all.map((c) => ({ key: c.name, value: c.arn })), b);
  return { clusterArns: page.items, nextToken: page.nextToken };
}

export async function DeleteCluster(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster', { required: true }));
  const services = await ecs.store.list<EcsServiceRecord>(ecsKeys.clusterServices(cluster.name));
  if (services.some((s) => s.status !== 'INACTIVE')) {
    throw new PharosError(CLUSTER_CONTAINS_SERVICES, 'The Cluster cannot be deleted while Services are active.');
  }
  const tasks = await ecs.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name));
  if (tasks.some((t) => t.lastStatus !== 'STOPPED')) {
    throw new PharosError(CLUSTER_CONTAINS_TASKS, 'The Cluster cannot be deleted while Tasks are active.');
  }
  const updated = await ecs.store.mutate<ClusterRecord>(ecsKeys.cluster(cluster.name), (cur) => {
    if (!cur) throw clusterNotFound();
    return { ...cur, status: 'INACTIVE' };
  });
  return { cluster: await ecs.clusterOutput(updated!, false) };
}
