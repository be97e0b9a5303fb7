/**
 * The ECS records the orchestrator keeps in the store, and their keys. Pharos's own shapes; the
 * ECS wire shapes are built from them in `output.ts`. Every record is JSON under one key:
 *
 *   /ecs/cluster/<name>                          ClusterRecord
 *   /ecs/taskdef/<family>/<revision, 10 digits>  TaskDefinitionRecord
 *   /ecs/service/<cluster>/<name>                EcsServiceRecord (the desired state)
 *   /ecs/task/<cluster>/<taskId>                 TaskRecord (desired + observed state)
 *   /ecs/instance/<cluster>/<instanceId>         ContainerInstanceRecord (an agent, or a server's built-in instance)
 *
 * Writers: the API writes clusters, task definitions, services and new tasks; the scheduler writes
 * services' deployments and new/stopping tasks; the task supervisor writes observed task state.
 * Every update is compare-and-swap on the key's revision (`EcsStore.mutate`).
 */
import { parseArn } from '../lib/index.ts';

export type NetworkMode = 'bridge' | 'host' | 'awsvpc' | 'none';
export type LaunchType = 'EC2' | 'FARGATE' | 'EXTERNAL';
export type TaskHealth = 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';

/** ECS task lifecycle (docs/compatibility.md#ecs-operations), in order. */
export const TASK_STATUSES = [
  'PROVISIONING',
  'PENDING',
  'ACTIVATING',
  'RUNNING',
  'DEACTIVATING',
  'STOPPING',
  'DEPROVISIONING',
  'STOPPED',
] as const;
type TaskStatus = (typeof TASK_STATUSES)[number];

export type StopCode = 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated' | 'ServiceSchedulerInitiated' | 'TerminationNotice';

export interface KeyValuePair {
  name: string;
  value: string;
}
export interface EcsTag {
  key: string;
  value: string;
}

export interface ClusterRecord {
  name: string;
  arn: string;
  status: 'ACTIVE' | 'INACTIVE';
  createdAt: number;
  tags: EcsTag[];
  settings: KeyValuePair[];
}

export interface PortMapping {
  containerPort: number;
  hostPort: number;
  protocol: 'tcp' | 'udp';
  name?: string;
  appProtocol?: string;
}

export interface ContainerHealthCheck {
  command: string[];
  interval: number;
  timeout: number;
  retries: number;
  startPeriod?: number;
}

/** A container definition as stored (validated fields typed; everything else echoed back as given). */
export interface ContainerDefinition {
  name: string;
  image: string;
  command?: string[];
  entryPoint?: string[];
  environment: KeyValuePair[];
  workingDir?: string;
  /** Who the container runs as (`user`, `uid`, `user:group`, `uid:gid`). */
  user?: string;
  portMappings: PortMapping[];
  essential: boolean;
  healthCheck?: ContainerHealthCheck;
  /** Seconds between SIGTERM and SIGKILL. */
  stopTimeout?: number;
  cpu: number;
  memory?: number;
  memoryReservation?: number;
  [other: string]: unknown;
}

export interface TaskDefinitionRecord {
  arn: string;
  family: string;
  revision: number;
  status: 'ACTIVE' | 'INACTIVE';
  networkMode: NetworkMode;
  containerDefinitions: ContainerDefinition[];
  requiresCompatibilities?: string[];
  compatibilities: string[];
  cpu?: string;
  memory?: string;
  taskRoleArn?: string;
  executionRoleArn?: string;
  registeredAt: number;
  deregisteredAt?: number;
  tags: EcsTag[];
  /** Fields Pharos does not interpret (volumes, placementConstraints, ...), echoed back. */
  extra: Record<string, unknown>;
}

interface AwsVpcConfiguration {
  subnets: string[];
  securityGroups?: string[];
  assignPublicIp?: 'ENABLED' | 'DISABLED';
}
export interface NetworkConfiguration {
  awsvpcConfiguration: AwsVpcConfiguration;
}

