import type { EcsApi } from '../api.ts';
import { invalidParameter, serviceNotFound } from '../errors.ts';
import { newTask } from '../factory.ts';
import { ecsKeys, serviceNameOf, taskIdOf, type EcsServiceRecord, type TaskRecord } from '../model.ts';
import { taskOut } from '../output.ts';
import { UNCHANGED } from '../state.ts';
import { int, str, strings, type Json } from '../validate.ts';
import { instanceIdOf } from '../containerinstances.ts';
import { includes, paginate, parseNetworkConfiguration, parseOverrides, parseTags } from './parse.ts';
import {
  assignInstance,
  compileConstraints,
  DEFAULT_RUN_TASK_STRATEGY,
  loadPicture,
  needsOf,
  parsePlacementConstraints,
  parsePlacementStrategy,
  place,
  reserve,
  taskDefinitionConstraints,
} from '../placement.ts';

/** Items per DescribeTasks call (the ECS model's limit). */
const MAX_DESCRIBE_TASKS = 100;
/** RunTask `count` upper bound (the ECS model's). */
const MAX_RUN_TASK_COUNT = 10;
/** Log lines GetTaskLogs returns by default and at most. */
const DEFAULT_LOG_LINES = 200;
const MAX_LOG_LINES = 1000;

export async function RunTask(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const td = await ecs.requireTaskDefinition(str(b, 'taskDefinition', { required: true })!, false);
  const count = int(b, 'count', { min: 1, max: MAX_RUN_TASK_COUNT }) ?? 1;
  const launchType = ecs.launchType(b, td);
  const networkConfiguration = parseNetworkConfiguration(b, td);
  const startedBy = str(b, 'startedBy', { max: 128 });
  const group = str(b, 'group', { max: 255 }) ?? `family:${td.family}`;
  str(b, 'clientToken', { max: 64 });
  const overrides = parseOverrides(b, td);
  const tags = parseTags(b);
  const strategy = parsePlacementStrategy(b) ?? DEFAULT_RUN_TASK_STRATEGY;
  const constraints = compileConstraints([...(parsePlacementConstraints(b) ?? []), ...taskDefinitionConstraints(td)]);
  const picture = await loadPicture(ecs.store, cluster.name, (arn) => ecs.findTaskDefinition(arn));
  if (picture.candidates.length === 0) throw invalidParameter('No Container Instances were found in your cluster.');
  const needs = needsOf(td, group);
  const now = ecs.clock.now();
  const tasks: unknown[] = [];
  const failures: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const decision = place(needs, picture.candidates, strategy, constraints);
    if (!decision.ok) {
      failures.push(decision.failure);
      continue;
    }
    reserve(decision.candidate, needs);
    const task = newTask({
      clusterName: cluster.name,
      clusterArn: cluster.arn,
      taskDefinition: td,
      launchType,
      networkConfiguration,
      availabilityZone: ecs.availabilityZone,
      group,
      startedBy,
      overrides,
      tags,
      now,
    });
    assignInstance(task, decision.candidate.instance);
    await ecs.store.create(ecsKeys.task(cluster.name, task.id), task);
    tasks.push(taskOut(task, false));
  }
  return { tasks, failures };
}

export async function StopTask(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const id = taskIdOf(str(b, 'task', { required: true, max: 2048 })!);
  const reason = str(b, 'reason', { max: 255 }) ?? 'Task stopped by user';
  const now = ecs.clock.now();
  const task = await ecs.store.mutate<TaskRecord>(ecsKeys.task(cluster.name, id ?? '-'), (cur) => {
    if (!cur) throw invalidParameter('The referenced task was not found.');
    if (cur.desiredStatus === 'STOPPED') return UNCHANGED;
    return { ...cur, desiredStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: reason, stoppingAt: now, version: cur.version + 1 };
  });
  return { task: taskOut(task!, false) };
}

export async function ListTasks(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const family = str(b, 'family', { max: 255 });
  const startedBy = str(b, 'startedBy', { max: 128 });
  const serviceRef = str(b, 'serviceName', { max: 2048 });
  const instanceRef = str(b, 'containerInstance', { max: 2048 });
  // An id that cannot be one matches no task (ECS answers an empty list too).
  const instanceId = instanceRef === undefined ? undefined : (instanceIdOf(instanceRef) ?? '-');
  const desiredStatus = str(b, 'desiredStatus', { oneOf: ['RUNNING', 'PENDING', 'STOPPED'] }) ?? 'RUNNING';
  const launchType = str(b, 'launchType', { oneOf: ['EC2', 'FARGATE', 'EXTERNAL'] });
  if (startedBy !== undefined && (family !== undefined || serviceRef !== undefined)) {
    throw invalidParameter('startedBy cannot be combined with family or serviceName.');
  }
  let serviceName: string | undefined;
  if (serviceRef !== undefined) {
    serviceName = serviceNameOf(serviceRef);
    const svc = (await ecs.store.get<EcsServiceRecord>(ecsKeys.service(cluster.name, serviceName)))?.value;
    if (!svc) throw serviceNotFound();
  }
  const tasks = (await ecs.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name))).filter((t) => {
    if (family !== undefined && t.family !== family) return false;
    if (startedBy !== undefined && t.startedBy !== startedBy) return false;
    if (serviceName !== undefined && t.serviceName !== serviceName) return false;
    if (launchType !== undefined && t.launchType !== launchType) return false;
    if (instanceId !== undefined && t.containerInstanceId !== instanceId) return false;
    if (desiredStatus === 'STOPPED') return t.desiredStatus === 'STOPPED';
    if (desiredStatus === 'PENDING') return t.desiredStatus === 'RUNNING' && t.lastStatus !== 'RUNNING' && t.lastStatus !== 'STOPPED';
    return t.desiredStatus === 'RUNNING';
  });
  const page = paginate(tasks.map((t) => ({ key: t.id, value: t.arn })), b);
  return { taskArns: page.items, nextToken: page.nextToken };
}

export async function DescribeTasks(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const refs = strings(b, 'tasks', { required: true, min: 1, max: MAX_DESCRIBE_TASKS })!;
  const includeTags = includes(b, 'TAGS');
  const tasks: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    const id = taskIdOf(ref);
    const rec = id === undefined ? undefined : (await ecs.store.get<TaskRecord>(ecsKeys.task(cluster.name, id)))?.value;
    if (rec) tasks.push(taskOut(rec, includeTags));
    else failures.push({ arn: ref.startsWith('arn:') ? ref : ecs.arn(`task/${cluster.name}/${ref}`), reason: 'MISSING' });
  }
  return { tasks, failures };
}

/**
 * Pharos extension (not in the ECS model): a task's captured stdout/stderr, oldest first.
 * Input `{cluster?, task, container?, limit?}`; output `{events: [{timestamp, container, stream, message}]}`.
 */
export async function GetTaskLogs(ecs: EcsApi, b: Json): Promise<unknown> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const id = taskIdOf(str(b, 'task', { required: true, max: 2048 })!);
  const container = str(b, 'container', { max: 255 });
  const limit = int(b, 'limit', { min: 1, max: MAX_LOG_LINES }) ?? DEFAULT_LOG_LINES;
  const task = id === undefined ? undefined : (await ecs.store.get<TaskRecord>(ecsKeys.task(cluster.name, id)))?.value;
  if (!task) throw invalidParameter('The referenced task was not found.');
  const lines = ecs.taskLogs?.(task.id, container) ?? [];
  return {
    events: lines.slice(-limit).map((l) => ({ timestamp: l.at / 1000, container: l.container, stream: l.stream, message: l.line })),
  };
}
