import { formatArn, parseArn, type Clock } from '../lib/index.ts';
import type { ServiceRecord as CloudMapService } from '../registry/index.ts';
import {
  CLUSTER_CONTAINS_SERVICES,
  CLUSTER_CONTAINS_TASKS,
  clientException,
  clusterNotFound,
  invalidParameter,
  resourceNotFound,
  serviceNotActive,
  serviceNotFound,
} from './errors.ts';
import { PharosError } from '../lib/index.ts';
import { addServiceEvent, newDeploymentId, newTask } from './factory.ts';
import {
  ecsKeys,
  type ClusterRecord,
  type ContainerOverride,
  type DeploymentConfiguration,
  type DeploymentRecord,
  type EcsServiceRecord,
  type EcsTag,
  type LaunchType,
  type NetworkConfiguration,
  type ServiceRegistry,
  type TaskDefinitionRecord,
  type TaskRecord,
} from './model.ts';
import { clusterOut, countTasks, serviceOut, taskDefinitionOut, taskOut } from './output.ts';
import { checkServiceRegistries, parseServiceRegistries } from './registries.ts';
import { EcsStore, UNCHANGED } from './state.ts';
import { NAME_PATTERN, parsePairs, parseTaskDefinition } from './taskdef.ts';
import { arr, body, bool, int, obj, objects, str, strings, type Json } from './validate.ts';

/** The ECS operations Pharos serves (CLOUDMAP-SPEC 4.2), plus `GetTaskLogs`, a Pharos extension. */
export const ECS_OPERATIONS = [
  'CreateCluster',
  'DescribeClusters',
  'ListClusters',
  'DeleteCluster',
  'RegisterTaskDefinition',
  'DescribeTaskDefinition',
  'ListTaskDefinitions',
  'DeregisterTaskDefinition',
  'CreateService',
  'UpdateService',
  'DescribeServices',
  'ListServices',
  'DeleteService',
  'RunTask',
  'StopTask',
  'ListTasks',
  'DescribeTasks',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
  'GetTaskLogs',
] as const;
export type EcsOperation = (typeof ECS_OPERATIONS)[number];

/** The cluster used when a request names none (CLOUDMAP-SPEC 4.1). */
export const DEFAULT_CLUSTER = 'default';
/** Page size limits of the List* operations: ECS's 1–100. */
const MAX_PAGE = 100;
/** Items per Describe* call (the ECS model's limits). */
const MAX_DESCRIBE_CLUSTERS = 100;
const MAX_DESCRIBE_SERVICES = 10;
const MAX_DESCRIBE_TASKS = 100;
/** RunTask `count` upper bound (the ECS model's). */
const MAX_RUN_TASK_COUNT = 10;
/** Subnets per awsvpcConfiguration (the ECS model's). */
const MAX_SUBNETS = 16;
/** Tags per resource, as ECS. */
const MAX_TAGS = 50;
/** Log lines GetTaskLogs returns by default and at most. */
const DEFAULT_LOG_LINES = 200;
const MAX_LOG_LINES = 1000;

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
}

/**
 * The ECS API: each method takes the untrusted JSON body of one operation and returns its ECS output
 * shape, or throws a PharosError with the ECS error code. Methods only record desired state in the
 * store; the scheduler and the task supervisor act on it.
 * @see CLOUDMAP-SPEC 4 for the contract.
 */
export class EcsApi {
  private readonly store: EcsStore;
  private readonly clock: Clock;
  private readonly region: string;
  private readonly accountId: string;
  readonly availabilityZone: string;
  private readonly cloudMapService: EcsApiOptions['cloudMapService'];
  private readonly taskLogs: EcsApiOptions['taskLogs'];

  constructor(options: EcsApiOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.region = options.region;
    this.accountId = options.accountId;
    this.availabilityZone = options.availabilityZone ?? `${options.region}a`;
    this.cloudMapService = options.cloudMapService;
    this.taskLogs = options.taskLogs;
  }

  // ---------------------------------------------------------------- clusters

