import type { EcsApi } from '../api.ts';
import { invalidParameter, serviceNotActive, serviceNotFound } from '../errors.ts';
import { addServiceEvent } from '../factory.ts';
import { NAME_PATTERN, ecsKeys, serviceNameOf, type EcsServiceRecord, type TaskRecord } from '../model.ts';
import { serviceOut } from '../output.ts';
import { checkServiceRegistries, parseServiceRegistries } from '../registries.ts';
import { UNCHANGED } from '../state.ts';
import { arr, bool, int, obj, str, strings, type Json } from '../validate.ts';
import { checkNetworkConfiguration, includes, newDeployment, paginate, parseDeploymentConfiguration, parseNetworkConfiguration, parseTags } from './parse.ts';
import { parsePlacementConstraints, parsePlacementStrategy } from '../placement.ts';

/** Items per DescribeServices call (the ECS model's limit). */
const MAX_DESCRIBE_SERVICES = 10;

export async function CreateService(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const name = str(b, 'serviceName', { required: true, pattern: NAME_PATTERN, patternHelp: 'must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.' })!;
  const strategy = str(b, 'schedulingStrategy', { oneOf: ['REPLICA', 'DAEMON'] }) ?? 'REPLICA';
  if (strategy !== 'REPLICA') throw invalidParameter('Pharos supports only the REPLICA scheduling strategy.');
  const controller = obj(b, 'deploymentController');
  if (controller && (str(controller, 'deploymentController.type', { oneOf: ['ECS', 'CODE_DEPLOY', 'EXTERNAL'] }) ?? 'ECS') !== 'ECS') {
    throw invalidParameter('Pharos supports only the ECS deployment controller.');
  }
  if ((arr(b, 'loadBalancers') ?? []).length > 0) throw invalidParameter('Pharos does not support load balancers; use serviceRegistries.');
  const tdRef = str(b, 'taskDefinition', { required: true })!;
  const td = await ecs.requireTaskDefinition(tdRef, true);
  const desiredCount = int(b, 'desiredCount', { min: 0, max: 1000 });
  if (desiredCount === undefined) throw invalidParameter('desiredCount must be provided for the REPLICA scheduling strategy.');
  const launchType = ecs.launchType(b, td);
  const networkConfiguration = parseNetworkConfiguration(b, td);
  const serviceRegistries = parseServiceRegistries(b) ?? [];
  checkServiceRegistries(serviceRegistries, td, ecs.cloudMapService);
  const deploymentConfiguration = parseDeploymentConfiguration(b);
  const healthCheckGracePeriodSeconds = int(b, 'healthCheckGracePeriodSeconds', { min: 0, max: 2_147_483_647 }) ?? 0;
  const placementStrategy = parsePlacementStrategy(b);
  const placementConstraints = parsePlacementConstraints(b);
  const clientToken = str(b, 'clientToken', { max: 36 });
  const propagateTags = str(b, 'propagateTags', { oneOf: ['TASK_DEFINITION', 'SERVICE', 'NONE'] }) ?? 'NONE';
  const tags = parseTags(b);
  const now = ecs.clock.now();
  const deployment = newDeployment(td.arn, networkConfiguration, serviceRegistries, launchType, now);
  const fresh: EcsServiceRecord = {
    name,
    arn: ecs.arn(`service/${cluster.name}/${name}`),
    clusterName: cluster.name,
    clusterArn: cluster.arn,
    status: 'ACTIVE',
    desiredCount,
    taskDefinitionArn: td.arn,
    launchType,
    networkConfiguration,
    serviceRegistries,
    deploymentConfiguration,
    healthCheckGracePeriodSeconds,
    ...(placementStrategy ? { placementStrategy } : {}),
    ...(placementConstraints ? { placementConstraints } : {}),
    deployments: [deployment],
    events: [],
    createdAt: now,
    clientToken,
    tags,
    propagateTags,
    enableECSManagedTags: bool(b, 'enableECSManagedTags') ?? false,
    enableExecuteCommand: bool(b, 'enableExecuteCommand') ?? false,
  };
  const stored = await ecs.store.mutate<EcsServiceRecord>(ecsKeys.service(cluster.name, name), (cur) => {
    if (cur && cur.status !== 'INACTIVE') {
      // The same request retried with its client token gets the service it created.
      if (clientToken !== undefined && cur.clientToken === clientToken && cur.taskDefinitionArn === td.arn && cur.desiredCount === desiredCount) {
        return UNCHANGED;
      }
      throw invalidParameter('Creation of service was not idempotent.');
    }
    return fresh;
  });
  return { service: await ecs.serviceOutput(stored!, false) };
}

