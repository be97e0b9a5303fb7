import { randomInt, randomUUID } from 'node:crypto';
import { newTaskId } from '../lib/index.ts';
import type {
  ContainerOverride,
  EcsServiceRecord,
  EcsTag,
  LaunchType,
  NetworkConfiguration,
  ServiceEvent,
  TaskDefinitionRecord,
  TaskRecord,
} from './model.ts';

/** Events kept per service, newest first (ECS shows the last 100). */
export const MAX_SERVICE_EVENTS = 100;

/** `ecs-svc/` + 19 digits, the ECS deployment id format (docs/compatibility.md#protocol-and-identifiers). */
export function newDeploymentId(): string {
  let digits = String(randomInt(1, 10));
  while (digits.length < 19) digits += String(randomInt(0, 10));
  return `ecs-svc/${digits}`;
}

interface NewTaskParams {
  clusterName: string;
  clusterArn: string;
  taskDefinition: TaskDefinitionRecord;
  launchType: LaunchType;
  networkConfiguration?: NetworkConfiguration;
  availabilityZone: string;
  group: string;
  startedBy?: string;
  serviceName?: string;
  deploymentId?: string;
  overrides?: ContainerOverride[];
  tags?: EcsTag[];
  now: number;
}

/** A new task record in PROVISIONING with desired status RUNNING; a task supervisor picks it up. */
export function newTask(p: NewTaskParams): TaskRecord {
  const id = newTaskId();
  const arnPrefix = p.clusterArn.replace(/:cluster\/.*$/, '');
  const task: TaskRecord = {
    id,
    arn: `${arnPrefix}:task/${p.clusterName}/${id}`,
    clusterName: p.clusterName,
    clusterArn: p.clusterArn,
    taskDefinitionArn: p.taskDefinition.arn,
    family: p.taskDefinition.family,
    group: p.group,
    launchType: p.launchType,
    networkMode: p.taskDefinition.networkMode,
    availabilityZone: p.availabilityZone,
    lastStatus: 'PROVISIONING',
    desiredStatus: 'RUNNING',
    healthStatus: 'UNKNOWN',
    overrides: { containerOverrides: p.overrides ?? [] },
    containers: p.taskDefinition.containerDefinitions.map((c) => ({
      name: c.name,
      id: randomUUID(),
      image: c.image,
      essential: c.essential,
      lastStatus: 'PENDING',
      healthStatus: 'UNKNOWN',
      hasHealthCheck: c.healthCheck !== undefined && c.healthCheck.command[0] !== 'NONE',
      networkBindings: [],
    })),
    createdAt: p.now,
    version: 1,
    tags: p.tags ?? [],
  };
  if (p.taskDefinition.cpu !== undefined) task.cpu = p.taskDefinition.cpu;
  if (p.taskDefinition.memory !== undefined) task.memory = p.taskDefinition.memory;
  if (p.networkConfiguration) task.networkConfiguration = p.networkConfiguration;
  if (p.startedBy !== undefined) task.startedBy = p.startedBy;
  if (p.serviceName !== undefined) task.serviceName = p.serviceName;
  if (p.deploymentId !== undefined) task.deploymentId = p.deploymentId;
  if (p.networkConfiguration || p.taskDefinition.networkMode === 'awsvpc') {
    task.attachmentId = randomUUID();
  }
  return task;
}

/** Adds an event to a service record (newest first, capped). */
export function addServiceEvent(service: EcsServiceRecord, message: string, now: number): void {
  const event: ServiceEvent = { id: randomUUID(), createdAt: now, message };
  service.events = [event, ...service.events].slice(0, MAX_SERVICE_EVENTS);
}