  async createCluster(input: unknown): Promise<unknown> {
    const b = body(input);
    const name = str(b, 'clusterName', { max: 255, pattern: NAME_PATTERN, patternHelp: 'must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.' }) ?? DEFAULT_CLUSTER;
    const tags = parseTags(b);
    const settings = (objects(b, 'settings') ?? []).map((s, i) => ({
      name: str(s, `settings[${i}].name`, { required: true, oneOf: ['containerInsights'] })!,
      value: str(s, `settings[${i}].value`, { required: true, oneOf: ['enabled', 'disabled', 'enhanced'] })!,
    }));
    const now = this.clock.now();
    const cluster = await this.store.mutate<ClusterRecord>(ecsKeys.cluster(name), (cur) => {
      // Creating an ACTIVE cluster again returns it unchanged; an INACTIVE one comes back to life.
      if (cur && cur.status === 'ACTIVE') return UNCHANGED;
      return {
        name,
        arn: this.arn(`cluster/${name}`),
        status: 'ACTIVE',
        createdAt: now,
        tags,
        settings: settings.length > 0 ? settings : [{ name: 'containerInsights', value: 'disabled' }],
      };
    });
    return { cluster: await this.clusterOutput(cluster!, true) };
  }

  async describeClusters(input: unknown): Promise<unknown> {
    const b = body(input);
    const refs = strings(b, 'clusters', { max: MAX_DESCRIBE_CLUSTERS }) ?? [DEFAULT_CLUSTER];
    const includeTags = includes(b, 'TAGS');
    const clusters: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const name = clusterNameOf(ref);
      const rec = name === undefined ? undefined : (await this.store.get<ClusterRecord>(ecsKeys.cluster(name)))?.value;
      if (rec) clusters.push(await this.clusterOutput(rec, includeTags));
      else failures.push({ arn: name === undefined ? ref : this.arn(`cluster/${name}`), reason: 'MISSING' });
    }
    return { clusters, failures };
  }

  async listClusters(input: unknown): Promise<unknown> {
    const b = body(input);
    const all = (await this.store.list<ClusterRecord>(ecsKeys.clusterPrefix)).filter((c) => c.status === 'ACTIVE');
    const page = paginate(all.map((c) => ({ key: c.name, value: c.arn })), b);
    return { clusterArns: page.items, nextToken: page.nextToken };
  }

  async deleteCluster(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster', { required: true }));
    const services = await this.store.list<EcsServiceRecord>(ecsKeys.clusterServices(cluster.name));
    if (services.some((s) => s.status !== 'INACTIVE')) {
      throw new PharosError(CLUSTER_CONTAINS_SERVICES, 'The Cluster cannot be deleted while Services are active.');
    }
    const tasks = await this.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name));
    if (tasks.some((t) => t.lastStatus !== 'STOPPED')) {
      throw new PharosError(CLUSTER_CONTAINS_TASKS, 'The Cluster cannot be deleted while Tasks are active.');
    }
    const updated = await this.store.mutate<ClusterRecord>(ecsKeys.cluster(cluster.name), (cur) => {
      if (!cur) throw clusterNotFound();
      return { ...cur, status: 'INACTIVE' };
    });
    return { cluster: await this.clusterOutput(updated!, false) };
  }

  // ---------------------------------------------------------------- task definitions

  async registerTaskDefinition(input: unknown): Promise<unknown> {
    const b = body(input);
    const parsed = parseTaskDefinition(b);
    const tags = parseTags(b);
    const now = this.clock.now();
    // The next revision is one past the highest ever used; create() fails if a racing call took it.
    for (;;) {
      const existing = await this.store.kv.list(ecsKeys.family(parsed.family));
      const last = existing.items.at(-1);
      const revision = last ? Number(last.key.slice(last.key.lastIndexOf('/') + 1)) + 1 : 1;
      const record: TaskDefinitionRecord = {
        ...parsed,
        arn: this.arn(`task-definition/${parsed.family}:${revision}`),
        revision,
        status: 'ACTIVE',
        registeredAt: now,
        tags,
      };
      if (await this.store.create(ecsKeys.taskDefinition(parsed.family, revision), record)) {
        return { taskDefinition: taskDefinitionOut(record), tags };
      }
    }
  }

  async describeTaskDefinition(input: unknown): Promise<unknown> {
    const b = body(input);
    const ref = str(b, 'taskDefinition', { required: true, code: 'ClientException' })!;
    const td = await this.findTaskDefinition(ref);
    if (!td) throw clientException('Unable to describe task definition.');
    return { taskDefinition: taskDefinitionOut(td), tags: includes(b, 'TAGS') ? td.tags : undefined };
  }

  async listTaskDefinitions(input: unknown): Promise<unknown> {
    const b = body(input);
    const familyPrefix = str(b, 'familyPrefix', { max: 255 });
    const status = str(b, 'status', { oneOf: ['ACTIVE', 'INACTIVE', 'DELETE_IN_PROGRESS'] }) ?? 'ACTIVE';
    const sort = str(b, 'sort', { oneOf: ['ASC', 'DESC'] }) ?? 'ASC';
    let all = (await this.store.list<TaskDefinitionRecord>(ecsKeys.taskDefinitionPrefix)).filter(
      (td) => td.status === status && (familyPrefix === undefined || td.family.startsWith(familyPrefix)),
    );
    all.sort((x, y) => (x.family < y.family ? -1 : x.family > y.family ? 1 : x.revision - y.revision));
    if (sort === 'DESC') all = all.reverse();
    const items = all.map((td, i) => ({ key: String(i).padStart(10, '0'), value: td.arn }));
    const page = paginate(items, b);
    return { taskDefinitionArns: page.items, nextToken: page.nextToken };
  }

  async deregisterTaskDefinition(input: unknown): Promise<unknown> {
    const b = body(input);
    const ref = str(b, 'taskDefinition', { required: true })!;
    const parsed = parseTaskDefinitionRef(ref);
    if (!parsed || parsed.revision === undefined) {
      throw invalidParameter('A revision must be specified: family:revision or the full task definition ARN.');
    }
    const now = this.clock.now();
    const td = await this.store.mutate<TaskDefinitionRecord>(ecsKeys.taskDefinition(parsed.family, parsed.revision), (cur) => {
      if (!cur) throw clientException('The specified task definition does not exist.');
      if (cur.status === 'INACTIVE') return UNCHANGED;
      return { ...cur, status: 'INACTIVE', deregisteredAt: now };
    });
    return { taskDefinition: taskDefinitionOut(td!) };
  }

  // ---------------------------------------------------------------- services

  async createService(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const name = str(b, 'serviceName', { required: true, pattern: NAME_PATTERN, patternHelp: 'must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.' })!;
    const strategy = str(b, 'schedulingStrategy', { oneOf: ['REPLICA', 'DAEMON'] }) ?? 'REPLICA';
    if (strategy !== 'REPLICA') throw invalidParameter('Pharos supports only the REPLICA scheduling strategy.');
    const controller = obj(b, 'deploymentController');
    if (controller && (str(controller, 'deploymentController.type', { oneOf: ['ECS', 'CODE_DEPLOY', 'EXTERNAL'] }) ?? 'ECS') !== 'ECS') {
      throw invalidParameter('Pharos supports only the ECS deployment controller.');
    }
    if ((arr(b, 'loadBalancers') ?? []).length > 0) throw invalidParameter('Pharos does not support load balancers; use serviceRegistries.');
    const tdRef = str(b, 'taskDefinition', { required: true })!;
    const td = await this.requireTaskDefinition(tdRef, true);
    const desiredCount = int(b, 'desiredCount', { min: 0, max: 1000 });
    if (desiredCount === undefined) throw invalidParameter('desiredCount must be provided for the REPLICA scheduling strategy.');
    const launchType = this.launchType(b, td);
    const networkConfiguration = parseNetworkConfiguration(b, td);
    const serviceRegistries = parseServiceRegistries(b) ?? [];
    checkServiceRegistries(serviceRegistries, td, this.cloudMapService);
    const deploymentConfiguration = parseDeploymentConfiguration(b);
    const healthCheckGracePeriodSeconds = int(b, 'healthCheckGracePeriodSeconds', { min: 0, max: 2_147_483_647 }) ?? 0;
    const clientToken = str(b, 'clientToken', { max: 36 });
    const propagateTags = str(b, 'propagateTags', { oneOf: ['TASK_DEFINITION', 'SERVICE', 'NONE'] }) ?? 'NONE';
    const tags = parseTags(b);
    const now = this.clock.now();
    const deployment = newDeployment(td.arn, networkConfiguration, serviceRegistries, launchType, now);
    const fresh: EcsServiceRecord = {
      name,
      arn: this.arn(`service/${cluster.name}/${name}`),
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
      deployments: [deployment],
      events: [],
      createdAt: now,
      clientToken,
      tags,
      propagateTags,
      enableECSManagedTags: bool(b, 'enableECSManagedTags') ?? false,
      enableExecuteCommand: bool(b, 'enableExecuteCommand') ?? false,
    };
    const stored = await this.store.mutate<EcsServiceRecord>(ecsKeys.service(cluster.name, name), (cur) => {
      if (cur && cur.status !== 'INACTIVE') {
        // The same request retried with its client token gets the service it created.
        if (clientToken !== undefined && cur.clientToken === clientToken && cur.taskDefinitionArn === td.arn && cur.desiredCount === desiredCount) {
          return UNCHANGED;
        }
        throw invalidParameter('Creation of service was not idempotent.');
      }
      return fresh;
    });
    return { service: await this.serviceOutput(stored!, false) };
  }

  async updateService(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const name = serviceNameOf(str(b, 'service', { required: true, max: 2048 })!);
    const desiredCount = int(b, 'desiredCount', { min: 0, max: 1000 });
    const tdRef = str(b, 'taskDefinition');
    const forceNewDeployment = bool(b, 'forceNewDeployment') ?? false;
    const grace = int(b, 'healthCheckGracePeriodSeconds', { min: 0, max: 2_147_483_647 });
    const deploymentConfiguration = b['deploymentConfiguration'] !== undefined ? parseDeploymentConfiguration(b) : undefined;
    const current = (await this.store.get<EcsServiceRecord>(ecsKeys.service(cluster.name, name)))?.value;
    if (!current) throw serviceNotFound();
    if (current.status !== 'ACTIVE') throw serviceNotActive();
    const td = tdRef !== undefined ? await this.requireTaskDefinition(tdRef, true) : await this.requireTaskDefinition(current.taskDefinitionArn, false);
    const launchType = b['launchType'] !== undefined ? this.launchType(b, td) : current.launchType;
    const networkConfiguration = b['networkConfiguration'] !== undefined ? parseNetworkConfiguration(b, td) : current.networkConfiguration;
    if (b['networkConfiguration'] === undefined && tdRef !== undefined) checkNetworkConfiguration(networkConfiguration, td);
    const serviceRegistries = b['serviceRegistries'] !== undefined ? parseServiceRegistries(b) ?? [] : current.serviceRegistries;
    // Only what changes is checked: scaling a service whose Cloud Map service was since deleted
    // (for instance to 0, to clean up) must still work.
    if (b['serviceRegistries'] !== undefined || tdRef !== undefined) checkServiceRegistries(serviceRegistries, td, this.cloudMapService);
    const now = this.clock.now();
    const stored = await this.store.mutate<EcsServiceRecord>(ecsKeys.service(cluster.name, name), (cur) => {
      if (!cur) throw serviceNotFound();
      if (cur.status !== 'ACTIVE') throw serviceNotActive();
      const next: EcsServiceRecord = structuredClone(cur);
      if (desiredCount !== undefined) next.desiredCount = desiredCount;
      if (grace !== undefined) next.healthCheckGracePeriodSeconds = grace;
      if (deploymentConfiguration) next.deploymentConfiguration = deploymentConfiguration;
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
    return { service: await this.serviceOutput(stored!, false) };
  }

  async describeServices(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const refs = strings(b, 'services', { required: true, min: 1, max: MAX_DESCRIBE_SERVICES })!;
    const includeTags = includes(b, 'TAGS');
    const tasks = await this.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name));
    const services: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const name = serviceNameOf(ref);
      const rec = (await this.store.get<EcsServiceRecord>(ecsKeys.service(cluster.name, name)))?.value;
      if (rec) services.push(serviceOut(rec, tasks.filter((t) => t.serviceName === rec.name), includeTags));
      else failures.push({ arn: ref.startsWith('arn:') ? ref : this.arn(`service/${cluster.name}/${name}`), reason: 'MISSING' });
    }
    return { services, failures };
  }

  async listServices(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const launchType = str(b, 'launchType', { oneOf: ['EC2', 'FARGATE', 'EXTERNAL'] });
    str(b, 'schedulingStrategy', { oneOf: ['REPLICA', 'DAEMON'] });
    const all = (await this.store.list<EcsServiceRecord>(ecsKeys.clusterServices(cluster.name))).filter(
      (s) => s.status !== 'INACTIVE' && (launchType === undefined || s.launchType === launchType),
    );
    const page = paginate(all.map((s) => ({ key: s.name, value: s.arn })), b);
    return { serviceArns: page.items, nextToken: page.nextToken };
  }

  async deleteService(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const name = serviceNameOf(str(b, 'service', { required: true, max: 2048 })!);
    const force = bool(b, 'force') ?? false;
    const now = this.clock.now();
    const stored = await this.store.mutate<EcsServiceRecord>(ecsKeys.service(cluster.name, name), (cur) => {
      if (!cur) throw serviceNotFound();
      if (cur.status !== 'ACTIVE') return UNCHANGED;
      if (cur.desiredCount > 0 && !force) throw invalidParameter('The service cannot be stopped while it is scaled above 0.');
      const next: EcsServiceRecord = { ...cur, status: 'DRAINING', desiredCount: 0 };
      addServiceEvent(next, `(service ${cur.name}) is draining.`, now);
      return next;
    });
    if (stored!.status === 'INACTIVE') throw serviceNotFound();
    return { service: await this.serviceOutput(stored!, false) };
  }

  // ---------------------------------------------------------------- tasks

  async runTask(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const td = await this.requireTaskDefinition(str(b, 'taskDefinition', { required: true })!, false);
    const count = int(b, 'count', { min: 1, max: MAX_RUN_TASK_COUNT }) ?? 1;
    const launchType = this.launchType(b, td);
    const networkConfiguration = parseNetworkConfiguration(b, td);
    const startedBy = str(b, 'startedBy', { max: 128 });
    const group = str(b, 'group', { max: 255 }) ?? `family:${td.family}`;
    str(b, 'clientToken', { max: 64 });
    const overrides = parseOverrides(b, td);
    const tags = parseTags(b);
    const now = this.clock.now();
    const tasks: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const task = newTask({
        clusterName: cluster.name,
        clusterArn: cluster.arn,
        taskDefinition: td,
        launchType,
        networkConfiguration,
        availabilityZone: this.availabilityZone,
        group,
        startedBy,
        overrides,
        tags,
        now,
      });
      await this.store.create(ecsKeys.task(cluster.name, task.id), task);
      tasks.push(taskOut(task, false));
    }
    return { tasks, failures: [] };
  }

  async stopTask(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const id = taskIdOf(str(b, 'task', { required: true, max: 2048 })!);
    const reason = str(b, 'reason', { max: 255 }) ?? 'Task stopped by user';
    const now = this.clock.now();
    const task = await this.store.mutate<TaskRecord>(ecsKeys.task(cluster.name, id ?? '-'), (cur) => {
      if (!cur) throw invalidParameter('The referenced task was not found.');
      if (cur.desiredStatus === 'STOPPED') return UNCHANGED;
      return { ...cur, desiredStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: reason, stoppingAt: now, version: cur.version + 1 };
    });
    return { task: taskOut(task!, false) };
  }

  async listTasks(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const family = str(b, 'family', { max: 255 });
    const startedBy = str(b, 'startedBy', { max: 128 });
    const serviceRef = str(b, 'serviceName', { max: 2048 });
    str(b, 'containerInstance', { max: 2048 });
    const desiredStatus = str(b, 'desiredStatus', { oneOf: ['RUNNING', 'PENDING', 'STOPPED'] }) ?? 'RUNNING';
    const launchType = str(b, 'launchType', { oneOf: ['EC2', 'FARGATE', 'EXTERNAL'] });
    if (startedBy !== undefined && (family !== undefined || serviceRef !== undefined)) {
      throw invalidParameter('startedBy cannot be combined with family or serviceName.');
    }
    let serviceName: string | undefined;
    if (serviceRef !== undefined) {
      serviceName = serviceNameOf(serviceRef);
      const svc = (await this.store.get<EcsServiceRecord>(ecsKeys.service(cluster.name, serviceName)))?.value;
      if (!svc) throw serviceNotFound();
    }
    const tasks = (await this.store.list<TaskRecord>(ecsKeys.clusterTasks(cluster.name))).filter((t) => {
      if (family !== undefined && t.family !== family) return false;
      if (startedBy !== undefined && t.startedBy !== startedBy) return false;
      if (serviceName !== undefined && t.serviceName !== serviceName) return false;
      if (launchType !== undefined && t.launchType !== launchType) return false;
      if (desiredStatus === 'STOPPED') return t.desiredStatus === 'STOPPED';
      if (desiredStatus === 'PENDING') return t.desiredStatus === 'RUNNING' && t.lastStatus !== 'RUNNING' && t.lastStatus !== 'STOPPED';
      return t.desiredStatus === 'RUNNING';
    });
    const page = paginate(tasks.map((t) => ({ key: t.id, value: t.arn })), b);
    return { taskArns: page.items, nextToken: page.nextToken };
  }

  async describeTasks(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const refs = strings(b, 'tasks', { required: true, min: 1, max: MAX_DESCRIBE_TASKS })!;
    const includeTags = includes(b, 'TAGS');
    const tasks: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const id = taskIdOf(ref);
      const rec = id === undefined ? undefined : (await this.store.get<TaskRecord>(ecsKeys.task(cluster.name, id)))?.value;
      if (rec) tasks.push(taskOut(rec, includeTags));
      else failures.push({ arn: ref.startsWith('arn:') ? ref : this.arn(`task/${cluster.name}/${ref}`), reason: 'MISSING' });
    }
    return { tasks, failures };
  }

  // ---------------------------------------------------------------- tags

  async tagResource(input: unknown): Promise<unknown> {
    const b = body(input);
    const arn = str(b, 'resourceArn', { required: true, max: 2048 })!;
    const tags = parseTags(b);
    if (tags.length === 0) throw invalidParameter('tags must contain at least one tag.');
    await this.mutateTags(arn, (current) => {
      const byKey = new Map(current.map((t) => [t.key, t]));
      for (const t of tags) byKey.set(t.key, t);
      if (byKey.size > MAX_TAGS) throw invalidParameter(`A resource can have at most ${MAX_TAGS} tags.`);
      return [...byKey.values()];
    });
    return {};
  }

  async untagResource(input: unknown): Promise<unknown> {
    const b = body(input);
    const arn = str(b, 'resourceArn', { required: true, max: 2048 })!;
    const keys = strings(b, 'tagKeys', { required: true, itemMax: 128 })!;
    await this.mutateTags(arn, (current) => current.filter((t) => !keys.includes(t.key)));
    return {};
  }

  async listTagsForResource(input: unknown): Promise<unknown> {
    const b = body(input);
    const arn = str(b, 'resourceArn', { required: true, max: 2048 })!;
    const key = await this.taggableKey(arn);
    const rec = (await this.store.get<{ tags: EcsTag[] }>(key))?.value;
    if (!rec) throw resourceNotFound();
    return { tags: rec.tags };
  }

  /** The store key of a taggable ECS resource: cluster, service, task definition or task ARN. */
  private async taggableKey(arn: string): Promise<string> {
    const parts = parseArn(arn);
    if (!parts || parts.service !== 'ecs') throw invalidParameter(`${arn} is not an ECS resource ARN.`);
    const [type, ...rest] = parts.resource.split('/');
    if (type === 'cluster' && rest.length === 1) return ecsKeys.cluster(rest[0]!);
    if (type === 'service' && rest.length === 2) return ecsKeys.service(rest[0]!, rest[1]!);
    if (type === 'task' && rest.length === 2) return ecsKeys.task(rest[0]!, rest[1]!);
    if (type === 'task-definition' && rest.length === 1) {
      const ref = parseTaskDefinitionRef(rest[0]!);
      if (ref?.revision !== undefined) return ecsKeys.taskDefinition(ref.family, ref.revision);
    }
    throw invalidParameter(`${arn} is not a taggable ECS resource (cluster, service, task definition or task).`);
  }

  private async mutateTags(arn: string, fn: (current: EcsTag[]) => EcsTag[]): Promise<void> {
    const key = await this.taggableKey(arn);
    await this.store.mutate<{ tags: EcsTag[] }>(key, (cur) => {
      if (!cur) throw resourceNotFound();
      return { ...cur, tags: fn(cur.tags ?? []) };
    });
  }

  /**
   * Pharos extension (not in the ECS model): a task's captured stdout/stderr, oldest first.
   * Input `{cluster?, task, container?, limit?}`; output `{events: [{timestamp, container, stream, message}]}`.
   */
  async getTaskLogs(input: unknown): Promise<unknown> {
    const b = body(input);
    const cluster = await this.requireCluster(str(b, 'cluster'));
    const id = taskIdOf(str(b, 'task', { required: true, max: 2048 })!);
    const container = str(b, 'container', { max: 255 });
    const limit = int(b, 'limit', { min: 1, max: MAX_LOG_LINES }) ?? DEFAULT_LOG_LINES;
    const task = id === undefined ? undefined : (await this.store.get<TaskRecord>(ecsKeys.task(cluster.name, id)))?.value;
    if (!task) throw invalidParameter('The referenced task was not found.');
    const lines = this.taskLogs?.(task.id, container) ?? [];
    return {
      events: lines.slice(-limit).map((l) => ({ timestamp: l.at / 1000, container: l.container, stream: l.stream, message: l.line })),
    };
  }

  // ---------------------------------------------------------------- helpers

  private arn(resource: string): string {
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

  private async requireTaskDefinition(ref: string, mustBeActive: boolean): Promise<TaskDefinitionRecord> {
    const td = await this.findTaskDefinition(ref);
    if (!td) throw clientException('TaskDefinition not found.');
    if (mustBeActive && td.status !== 'ACTIVE') throw clientException('TaskDefinition is inactive');
    return td;
  }

  private launchType(b: Json, td: TaskDefinitionRecord): LaunchType {
    const launchType = (str(b, 'launchType', { oneOf: ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] }) ?? 'EC2') as LaunchType;
    if (launchType === 'FARGATE' && !td.compatibilities.includes('FARGATE')) {
      throw invalidParameter('Task definition does not support launch_type FARGATE.');
    }
    return launchType;
  }

  private async clusterOutput(c: ClusterRecord, includeTags: boolean): Promise<Record<string, unknown>> {
    const tasks = await this.store.list<TaskRecord>(ecsKeys.clusterTasks(c.name));
    const services = await this.store.list<EcsServiceRecord>(ecsKeys.clusterServices(c.name));
    return clusterOut(c, { ...countTasks(tasks), activeServices: services.filter((s) => s.status === 'ACTIVE').length }, includeTags);
  }

  private async serviceOutput(s: EcsServiceRecord, includeTags: boolean): Promise<Record<string, unknown>> {
    const tasks = (await this.store.list<TaskRecord>(ecsKeys.clusterTasks(s.clusterName))).filter((t) => t.serviceName === s.name);
    return serviceOut(s, tasks, includeTags);
  }
}