export async function UpdateService(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const name = serviceNameOf(str(b, 'service', { required: true, max: 2048 })!);
  const desiredCount = int(b, 'desiredCount', { min: 0, max: 1000 });
  const tdRef = str(b, 'taskDefinition');
  const forceNewDeployment = bool(b, 'forceNewDeployment') ?? false;
  const grace = int(b, 'healthCheckGracePeriodSeconds', { min: 0, max: 2_147_483_647 });
  const deploymentConfiguration = b['deploymentConfiguration'] !== undefined ? parseDeploymentConfiguration(b) : undefined;
  const placementStrategy = parsePlacementStrategy(b);
  const placementConstraints = parsePlacementConstraints(b);
  const current = (await ecs.store.get<EcsServiceRecord>(ecsKeys.service(cluster.name, name)))?.value;
  if (!current) throw serviceNotFound();
  if (current.status !== 'ACTIVE') throw serviceNotActive();
  const td = tdRef !== undefined ? await ecs.requireTaskDefinition(tdRef, true) : await ecs.requireTaskDefinition(current.taskDefinitionArn, false);
  const launchType = b['launchType'] !== undefined ? ecs.launchType(b, td) : current.launchType;
  const networkConfiguration = b['networkConfiguration'] !== undefined ? parseNetworkConfiguration(b, td) : current.networkConfiguration;
  if (b['networkConfiguration'] === undefined && tdRef !== undefined) checkNetworkConfiguration(networkConfiguration, td);
  const serviceRegistries = b['serviceRegistries'] !== undefined ? parseServiceRegistries(b) ?? [] : current.serviceRegistries;
  // Only what changes is checked: scaling a service whose Cloud Map service was since deleted
  // (for instance to 0, to clean up) must still work.
  if (b['serviceRegistries'] !== undefined || tdRef !== undefined) checkServiceRegistries(serviceRegistries, td, ecs.cloudMapService);
  const now = ecs.clock.now();
  const stored = await ecs.store.mutate<EcsServiceRecord>(ecsKeys.service(cluster.name, name), (cur) => {
    if (!cur) throw serviceNotFound();
    if (cur.status !== 'ACTIVE') throw serviceNotActive();
    const next: EcsServiceRecord = structuredClone(cur);
    if (desiredCount !== undefined) next.desiredCount = desiredCount;
    if (grace !== undefined) next.healthCheckGracePeriodSeconds = grace;
    if (deploymentConfiguration) next.deploymentConfiguration = deploymentConfiguration;
    // New placement rules apply to tasks placed from now on.
    if (placementStrategy) next.placementStrategy = placementStrategy;
    if (placementConstraints) next.placementConstraints = placementConstraints;
    const changed =
      td.arn !== cur.taskDefinitionArn ||
      launchType !== cur.launchType ||
      JSON.stringify(networkConfiguration) !== JSON.stringify(cur.networkConfiguration) ||
      JSON.stringify(serviceRegistries) !== JSON.stringify(cur.serviceRegistries);
    if (changed || forceNewDeployment) {
      // A new PRIMARY deployment; the old ones keep running until the rollout replaces them.
      const deployment = newDeployment(td.arn, networkConfiguration, serviceRegistries, launchType, now);
      for (const d of next.deployments) {
        if (d.status === 'PRIMARY') {
          d.status = 'ACTIVE';
          d.updatedAt = now;
        }
      }
      next.deployments = [deployment, ...next.deployments];
      next.taskDefinitionArn = td.arn;
      next.launchType = launchType;
      next.networkConfiguration = networkConfiguration;
      next.serviceRegistries = serviceRegistries;
      next.backoff = undefined;
    }
    return next;
  });
  return { service: await ecs.serviceOutput(stored!, false) };
}

export async function DescribeServices(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const refs = strings(b, 'services', { required: true, min: 1, max: MAX_DESCRIBE_SERVICES })!;
  const includeTags = includes(b, 'TAGS');
  const tasks = await ecs.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name));
  const services: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const name = serviceNameOf(ref);
    const rec = (await ecs.store.get<EcsServiceRecord>(ecsKeys.service(cluster.name, name)))?.value;
    if (rec) services.push(serviceOut(rec, tasks.filter((t) => t.serviceName === rec.name), includeTags));
    else failures.push({ arn: ref.startsWith('arn:') ? ref : ecs.arn(`service/${cluster.name}/${name}`), reason: 'MISSING' });
  }
  return { services, failures };
}

export async function ListServices(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const launchType = str(b, 'launchType', { oneOf: ['EC2', 'FARGATE', 'EXTERNAL'] });
  str(b, 'schedulingStrategy', { oneOf: ['REPLICA', 'DAEMON'] });
  const all = (await ecs.store.list<EcsServiceRecord>(ecsKeys.clusterServices(cluster.name))).filter(
    (s) => s.status !== 'INACTIVE' && (launchType === undefined || s.launchType === launchType),
  );
  const page = paginate(all.map((s) => ({ key: s.name, value: s.arn })), b);
  return { serviceArns: page.items, nextToken: page.nextToken };
}

export async function DeleteService(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const name = serviceNameOf(str(b, 'service', { required: true, max: 2048 })!);
  const force = bool(b, 'force') ?? false;
  const now = ecs.clock.now();
  const stored = await ecs.store.mutate<EcsServiceRecord>(ecsKeys.service(cluster.name, name), (cur) => {
    if (!cur) throw serviceNotFound();
    if (cur.status !== 'ACTIVE') return UNCHANGED;
    if (cur.desiredCount > 0 && !force) throw invalidParameter('The service cannot be stopped while it is scaled above 0.');
    const next: EcsServiceRecord = { ...cur, status: 'DRAINING', desiredCount: 0 };
    addServiceEvent(next, `(service ${cur.name}) is draining.`, now);
    return next;
  });
  if (stored!.status === 'INACTIVE') throw serviceNotFound();
  return { service: await ecs.serviceOutput(stored!, false) };
}
