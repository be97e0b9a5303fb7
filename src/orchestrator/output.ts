import type {
  ClusterRecord,
  DeploymentRecord,
  EcsServiceRecord,
  EcsTag,
  TaskDefinitionRecord,
  TaskRecord,
} from './model.ts';
import { isLive, statusRank } from './model.ts';

/**
 * ECS wire shapes, built from the stored records: camelCase members, timestamps as epoch seconds with
 * millisecond fractions, members without a value left out (docs/compatibility.md#wire-protocol, #ecs-operations).
 */

export const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

/** Drops undefined members, so they are left out rather than sent as null. */
function clean<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

const tagsOut = (tags: EcsTag[]) => tags.map((t) => ({ key: t.key, value: t.value }));

/** Task counts of a set of tasks, as ECS reports them. */
interface TaskCounts {
  running: number;
  pending: number;
}

export function countTasks(tasks: Iterable<TaskRecord>): TaskCounts {
  let running = 0;
  let pending = 0;
  for (const t of tasks) {
    if (!isLive(t)) continue;
    if (t.lastStatus === 'RUNNING') running++;
    else if (statusRank(t.lastStatus) < statusRank('RUNNING')) pending++;
  }
  return { running, pending };
}

export function clusterOut(c: ClusterRecord, counts: TaskCounts & { activeServices: number; instances: number }, includeTags: boolean): Record<string, unknown> {
  return clean({
    clusterArn: c.arn,
    clusterName: c.name,
    status: c.status,
    registeredContainerInstancesCount: counts.instances,
    runningTasksCount: counts.running,
    pendingTasksCount: counts.pending,
    activeServicesCount: counts.activeServices,
    statistics: [],
    tags: includeTags ? tagsOut(c.tags) : undefined,
    settings: c.settings,
    capacityProviders: [],
    defaultCapacityProviderStrategy: [],
  });
}

export function taskDefinitionOut(td: TaskDefinitionRecord): Record<string, unknown> {
  return clean({
    taskDefinitionArn: td.arn,
    containerDefinitions: td.containerDefinitions,
    family: td.family,
    taskRoleArn: td.taskRoleArn,
    executionRoleArn: td.executionRoleArn,
    networkMode: td.networkMode,
    revision: td.revision,
    volumes: [],
    status: td.status,
    requiresAttributes: [],
    placementConstraints: [],
    compatibilities: td.compatibilities,
    requiresCompatibilities: td.requiresCompatibilities,
    cpu: td.cpu,
    memory: td.memory,
    registeredAt: seconds(td.registeredAt),
    deregisteredAt: seconds(td.deregisteredAt),
    ...td.extra,
  });
}

function deploymentOut(d: DeploymentRecord, service: EcsServiceRecord, tasks: TaskRecord[]): Record<string, unknown> {
  const mine = tasks.filter((t) => t.deploymentId === d.id);
  const counts = countTasks(mine);
  return clean({
    id: d.id,
    status: d.status,
    taskDefinition: d.taskDefinitionArn,
    desiredCount: d.status === 'PRIMARY' ? service.desiredCount : counts.running + counts.pending,
    pendingCount: counts.pending,
    runningCount: counts.running,
    failedTasks: d.failedTasks,
    createdAt: seconds(d.createdAt),
    updatedAt: seconds(d.updatedAt),
    launchType: d.launchType,
    networkConfiguration: d.networkConfiguration,
    rolloutState: d.rolloutState,
    rolloutStateReason: d.rolloutStateReason,
  });
}

/** `tasks`: the service's tasks (any state); counts come from them. */
export function serviceOut(s: EcsServiceRecord, tasks: TaskRecord[], includeTags: boolean): Record<string, unknown> {
  const counts = countTasks(tasks);
  return clean({
    serviceArn: s.arn,
    serviceName: s.name,
    clusterArn: s.clusterArn,
    loadBalancers: [],
    serviceRegistries: s.serviceRegistries,
    status: s.status,
    desiredCount: s.desiredCount,
    runningCount: counts.running,
    pendingCount: counts.pending,
    launchType: s.launchType,
    taskDefinition: s.taskDefinitionArn,
    deploymentConfiguration: s.deploymentConfiguration,
    deployments: s.deployments.filter((d) => d.status !== 'INACTIVE').map((d) => deploymentOut(d, s, tasks)),
    events: s.events.map((e) => ({ id: e.id, createdAt: seconds(e.createdAt), message: e.message })),
    createdAt: seconds(s.createdAt),
    placementConstraints: s.placementConstraints ?? [],
    placementStrategy: s.placementStrategy ?? [],
    networkConfiguration: s.networkConfiguration,
    healthCheckGracePeriodSeconds: s.healthCheckGracePeriodSeconds,
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: 'ECS' },
    tags: includeTags ? tagsOut(s.tags) : undefined,
    enableECSManagedTags: s.enableECSManagedTags,
    propagateTags: s.propagateTags,
    enableExecuteCommand: s.enableExecuteCommand,
  });
}