// ---------------------------------------------------------------- parsing helpers

/** A new PRIMARY deployment, rollout IN_PROGRESS. */
function newDeployment(
  taskDefinitionArn: string,
  networkConfiguration: NetworkConfiguration | undefined,
  serviceRegistries: ServiceRegistry[],
  launchType: LaunchType,
  now: number,
): DeploymentRecord {
  const id = newDeploymentId();
  return {
    id,
    status: 'PRIMARY',
    taskDefinitionArn,
    networkConfiguration,
    serviceRegistries,
    launchType,
    rolloutState: 'IN_PROGRESS',
    rolloutStateReason: `ECS deployment ${id} in progress.`,
    failedTasks: 0,
    createdAt: now,
    updatedAt: now,
  };
}

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

function includes(b: Json, what: string): boolean {
  return (strings(b, 'include') ?? []).includes(what);
}

function parseTags(b: Json): EcsTag[] {
  const tags = (objects(b, 'tags', { max: MAX_TAGS }) ?? []).map((t, i) => ({
    key: str(t, `tags[${i}].key`, { required: true, min: 1, max: 128 })!,
    value: str(t, `tags[${i}].value`, { max: 256 }) ?? '',
  }));
  return tags;
}

function parseNetworkConfiguration(b: Json, td: TaskDefinitionRecord): NetworkConfiguration | undefined {
  const nc = obj(b, 'networkConfiguration');
  let out: NetworkConfiguration | undefined;
  if (nc) {
    const vpc = obj(nc, 'networkConfiguration.awsvpcConfiguration', { required: true });
    const subnets = strings(vpc!, 'awsvpcConfiguration.subnets', { required: true, min: 1, max: MAX_SUBNETS, itemMax: 255 })!;
    const securityGroups = strings(vpc!, 'awsvpcConfiguration.securityGroups', { max: 5, itemMax: 255 });
    const assignPublicIp = str(vpc!, 'awsvpcConfiguration.assignPublicIp', { oneOf: ['ENABLED', 'DISABLED'] }) as 'ENABLED' | 'DISABLED' | undefined;
    out = { awsvpcConfiguration: { subnets } };
    if (securityGroups) out.awsvpcConfiguration.securityGroups = securityGroups;
    if (assignPublicIp) out.awsvpcConfiguration.assignPublicIp = assignPublicIp;
  }
  checkNetworkConfiguration(out, td);
  return out;
}

