import { isIP } from 'node:net';
import type { KeyValue } from '../../store/index.ts';
import type { EcsApi } from '../api.ts';
import { instanceIdOf } from '../containerinstances.ts';
import { clientException, invalidParameter } from '../errors.ts';
import { HEARTBEATS_PER_TIMEOUT } from '../liveness.ts';
import {
  ecsKeys,
  parseTaskDefinitionRef,
  statusRank,
  TASK_STATUSES,
  type ClusterRecord,
  type ContainerInstanceRecord,
  type NetworkBinding,
  type StopCode,
  type TaskDefinitionRecord,
  type TaskHealth,
  type TaskRecord,
  type TaskRegistration,
} from '../model.ts';
import { registryServiceId } from '../registries.ts';
import { UNCHANGED } from '../state.ts';
import { registryOfTask, type AgentCloudMapService } from '../tasksource.ts';
import { arr, int, isObject, str, strings, type Json } from '../validate.ts';

/**
 * The Pharos extension operations `pharos agent` calls (same ECS target and signing as the rest;
 * the agent never touches the store):
 *
 * - `PollAgentTasks` — heartbeat and long poll: the instance's task records changed since the
 *   agent's last revision (plus what it needs to run them: task definitions, Cloud Map settings).
 * - `SubmitAgentTaskState` — what the agent observed (status, containers, bindings, health,
 *   exits), compare-and-swap on the task's version; only observed fields are taken.
 * - `SubmitAgentTaskRegistration` — register, deregister or set the custom health of a task in
 *   Cloud Map, done by the server with its own records (never with attributes the agent made up).
 */

/** Longest long poll; the server also keeps it under a third of the agent timeout. */
const MAX_POLL_WAIT_MS = 20_000;
/** Heartbeats closer together than this are not written again (a busy agent polls often). */
const HEARTBEAT_WRITE_MS = 1000;
/** Task ids an agent may say it runs in one poll. */
const MAX_RUNNING_TASKS = 1000;
/** The stop codes an agent may set itself (the others belong to users and the scheduler). */
const AGENT_STOP_CODES: readonly StopCode[] = ['TaskFailedToStart', 'EssentialContainerExited', 'TerminationNotice'];
const HEALTH: readonly TaskHealth[] = ['HEALTHY', 'UNHEALTHY', 'UNKNOWN'];
const REASON_MAX = 1024;