export function taskOut(t: TaskRecord, includeTags: boolean): Record<string, unknown> {
  const awsvpc = t.networkMode === 'awsvpc';
  const containers = t.containers.map((c) =>
    clean({
      containerArn: containerArn(t, c.id),
      taskArn: t.arn,
      name: c.name,
      image: c.image,
      imageDigest: c.imageDigest,
      runtimeId: c.runtimeId,
      lastStatus: c.lastStatus,
      exitCode: c.exitCode,
      reason: c.reason,
      healthStatus: c.healthStatus,
      networkBindings: c.networkBindings,
      networkInterfaces:
        awsvpc && t.privateIpv4Address ? [{ attachmentId: t.attachmentId, privateIpv4Address: t.privateIpv4Address }] : [],
    }),
  );
  const attachments = awsvpc && t.attachmentId ? [eniAttachment(t)] : [];
  return clean({
    taskArn: t.arn,
    clusterArn: t.clusterArn,
    taskDefinitionArn: t.taskDefinitionArn,
    containerInstanceArn: t.containerInstanceId === undefined ? undefined : containerInstanceArn(t.clusterArn, t.clusterName, t.containerInstanceId),
    group: t.group,
    startedBy: t.startedBy,
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    healthStatus: t.healthStatus,
    launchType: t.launchType,
    availabilityZone: t.availabilityZone,
    cpu: t.cpu,
    memory: t.memory,
    connectivity: 'CONNECTED',
    connectivityAt: seconds(t.createdAt),
    createdAt: seconds(t.createdAt),
    pullStartedAt: seconds(t.pullStartedAt),
    pullStoppedAt: seconds(t.pullStoppedAt),
    startedAt: seconds(t.startedAt),
    stoppingAt: seconds(t.stoppingAt),
    executionStoppedAt: seconds(t.executionStoppedAt),
    stoppedAt: seconds(t.stoppedAt),
    stopCode: t.stopCode,
    stoppedReason: t.stoppedReason,
    containers,
    attachments,
    overrides: { containerOverrides: t.overrides.containerOverrides, inferenceAcceleratorOverrides: [] },
    version: t.version,
    enableExecuteCommand: false,
    tags: includeTags ? tagsOut(t.tags) : undefined,
  });
}

/** `…:container-instance/<cluster>/<id>`, the ARN format of current ECS. */
export function containerInstanceArn(clusterArn: string, clusterName: string, id: string): string {
  return `${clusterArn.replace(/:cluster\/.*$/, ':container-instance')}/${clusterName}/${id}`;
}

/** `…:container/<cluster>/<taskId>/<uuid>` (docs/compatibility.md#protocol-and-identifiers). */
export function containerArn(t: TaskRecord, containerId: string): string {
  return `${t.clusterArn.replace(/:cluster\/.*$/, ':container')}/${t.clusterName}/${t.id}/${containerId}`;
}

function eniAttachment(t: TaskRecord): Record<string, unknown> {
  const stopped = t.lastStatus === 'STOPPED';
  const ip = t.privateIpv4Address;
  const details = [
    { name: 'subnetId', value: t.networkConfiguration?.awsvpcConfiguration.subnets[0] ?? 'subnet-pharos' },
    { name: 'networkInterfaceId', value: `eni-${t.id.slice(0, 17)}` },
    { name: 'macAddress', value: t.macAddress ?? '' },
  ];
  if (ip) {
    details.push({ name: 'privateDnsName', value: `ip-${ip.replaceAll('.', '-')}.ec2.internal` });
    details.push({ name: 'privateIPv4Address', value: ip });
  }
  return { id: t.attachmentId, type: 'ElasticNetworkInterface', status: stopped ? 'DELETED' : 'ATTACHED', details };
}