export interface ServiceRegistry {
  registryArn: string;
  port?: number;
  containerName?: string;
  containerPort?: number;
}

export interface DeploymentConfiguration {
  maximumPercent: number;
  minimumHealthyPercent: number;
  deploymentCircuitBreaker: { enable: boolean; rollback: boolean };
}

type DeploymentStatus = 'PRIMARY' | 'ACTIVE' | 'INACTIVE';
type RolloutState = 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';

export interface DeploymentRecord {
  /** `ecs-svc/` + 19 digits (docs/compatibility.md#protocol-and-identifiers). */
  id: string;
  status: DeploymentStatus;
  taskDefinitionArn: string;
  networkConfiguration?: NetworkConfiguration;
  serviceRegistries: ServiceRegistry[];
  launchType: LaunchType;
  rolloutState: RolloutState;
  rolloutStateReason: string;
  failedTasks: number;
  createdAt: number;
  updatedAt: number;
}

export interface ServiceEvent {
  id: string;
  createdAt: number;
  message: string;
}

export interface EcsServiceRecord {
  name: string;
  arn: string;
  clusterName: string;
  clusterArn: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  desiredCount: number;
  taskDefinitionArn: string;
  launchType: LaunchType;
  networkConfiguration?: NetworkConfiguration;
  serviceRegistries: ServiceRegistry[];
  deploymentConfiguration: DeploymentConfiguration;
  healthCheckGracePeriodSeconds: number;
  placementStrategy?: PlacementStrategy[];
  placementConstraints?: PlacementConstraint[];
  /** Newest first; the PRIMARY one is the target of the rollout. */
  deployments: DeploymentRecord[];
  /** Newest first, capped (MAX_SERVICE_EVENTS). */
  events: ServiceEvent[];
  createdAt: number;
  clientToken?: string;
  tags: EcsTag[];
  propagateTags: string;
  enableECSManagedTags: boolean;
  enableExecuteCommand: boolean;
  /**
   * Scheduler bookkeeping: consecutive failed starts and when the next start may happen, so a
   * service whose tasks cannot start backs off instead of spinning.
   */
  backoff?: { failures: number; notBefore: number };
  /** `stoppedAt` of the newest failed task already counted into `backoff` (so none is counted twice). */
  failuresCountedUntil?: number;
}

export interface ContainerOverride {
  name: string;
  command?: string[];
  environment?: KeyValuePair[];
}

export interface NetworkBinding {
  bindIP: string;
  containerPort: number;
  hostPort: number;
  protocol: 'tcp' | 'udp';
}

export interface ContainerState {
  name: string;
  /** The uuid of the container ARN. */
  id: string;
  image: string;
  essential: boolean;
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED';
  exitCode?: number;
  reason?: string;
  healthStatus: TaskHealth;
  /** Whether the task definition gives this container a health check (else it stays UNKNOWN). */
  hasHealthCheck: boolean;
  networkBindings: NetworkBinding[];
  /** Container runtime: the engine's container id and the image's digest (DescribeTasks `runtimeId`, `imageDigest`). */
  runtimeId?: string;
  imageDigest?: string;
}

/** Where a service task is registered in Cloud Map (set once registration succeeded). */
export interface TaskRegistration {
  serviceId: string;
  /** The custom health status last sent, when the Cloud Map service has HealthCheckCustomConfig. */
  customHealth?: 'HEALTHY' | 'UNHEALTHY';
}