function checkNetworkConfiguration(nc: NetworkConfiguration | undefined, td: TaskDefinitionRecord): void {
  if (td.networkMode === 'awsvpc' && !nc) {
    throw invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
  }
  if (td.networkMode !== 'awsvpc' && nc) {
    throw invalidParameter('Network Configuration is not valid for the given networkMode of this task definition.');
  }
}

function parseDeploymentConfiguration(b: Json): DeploymentConfiguration {
  const dc = obj(b, 'deploymentConfiguration') ?? {};
  const maximumPercent = int(dc, 'deploymentConfiguration.maximumPercent', { min: 100, max: 2000 }) ?? 200;
  const minimumHealthyPercent = int(dc, 'deploymentConfiguration.minimumHealthyPercent', { min: 0, max: 100 }) ?? 100;
  const cb = obj(dc, 'deploymentConfiguration.deploymentCircuitBreaker');
  return {
    maximumPercent,
    minimumHealthyPercent,
    deploymentCircuitBreaker: {
      enable: (cb && bool(cb, 'deploymentCircuitBreaker.enable', { required: true })) ?? false,
      rollback: (cb && bool(cb, 'deploymentCircuitBreaker.rollback', { required: true })) ?? false,
    },
  };
}

function parseOverrides(b: Json, td: TaskDefinitionRecord): ContainerOverride[] {
  const o = obj(b, 'overrides');
  if (!o) return [];
  return (objects(o, 'overrides.containerOverrides') ?? []).map((c, i) => {
    const p = `overrides.containerOverrides[${i}]`;
    const name = str(c, `${p}.name`, { required: true, max: 255 })!;
    if (!td.containerDefinitions.some((d) => d.name === name)) {
      throw invalidParameter(`Override for container named ${name} is not a container in the TaskDefinition.`);
    }
    const out: ContainerOverride = { name };
    const command = strings(c, `${p}.command`);
    if (command) out.command = command;
    if (c['environment'] !== undefined) out.environment = parsePairs(c, `${p}.environment`);
    return out;
  });
}

