import type { EcsApi } from '../api.ts';
import { clientException, invalidParameter } from '../errors.ts';
import { ecsKeys, type ClusterRecord, type ContainerInstanceRecord, type TaskRecord } from '../model.ts';
import { containerInstanceArn } from '../output.ts';
import { compileExpression } from '../placement.ts';
import { UNCHANGED } from '../state.ts';
import { bool, str, strings, type Json } from '../validate.ts';
import {
  AGENT_VERSION,
  containerInstanceOut,
  defaultAttributes,
  instanceIdOf,
  mergeAttributes,
  parseAttributes,
  parseIdentityDocument,
  parseResources,
  optionalObject,
} from '../containerinstances.ts';
import { newTaskId } from '../../lib/index.ts';
import { paginate } from './parse.ts';

/** Container instances per Describe/UpdateState call (the ECS model's limits). */
const MAX_DESCRIBE_INSTANCES = 100;
const MAX_UPDATE_INSTANCES = 10;

/*
 * The ECS container instance operations: RegisterContainerInstance (what `pharos agent` calls at
 * start; also the ECS agent's call), List/Describe, UpdateContainerInstancesState (ACTIVE <->
 * DRAINING) and DeregisterContainerInstance. They only record state; the scheduler moves tasks off
 * DRAINING instances and the instance monitor heals tasks of lost or deregistered ones.
 */

export async function RegisterContainerInstance(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const identity = parseIdentityDocument(str(b, 'instanceIdentityDocument', { max: 4096 }));
  const resources = parseResources(b);
  const attributes = parseAttributes(b, 'attributes');
  const existingRef = str(b, 'containerInstanceArn', { max: 2048 });
  const advertiseAddress = str(b, 'advertiseAddress', { max: 255 });
  const agentVersion = str(optionalObject(b, 'versionInfo'), 'versionInfo.agentVersion', { max: 255 }) ?? AGENT_VERSION;
  const now = ecs.clock.now();
  const az = identity.availabilityZone ?? attributes.find((a) => a.name === 'ecs.availability-zone')?.value ?? ecs.availabilityZone;
  let id = newTaskId();
  if (existingRef !== undefined) {
    const known = instanceIdOf(existingRef);
    if (!known) throw invalidParameter('containerInstanceArn is not a container instance ARN or id.');
    id = known;
  }
  const record = await ecs.store.mutate<ContainerInstanceRecord>(ecsKeys.instance(cluster.name, id), (cur) => {
    // Re-registration (an agent restarted with its saved ARN) keeps the identity and status.
    if (existingRef !== undefined && (!cur || cur.status === 'INACTIVE')) throw clientException('The referenced container instance is not registered (deregistered or unknown); register without containerInstanceArn.');
    return {
      id,
      arn: containerInstanceArn(cluster.arn, cluster.name, id),
      clusterName: cluster.name,
      node: id,
      ec2InstanceId: identity.instanceId ?? `i-${id.slice(0, 17)}`,
      builtin: false,
      status: cur?.status ?? 'ACTIVE',
      agentConnected: true,
      lastHeartbeatAt: now,
      registeredAt: cur?.registeredAt ?? now,
      cpu: resources.cpu ?? cur?.cpu ?? 0,
      memory: resources.memory ?? cur?.memory ?? 0,
      attributes: mergeAttributes(defaultAttributes(az), attributes),
      ...(advertiseAddress !== undefined ? { advertiseAddress } : {}),
      agentVersion,
      version: (cur?.version ?? 0) + 1,
    };
  });
  return { containerInstance: await output(ecs, record!) };
}

export async function ListContainerInstances(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const status = str(b, 'status', { oneOf: ['ACTIVE', 'DRAINING', 'REGISTERING', 'DEREGISTERING', 'REGISTRATION_FAILED'] });
  const filter = str(b, 'filter', { max: 2000 });
  const matches = filter === undefined ? () => true : compileExpression(filter);
  const all = (await ecs.store.list<ContainerInstanceRecord>(ecsKeys.clusterInstances(cluster.name))).filter(
    (i) => i.status !== 'INACTIVE' && (status === undefined || i.status === status) && matches(i),
  );
  const page = paginate(all.map((i) => ({ key: i.id, value: i.arn })), b);
  return { containerInstanceArns: page.items, nextToken: page.nextToken };
}

export async function DescribeContainerInstances(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const refs = strings(b, 'containerInstances', { required: true, min: 1, max: MAX_DESCRIBE_INSTANCES })!;
  const tasks = await ecs.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name));
  const containerInstances: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const rec = await find(ecs, cluster, ref);
    if (rec) containerInstances.push(containerInstanceOut(rec, tasks));
    else failures.push({ arn: ref, reason: 'MISSING' });
  }
  return { containerInstances, failures };
}

export async function UpdateContainerInstancesState(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const refs = strings(b, 'containerInstances', { required: true, min: 1, max: MAX_UPDATE_INSTANCES })!;
  const status = str(b, 'status', { required: true, oneOf: ['ACTIVE', 'DRAINING'] }) as 'ACTIVE' | 'DRAINING';
  const containerInstances: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const rec = await find(ecs, cluster, ref);
    if (!rec) {
      failures.push({ arn: ref, reason: 'MISSING' });
      continue;
    }
    const updated = await ecs.store.mutate<ContainerInstanceRecord>(ecsKeys.instance(cluster.name, rec.id), (cur) => {
      if (!cur || cur.status === 'INACTIVE' || cur.status === status) return UNCHANGED;
      return { ...cur, status, version: cur.version + 1 };
    });
    containerInstances.push(await output(ecs, updated ?? rec));
  }
  return { containerInstances, failures };
}

export async function DeregisterContainerInstance(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const ref = str(b, 'containerInstance', { required: true, max: 2048 })!;
  const force = bool(b, 'force') ?? false;
  const rec = await find(ecs, cluster, ref);
  if (!rec) throw clientException('The referenced container instance was not found.');
  const tasks = await ecs.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name));
  if (!force && tasks.some((t) => t.containerInstanceId === rec.id && t.lastStatus !== 'STOPPED')) {
    throw invalidParameter('The container instance has tasks that are not stopped; stop them first or use force (they are then stopped and replaced elsewhere).');
  }
  const updated = await ecs.store.mutate<ContainerInstanceRecord>(ecsKeys.instance(cluster.name, rec.id), (cur) => {
    if (!cur || cur.status === 'INACTIVE') return UNCHANGED;
    return { ...cur, status: 'INACTIVE', agentConnected: false, version: cur.version + 1 };
  });
  return { containerInstance: containerInstanceOut(updated ?? rec, tasks) };
}

async function find(ecs: EcsApi, cluster: ClusterRecord, ref: string): Promise<ContainerInstanceRecord | undefined> {
  const id = instanceIdOf(ref);
  if (id === undefined) return undefined;
  const rec = (await ecs.store.get<ContainerInstanceRecord>(ecsKeys.instance(cluster.name, id)))?.value;
  return rec && rec.status !== 'INACTIVE' ? rec : undefined;
}

async function output(ecs: EcsApi, rec: ContainerInstanceRecord): Promise<Record<string, unknown>> {
  return containerInstanceOut(rec, await ecs.store.list<TaskRecord>(ecsKeys.clusterTasks(rec.clusterName)));
}