export interface TaskRecord {
  id: string;
  arn: string;
  clusterName: string;
  clusterArn: string;
  taskDefinitionArn: string;
  family: string;
  group: string;
  startedBy?: string;
  /** Set for service tasks. */
  serviceName?: string;
  deploymentId?: string;
  launchType: LaunchType;
  networkMode: NetworkMode;
  networkConfiguration?: NetworkConfiguration;
  availabilityZone: string;
  lastStatus: TaskStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  healthStatus: TaskHealth;
  cpu?: string;
  memory?: string;
  overrides: { containerOverrides: ContainerOverride[] };
  containers: ContainerState[];
  createdAt: number;
  pullStartedAt?: number;
  pullStoppedAt?: number;
  startedAt?: number;
  /** When the task last turned HEALTHY/UNHEALTHY (the scheduler's grace period starts at startedAt). */
  healthChangedAt?: number;
  stoppingAt?: number;
  executionStoppedAt?: number;
  stoppedAt?: number;
  stopCode?: StopCode;
  stoppedReason?: string;
  /** The task's own address (awsvpc) or the host's advertise address. */
  privateIpv4Address?: string;
  attachmentId?: string;
  macAddress?: string;
  /** The node whose supervisor runs the task (the placed container instance's `node`); unset while unplaced. */
  node?: string;
  /** The container instance the scheduler placed the task on (its id); unset while unplaced. */
  containerInstanceId?: string;
  registration?: TaskRegistration;
  version: number;
  tags: EcsTag[];
}

/** A task placement rule (`placementStrategy` of CreateService and RunTask). */
export interface PlacementStrategy {
  type: 'random' | 'spread' | 'binpack';
  field?: string;
}
/** A task placement constraint (`placementConstraints`). */
export interface PlacementConstraint {
  type: 'distinctInstance' | 'memberOf';
  expression?: string;
}

export interface InstanceAttribute {
  name: string;
  value?: string;
}

/**
 * An ECS container instance: a `pharos agent` on a worker host, or a server's built-in instance
 * (one per cluster, `builtin: true`). Tasks placed on it carry its `node` and id.
 */
export interface ContainerInstanceRecord {
  /** 32 hex digits, the last part of the ARN. */
  id: string;
  arn: string;
  clusterName: string;
  /** Names the supervisor that runs the instance's tasks (`task.node`). */
  node: string;
  /** ECS shows an EC2 instance id; Pharos shows the host name the agent gave. */
  ec2InstanceId: string;
  builtin: boolean;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  agentConnected: boolean;
  /** Server clock (ms) of the last heartbeat (an agent's poll, the built-in instance's keeper). */
  lastHeartbeatAt: number;
  registeredAt: number;
  /** CPU units (1024 per core) and memory (MiB) tasks may reserve. */
  cpu: number;
  memory: number;
  attributes: InstanceAttribute[];
  /** The address host-network tasks of this instance advertise. */
  advertiseAddress?: string;
  agentVersion?: string;
  version: number;
}

const REVISION_DIGITS = 10;

export const ecsKeys = {
  root: '/ecs/',
  clusterPrefix: '/ecs/cluster/',
  taskDefinitionPrefix: '/ecs/taskdef/',
  servicePrefix: '/ecs/service/',
  taskPrefix: '/ecs/task/',
  instancePrefix: '/ecs/instance/',
  clusterInstances: (cluster: string) => `/ecs/instance/${cluster}/`,
  instance: (cluster: string, id: string) => `/ecs/instance/${cluster}/${id}`,
  cluster: (name: string) => `/ecs/cluster/${name}`,
  family: (family: string) => `/ecs/taskdef/${family}/`,
  taskDefinition: (family: string, revision: number) => `/ecs/taskdef/${family}/${String(revision).padStart(REVISION_DIGITS, '0')}`,
  clusterServices: (cluster: string) => `/ecs/service/${cluster}/`,
  service: (cluster: string, name: string) => `/ecs/service/${cluster}/${name}`,
  clusterTasks: (cluster: string) => `/ecs/task/${cluster}/`,
  task: (cluster: string, id: string) => `/ecs/task/${cluster}/${id}`,
} as const;