interface PageItem {
  key: string;
  value: string;
}

/** Key-ordered paging with opaque tokens (base64 of the last key), distinct on every page. */
function paginate(items: PageItem[], b: Json): { items: string[]; nextToken?: string } {
  const maxResults = int(b, 'maxResults', { min: 1, max: MAX_PAGE }) ?? MAX_PAGE;
  const token = str(b, 'nextToken', { max: 4096 });
  let after: string | undefined;
  if (token !== undefined) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (!Array.isArray(parsed) || typeof parsed[0] !== 'string') throw new Error('bad token');
      after = parsed[0];
    } catch {
      throw invalidParameter('Invalid nextToken.');
    }
  }
  const rest = after === undefined ? items : items.filter((i) => i.key > after!);
  const page = rest.slice(0, maxResults);
  const more = rest.length > maxResults;
  return {
    items: page.map((i) => i.value),
    nextToken: more ? Buffer.from(JSON.stringify([page.at(-1)!.key])).toString('base64url') : undefined,
  };
}


/** The ECS handler table of one `EcsApi`; a missing or extra operation is a compile error. */
export function ecsOperations(api: EcsApi): Record<EcsOperation, (input: unknown) => Promise<unknown>> {
  return {
    CreateCluster: (input) => api.createCluster(input),
    DescribeClusters: (input) => api.describeClusters(input),
    ListClusters: (input) => api.listClusters(input),
    DeleteCluster: (input) => api.deleteCluster(input),
    RegisterTaskDefinition: (input) => api.registerTaskDefinition(input),
    DescribeTaskDefinition: (input) => api.describeTaskDefinition(input),
    ListTaskDefinitions: (input) => api.listTaskDefinitions(input),
    DeregisterTaskDefinition: (input) => api.deregisterTaskDefinition(input),
    CreateService: (input) => api.createService(input),
    UpdateService: (input) => api.updateService(input),
    DescribeServices: (input) => api.describeServices(input),
    ListServices: (input) => api.listServices(input),
    DeleteService: (input) => api.deleteService(input),
    RunTask: (input) => api.runTask(input),
    StopTask: (input) => api.stopTask(input),
    ListTasks: (input) => api.listTasks(input),
    DescribeTasks: (input) => api.describeTasks(input),
    TagResource: (input) => api.tagResource(input),
    UntagResource: (input) => api.untagResource(input),
    ListTagsForResource: (input) => api.listTagsForResource(input),
    GetTaskLogs: (input) => api.getTaskLogs(input),
  } satisfies Record<EcsOperation, (input: unknown) => Promise<unknown>>;
}
