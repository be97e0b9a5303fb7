import { formatArn, silentLogger, type Clock, type Logger } from '../lib/index.ts';
import type { ServiceRecord as CloudMapService } from '../registry/index.ts';
import { clientException, clusterNotFound, invalidParameter } from './errors.ts';
import {
  DEFAULT_CLUSTER,
  clusterNameOf,
  ecsKeys,
  parseTaskDefinitionRef,
  type ClusterRecord,
  type ContainerInstanceRecord,
  type EcsServiceRecord,
  type LaunchType,
  type TaskDefinitionRecord,
  type TaskRecord,
} from './model.ts';
import { clusterOut, countTasks, serviceOut } from './output.ts';
import { DEFAULT_AGENT_TIMEOUT_MS } from './liveness.ts';
import type { Registrar } from './registration.ts';
import type { EcsStore } from './state.ts';
import { str, type Json } from './validate.ts';

/** A captured line of a task's output, for GetTaskLogs. */
export interface TaskLogLine {
  container: string;
  stream: 'stdout' | 'stderr';
  line: string;
  at: number;
}

export interface EcsApiOptions {
  store: EcsStore;
  clock: Clock;
  region: string;
  accountId: string;
  /** The AZ reported for tasks (`<region>a` by default). */
  availabilityZone?: string;
  /** Reads a Cloud Map service by id (the registry snapshot). */
  cloudMapService: (serviceId: string) => CloudMapService | undefined;
  /** A task's captured output, when this node ran it. */
  taskLogs?: (taskId: string, container?: string) => TaskLogLine[] | undefined;
  /** Called when a cluster becomes ACTIVE (the server adds its built-in container instance at once). */
  onClusterActive?: (cluster: ClusterRecord) => Promise<void>;
  /** What the agent operations need (`ops/agents.ts`); without it they answer as if no Cloud Map were wired. */
  agents?: AgentSupport;
}

/** The server side of `pharos agent`: Cloud Map writes, the heartbeat timeout, the drain delay. */
interface AgentSupport {
  agentTimeoutMs: number;
  logger: Logger;
  registrar?: Registrar;
  /** Fixed drain delay (`--drain-delay`), else the records' TTL. */
  drainDelayMs?: number;
}

/**
 * What the ECS operation handlers (`ops/`) share: the store, the clock, the ARN scope, the Cloud
 * Map lookup, and the lookups several operations make. Handlers only record desired state in the
 * store; the scheduler and the task supervisor act on it. The operations themselves are the
 * handler table in `ops/index.ts`; see docs/compatibility.md#ecs for the behaviour.
 */
export class EcsApi {
  readonly store: EcsStore;
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  readonly availabilityZone: string;
  readonly cloudMapService: EcsApiOptions['cloudMapService'];
  readonly taskLogs: EcsApiOptions['taskLogs'];
  readonly onClusterActive: EcsApiOptions['onClusterActive'];
  readonly agents: AgentSupport;

  constructor(options: EcsApiOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.region = options.region;
    this.accountId = options.accountId;
    this.availabilityZone = options.availabilityZone ?? `${options.region}a`;
    this.cloudMapService = options.cloudMapService;
    this.taskLogs = options.taskLogs;
    this.onClusterActive = options.onClusterActive;
    this.agents = options.agents ?? { agentTimeoutMs: DEFAULT_AGENT_TIMEOUT_MS, logger: silentLogger() };
  }

  arn(resource: string): string {
    return formatArn({ service: 'ecs', region: this.region, account: this.accountId, resource });
  }

  /** An ACTIVE cluster by name or ARN (default: `default`), else ClusterNotFoundException. */
  async requireCluster(ref: string | undefined): Promise<ClusterRecord> {
    const name = clusterNameOf(ref ?? DEFAULT_CLUSTER);
    const rec = name === undefined ? undefined : (await this.store.get<ClusterRecord>(ecsKeys.cluster(name)))?.value;
    if (!rec || rec.status !== 'ACTIVE') throw clusterNotFound();
    return rec;
  }

  /** `family`, `family:revision` or an ARN; `family` alone means its latest ACTIVE revision. */
  async findTaskDefinition(ref: string): Promise<TaskDefinitionRecord | undefined> {
    const parsed = parseTaskDefinitionRef(ref);
    if (!parsed) return undefined;
    if (parsed.revision !== undefined) {
      return (await this.store.get<TaskDefinitionRecord>(ecsKeys.taskDefinition(parsed.family, parsed.revision)))?.value;
    }
    const all = await this.store.list<TaskDefinitionRecord>(ecsKeys.family(parsed.family));
    return all.filter((td) => td.status === 'ACTIVE').at(-1);
  }

  async requireTaskDefinition(ref: string, mustBeActive: boolean): Promise<TaskDefinitionRecord> {
    const td = await this.findTaskDefinition(ref);
    if (!td) throw clientException('TaskDefinition not found.');
    if (mustBeActive && td.status !== 'ACTIVE') throw clientException('TaskDefinition is inactive');
    return td;
  }

  launchType(b: Json, td: TaskDefinitionRecord): LaunchType {
    const launchType = (str(b, 'launchType', { oneOf: ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] }) ?? 'EC2') as LaunchType;
    if (launchType === 'FARGATE' && !td.compatibilities.includes('FARGATE')) {
      throw invalidParameter('Task definition does not support launch_type FARGATE.');
    }
    return launchType;
  }

  async clusterOutput(c: ClusterRecord, includeTags: boolean): Promise<Record<string, unknown>> {
    const tasks = await this.store.list<TaskRecord>(ecsKeys.clusterTasks(c.name));
    const services = await this.store.list<EcsServiceRecord>(ecsKeys.clusterServices(c.name));
    const instances = (await this.store.list<ContainerInstanceRecord>(ecsKeys.clusterInstances(c.name))).filter((i) => i.status !== 'INACTIVE').length;
    return clusterOut(c, { ...countTasks(tasks), activeServices: services.filter((s) => s.status === 'ACTIVE').length, instances }, includeTags);
  }

  async serviceOutput(s: EcsServiceRecord, includeTags: boolean): Promise<Record<string, unknown>> {
    const tasks = (await this.store.list<TaskRecord>(ecsKeys.clusterTasks(s.clusterName))).filter((t) => t.serviceName === s.name);
    return serviceOut(s, tasks, includeTags);
  }
}