/** Index of a status in the lifecycle, so "at or past RUNNING" is a comparison. */
export function statusRank(status: TaskStatus): number {
  return TASK_STATUSES.indexOf(status);
}

/** A task the scheduler counts as alive: not stopped and not asked to stop. */
export function isLive(task: TaskRecord): boolean {
  return task.desiredStatus === 'RUNNING' && task.lastStatus !== 'STOPPED';
}

/**
 * Whether a RUNNING task may serve traffic: every essential container with a health check is
 * HEALTHY (containers without checks do not hold it back). Registration and the rolling
 * deployment's "healthy" count both use this.
 */
export function isServing(task: TaskRecord): boolean {
  if (task.lastStatus !== 'RUNNING' || task.desiredStatus !== 'RUNNING') return false;
  return task.containers.every((c) => !c.essential || !c.hasHealthCheck || c.healthStatus === 'HEALTHY');
}

/** Records the task and its containers STOPPED at `now` (the first stop time is kept); true, for `mutate` callbacks. */
export function markStopped(t: TaskRecord, now: number): true {
  t.lastStatus = 'STOPPED';
  t.executionStoppedAt ??= now;
  t.stoppedAt = now;
  for (const c of t.containers) c.lastStatus = 'STOPPED';
  return true;
}

/**
 * Task health from its essential containers (docs/compatibility.md#container-health-checks): any UNHEALTHY → UNHEALTHY,
 * else any UNKNOWN → UNKNOWN, else HEALTHY.
 */
export function deriveTaskHealth(containers: readonly Pick<ContainerState, 'essential' | 'healthStatus'>[]): TaskHealth {
  const essential = containers.filter((c) => c.essential);
  if (essential.some((c) => c.healthStatus === 'UNHEALTHY')) return 'UNHEALTHY';
  if (essential.some((c) => c.healthStatus === 'UNKNOWN')) return 'UNKNOWN';
  return 'HEALTHY';
}

// ---------------------------------------------------------------- references

/** The cluster used when a request names none. */
export const DEFAULT_CLUSTER = 'default';

/** Cluster, service and task-definition family names: ECS's 1–255 letters, digits, `_` and `-`. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;

/** Cluster name from a name or `arn:aws:ecs:…:cluster/<name>`; undefined when malformed. */
export function clusterNameOf(ref: string): string | undefined {
  if (ref.startsWith('arn:')) {
    const m = /^cluster\/(.+)$/.exec(parseArn(ref)?.resource ?? '');
    return m && NAME_PATTERN.test(m[1]!) ? m[1] : undefined;
  }
  return NAME_PATTERN.test(ref) ? ref : undefined;
}

/** Service name from a name or an ARN (`service/<cluster>/<name>`, or the old `service/<name>`). */
export function serviceNameOf(ref: string): string {
  if (!ref.startsWith('arn:')) return ref;
  const resource = parseArn(ref)?.resource ?? '';
  return resource.slice(resource.lastIndexOf('/') + 1);
}

/** Task id from an id or an ARN (`task/<cluster>/<id>`); undefined when it cannot be an id. */
export function taskIdOf(ref: string): string | undefined {
  const id = ref.startsWith('arn:') ? (parseArn(ref)?.resource ?? '').split('/').at(-1) ?? '' : ref;
  return /^[a-f0-9]{32}$/.test(id) ? id : undefined;
}

/** `family`, `family:rev`, or `arn:…:task-definition/family:rev`. */
export function parseTaskDefinitionRef(ref: string): { family: string; revision?: number } | undefined {
  let text = ref;
  if (ref.startsWith('arn:')) {
    const m = /^task-definition\/(.+)$/.exec(parseArn(ref)?.resource ?? '');
    if (!m) return undefined;
    text = m[1]!;
  }
  const m = /^([A-Za-z0-9_-]{1,255})(?::(\d{1,9}))?$/.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { family: m[1]! } : { family: m[1]!, revision: Number(m[2]) };
}