export async function PollAgentTasks(ecs: EcsApi, b: Json): Promise<unknown> {
  const { cluster, instance } = await instanceOf(ecs, b);
  const known = int(b, 'knownRevision', { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? 0;
  const requested = int(b, 'waitSeconds', { min: 0, max: MAX_POLL_WAIT_MS / 1000 }) ?? MAX_POLL_WAIT_MS / 1000;
  const running = new Set(strings(b, 'runningTasks', { max: MAX_RUNNING_TASKS, itemMax: 64 }) ?? []);
  const heartbeatMs = Math.floor(ecs.agents.agentTimeoutMs / HEARTBEATS_PER_TIMEOUT);
  const waitMs = Math.min(requested * 1000, heartbeatMs);
  if (instance.status !== 'INACTIVE') await heartbeat(ecs, instance);

  const kv = ecs.store.kv;
  const prefix = ecsKeys.clusterTasks(cluster.name);
  const select = (items: KeyValue[]) =>
    items.filter((item) => item.modRevision > known).flatMap((item) => {
      const t = parseTask(item.value);
      if (!t || t.containerInstanceId !== instance.id) return [];
      return t.lastStatus !== 'STOPPED' || running.has(t.id) ? [t] : [];
    });
  let listed = await kv.list(prefix);
  let tasks = select(listed.items);
  if (tasks.length === 0 && waitMs > 0 && instance.status !== 'INACTIVE') {
    // Long poll: wait for any change under the cluster's tasks, then look again.
    await new Promise<void>((resolve) => {
      const timer = ecs.clock.setTimeout(done, waitMs);
      const watch = kv.watch(prefix, listed.revision, done, done);
      function done() {
        timer.cancel();
        watch.cancel();
        resolve();
      }
    });
    listed = await kv.list(prefix);
    tasks = select(listed.items);
  }
  const taskDefinitions: Record<string, TaskDefinitionRecord> = {};
  const registries: Record<string, unknown> = {};
  const services: Record<string, AgentCloudMapService> = {};
  for (const t of tasks) {
    if (t.lastStatus === 'STOPPED') continue;
    if (!(t.taskDefinitionArn in taskDefinitions)) {
      const td = await taskDefinition(ecs, t.taskDefinitionArn);
      if (td) taskDefinitions[t.taskDefinitionArn] = td;
    }
    const registry = await registryOfTask(ecs.store, t);
    if (!registry) continue;
    registries[t.id] = registry;
    const serviceId = registryServiceId(registry.registryArn);
    const registrar = ecs.agents.registrar;
    if (serviceId && registrar) {
      services[serviceId] = { customHealth: registrar.hasCustomHealth(serviceId), drainDelayMs: ecs.agents.drainDelayMs ?? registrar.drainDelayMs(serviceId) };
    }
  }
  return { revision: listed.revision, instanceStatus: instance.status, heartbeatSeconds: heartbeatMs / 1000, tasks, taskDefinitions, registries, services };
}

export async function SubmitAgentTaskState(ecs: EcsApi, b: Json): Promise<unknown> {
  const { cluster, instance } = await instanceOf(ecs, b);
  const id = str(b, 'task', { required: true, max: 64 })!;
  const expected = int(b, 'expectedVersion', { required: true, min: 0, max: Number.MAX_SAFE_INTEGER })!;
  const observed = b['record'];
  if (!isObject(observed)) throw invalidParameter('record must be an object.');
  let conflict = false;
  const stored = await ecs.store.mutate<TaskRecord>(ecsKeys.task(cluster.name, id), (cur) => {
    conflict = false;
    if (!cur) throw clientException('The referenced task was not found.');
    if (cur.containerInstanceId !== instance.id) throw clientException('The task is not placed on this container instance.');
    if (cur.version !== expected) {
      conflict = true;
      return UNCHANGED;
    }
    const next = mergeObserved(cur, observed);
    return next === cur ? UNCHANGED : next;
  });
  return { conflict, task: stored };
}

export async function SubmitAgentTaskRegistration(ecs: EcsApi, b: Json): Promise<unknown> {
  const { cluster, instance } = await instanceOf(ecs, b);
  const id = str(b, 'task', { required: true, max: 64 })!;
  const action = str(b, 'action', { required: true, oneOf: ['register', 'deregister', 'health'] })!;
  const registrar = ecs.agents.registrar;
  const key = ecsKeys.task(cluster.name, id);
  const task = (await ecs.store.get<TaskRecord>(key))?.value;
  if (!task) throw clientException('The referenced task was not found.');
  if (task.containerInstanceId !== instance.id) throw clientException('The task is not placed on this container instance.');
  if (!registrar) return { registration: null };
  const setRegistration = (registration: TaskRegistration | undefined) =>
    ecs.store.mutate<TaskRecord>(key, (cur) => {
      if (!cur) return UNCHANGED;
      return { ...cur, registration, version: cur.version + 1 };
    });
  if (action === 'deregister') {
    const serviceId = task.registration?.serviceId ?? registryServiceId((await registryOfTask(ecs.store, task))?.registryArn ?? '');
    if (serviceId) await registrar.deregister(task.id, { serviceId });
    if (task.registration) await setRegistration(undefined);
    return { registration: null };
  }
  if (action === 'health') {
    const status = str(b, 'status', { required: true, oneOf: ['HEALTHY', 'UNHEALTHY'] }) as 'HEALTHY' | 'UNHEALTHY';
    if (!task.registration) throw clientException('The task is not registered.');
    const next = await registrar.setCustomHealth(task.id, task.registration, status);
    if (next !== task.registration) await setRegistration(next);
    return { registration: next };
  }
  // register: only a task the server still wants running, with the server's own records.
  if (task.lastStatus !== 'RUNNING' || task.desiredStatus !== 'RUNNING') throw clientException(`The task is ${task.lastStatus} (desired ${task.desiredStatus}); only running tasks are registered.`);
  const registry = await registryOfTask(ecs.store, task);
  const td = await taskDefinition(ecs, task.taskDefinitionArn);
  if (!registry || !td) throw clientException('The task has no Cloud Map registry.');
  const registration = await registrar.register(task, registry, td);
  const after = await setRegistration(registration);
  if (!after || after.lastStatus === 'STOPPED' || after.desiredStatus !== 'RUNNING') {
    // Stopped (a lost-instance heal, StopTask) while it was registering: take it out again.
    await registrar.deregister(task.id, registration);
    throw clientException('The task was stopped while it was being registered.');
  }
  return { registration };
}

async function instanceOf(ecs: EcsApi, b: Json): Promise<{ cluster: ClusterRecord; instance: ContainerInstanceRecord }> {
  const cluster = await ecs.requireCluster(str(b, 'cluster'));
  const id = instanceIdOf(str(b, 'containerInstance', { required: true, max: 2048 })!);
  const instance = id === undefined ? undefined : (await ecs.store.get<ContainerInstanceRecord>(ecsKeys.instance(cluster.name, id)))?.value;
  if (!instance) throw clientException('The referenced container instance was not found; register it with RegisterContainerInstance.');
  return { cluster, instance };
}

async function heartbeat(ecs: EcsApi, instance: ContainerInstanceRecord): Promise<void> {
  const now = ecs.clock.now();
  if (instance.agentConnected && now - instance.lastHeartbeatAt < HEARTBEAT_WRITE_MS) return;
  await ecs.store.mutate<ContainerInstanceRecord>(ecsKeys.instance(instance.clusterName, instance.id), (cur) => {
    if (!cur || cur.status === 'INACTIVE') return UNCHANGED;
    if (!cur.agentConnected) ecs.agents.logger.info({ instance: cur.id }, 'container instance agent reconnected');
    return { ...cur, lastHeartbeatAt: now, agentConnected: true, version: cur.agentConnected ? cur.version : cur.version + 1 };
  });
}

async function taskDefinition(ecs: EcsApi, arn: string): Promise<TaskDefinitionRecord | undefined> {
  const ref = parseTaskDefinitionRef(arn);
  if (!ref || ref.revision === undefined) return undefined;
  return (await ecs.store.get<TaskDefinitionRecord>(ecsKeys.taskDefinition(ref.family, ref.revision)))?.value;
}

/**
 * The stored task with what an agent observed, field by field, each checked (the agent's body is
 * untrusted like any request). Never leaves STOPPED, never moves back in the lifecycle, never
 * turns a stop back into a run; registration belongs to the server. Returns `cur` when nothing changes.
 */
function mergeObserved(cur: TaskRecord, o: Json): TaskRecord {
  if (cur.lastStatus === 'STOPPED') return cur;
  const next = structuredClone(cur);
  const lastStatus = str(o, 'record.lastStatus', { oneOf: TASK_STATUSES });
  if (lastStatus !== undefined && statusRank(lastStatus as TaskRecord['lastStatus']) >= statusRank(cur.lastStatus)) next.lastStatus = lastStatus as TaskRecord['lastStatus'];
  if (str(o, 'record.desiredStatus', { oneOf: ['RUNNING', 'STOPPED'] }) === 'STOPPED' && cur.desiredStatus === 'RUNNING') {
    const code = str(o, 'record.stopCode', { required: true, oneOf: AGENT_STOP_CODES }) as StopCode;
    next.desiredStatus = 'STOPPED';
    next.stopCode = code;
    next.stoppedReason = (str(o, 'record.stoppedReason') ?? code).slice(0, REASON_MAX);
  }
  const health = str(o, 'record.healthStatus', { oneOf: HEALTH });
  if (health !== undefined) next.healthStatus = health as TaskHealth;
  for (const k of ['pullStartedAt', 'pullStoppedAt', 'startedAt', 'healthChangedAt', 'stoppingAt', 'executionStoppedAt', 'stoppedAt'] as const) {
    const v = int(o, `record.${k}`, { min: 0, max: Number.MAX_SAFE_INTEGER });
    if (v !== undefined) next[k] = v;
  }
  const ip = str(o, 'record.privateIpv4Address', { max: 15 });
  if (ip !== undefined) {
    if (isIP(ip) !== 4) throw invalidParameter('record.privateIpv4Address must be an IPv4 address.');
    next.privateIpv4Address = ip;
  }
  const mac = str(o, 'record.macAddress', { max: 17, pattern: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, patternHelp: 'must be a MAC address.' });
  if (mac !== undefined) next.macAddress = mac;
  for (const [i, raw] of (arr(o, 'record.containers', { max: 64 }) ?? []).entries()) {
    if (!isObject(raw)) throw invalidParameter(`record.containers[${i}] must be an object.`);
    const p = `record.containers[${i}]`;
    const c = next.containers.find((x) => x.name === raw['name']);
    if (!c) continue;
    const status = str(raw, `${p}.lastStatus`, { oneOf: ['PENDING', 'RUNNING', 'STOPPED'] });
    if (status !== undefined) c.lastStatus = status as typeof c.lastStatus;
    const exitCode = int(raw, `${p}.exitCode`, { min: -2_147_483_648, max: 2_147_483_647 });
    if (exitCode !== undefined) c.exitCode = exitCode;
    const reason = str(raw, `${p}.reason`);
    if (reason !== undefined) c.reason = reason.slice(0, REASON_MAX);
    const h = str(raw, `${p}.healthStatus`, { oneOf: HEALTH });
    if (h !== undefined) c.healthStatus = h as TaskHealth;
    const bindings = arr(raw, `${p}.networkBindings`, { max: 256 });
    if (bindings !== undefined) c.networkBindings = bindings.map((nb, j) => binding(nb, `${p}.networkBindings[${j}]`));
  }
  return JSON.stringify(next) === JSON.stringify(cur) ? cur : { ...next, version: cur.version + 1 };
}

function binding(raw: unknown, p: string): NetworkBinding {
  if (!isObject(raw)) throw invalidParameter(`${p} must be an object.`);
  return {
    bindIP: str(raw, `${p}.bindIP`, { required: true, max: 45 })!,
    containerPort: int(raw, `${p}.containerPort`, { required: true, min: 0, max: 65535 })!,
    hostPort: int(raw, `${p}.hostPort`, { required: true, min: 0, max: 65535 })!,
    protocol: str(raw, `${p}.protocol`, { required: true, oneOf: ['tcp', 'udp'] }) as 'tcp' | 'udp',
  };
}

function parseTask(text: string): TaskRecord | undefined {
  try {
    return JSON.parse(text) as TaskRecord;
  } catch {
    return undefined;
  }
}
