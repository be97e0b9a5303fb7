import { invalidParameter } from './errors.ts';
import { ecsKeys, type ContainerInstanceRecord, type PlacementConstraint, type PlacementStrategy, type TaskDefinitionRecord, type TaskRecord } from './model.ts';
import type { EcsStore } from './state.ts';
import { arr, str, type Json } from './validate.ts';

/**
 * Task placement (ECS's "Amazon ECS task placement"): which container instance gets a new task.
 * Pure decisions over a picture of the cluster (`Candidate`s); the scheduler and RunTask build the
 * picture from the store and write the choice on the task record. Order, as ECS: instances that
 * are ACTIVE and connected → placement constraints → CPU, memory and host ports → strategies, each
 * narrowing the set to its best members → ties go to the instance with fewest tasks, then by id.
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement.html
 */

/** What one task needs from an instance. */
export interface TaskNeeds {
  /** CPU units (1024 = one core). */
  cpu: number;
  /** MiB. */
  memory: number;
  /** `port/protocol` of fixed host ports (host and bridge tasks; none for awsvpc). */
  hostPorts: string[];
  /** The task group (`service:web`, `family:web`): spread and distinctInstance count within it. */
  group: string;
}

/** One instance and what the tasks already placed on it take. */
interface Candidate {
  instance: ContainerInstanceRecord;
  usedCpu: number;
  usedMemory: number;
  usedPorts: Set<string>;
  /** Live tasks per group. */
  groups: Map<string, number>;
  tasks: number;
}

type Placement = { ok: true; candidate: Candidate } | { ok: false; reason: string; failure: { arn?: string; reason: string } };

/** ECS's service event when a task cannot be placed (searched for by people who see it). */
export const UNABLE_TO_PLACE = 'was unable to place a task because no container instance met all of its requirements.';
/** ECS's default for services: balanced over availability zones, then over instances. */
export const DEFAULT_SERVICE_STRATEGY: readonly PlacementStrategy[] = [
  { type: 'spread', field: 'attribute:ecs.availability-zone' },
  { type: 'spread', field: 'instanceId' },
];
/** RunTask's default (ECS: random). */
export const DEFAULT_RUN_TASK_STRATEGY: readonly PlacementStrategy[] = [{ type: 'random' }];
/** The ECS limits: 5 strategies, 10 constraints per request. */
const MAX_STRATEGIES = 5;
const MAX_CONSTRAINTS = 10;
const MAX_EXPRESSION = 2000;

/** A picture of one cluster's instances and their load, from the instances and their live tasks. */
export function candidatesOf(instances: readonly ContainerInstanceRecord[], placed: Iterable<{ instanceId: string; needs: TaskNeeds }>): Candidate[] {
  const byId = new Map<string, Candidate>();
  for (const instance of instances) {
    if (instance.status === 'INACTIVE') continue;
    byId.set(instance.id, { instance, usedCpu: 0, usedMemory: 0, usedPorts: new Set(), groups: new Map(), tasks: 0 });
  }
  for (const { instanceId, needs } of placed) {
    const c = byId.get(instanceId);
    if (c) reserve(c, needs);
  }
  return [...byId.values()].sort((a, b) => (a.instance.id < b.instance.id ? -1 : 1));
}

/** One cluster as a placement sees it: instances by id, and their load from the tasks placed on them. */
export interface ClusterPicture {
  instances: Map<string, ContainerInstanceRecord>;
  candidates: Candidate[];
}

/** Reads a cluster's picture from the store (every task not STOPPED holds its reservation). */
export async function loadPicture(store: EcsStore, cluster: string, taskDefinition: (arn: string) => Promise<TaskDefinitionRecord | undefined>): Promise<ClusterPicture> {
  const instances = await store.list<ContainerInstanceRecord>(ecsKeys.clusterInstances(cluster));
  const placed: { instanceId: string; needs: TaskNeeds }[] = [];
  for (const t of await store.list<TaskRecord>(ecsKeys.clusterTasks(cluster))) {
    if (t.containerInstanceId === undefined || t.lastStatus === 'STOPPED') continue;
    const td = await taskDefinition(t.taskDefinitionArn);
    if (td) placed.push({ instanceId: t.containerInstanceId, needs: needsOf(td, t.group) });
  }
  return { instances: new Map(instances.map((i) => [i.id, i])), candidates: candidatesOf(instances, placed) };
}

/** Writes the chosen instance on a task: its node runs it, its zone is the task's. */
export function assignInstance(task: TaskRecord, instance: ContainerInstanceRecord): void {
  task.node = instance.node;
  task.containerInstanceId = instance.id;
  const az = instance.attributes.find((a) => a.name === 'ecs.availability-zone')?.value;
  if (az) task.availabilityZone = az;
}

/** Counts a task placed on a candidate (so the next decision of the same pass sees it). */
export function reserve(c: Candidate, needs: TaskNeeds): void {
  c.usedCpu += needs.cpu;
  c.usedMemory += needs.memory;
  for (const p of needs.hostPorts) c.usedPorts.add(p);
  c.groups.set(needs.group, (c.groups.get(needs.group) ?? 0) + 1);
  c.tasks++;
}

/** Chooses an instance for a task, or says why none fits (ECS's wording). */
export function place(
  needs: TaskNeeds,
  all: readonly Candidate[],
  strategy: readonly PlacementStrategy[],
  constraints: readonly CompiledConstraint[],
  random: () => number = Math.random,
): Placement {
  if (all.length === 0) return fail('No Container Instances were found in your cluster.', 'MISSING');
  let set = all.filter((c) => c.instance.status === 'ACTIVE' && c.instance.agentConnected);
  if (set.length === 0) return fail('No ACTIVE container instances with a connected agent were found in your cluster.', 'AGENT', all[0]);
  for (const constraint of constraints) {
    const next = set.filter((c) => constraint.test(c, needs));
    if (next.length === 0) return fail(`The closest matching container-instance ${set[0]!.instance.id} encountered error "${constraint.failure}".`, 'CONSTRAINT', set[0]);
    set = next;
  }
  const cpuOk = set.filter((c) => c.instance.cpu - c.usedCpu >= needs.cpu);
  if (cpuOk.length === 0) return fail(`The closest matching container-instance ${closest(set).instance.id} has insufficient CPU units available.`, 'RESOURCE:CPU', closest(set));
  const memOk = cpuOk.filter((c) => c.instance.memory - c.usedMemory >= needs.memory);
  if (memOk.length === 0) return fail(`The closest matching container-instance ${closest(cpuOk).instance.id} has insufficient memory available.`, 'RESOURCE:MEMORY', closest(cpuOk));
  const portsOk = memOk.filter((c) => needs.hostPorts.every((p) => !c.usedPorts.has(p)));
  if (portsOk.length === 0) return fail(`The closest matching container-instance ${memOk[0]!.instance.id} is already using a port required by your task.`, 'RESOURCE:PORTS', memOk[0]);
  set = portsOk;
  for (const s of strategy) {
    if (set.length <= 1) break;
    set = narrow(set, all, s, needs, random);
  }
  const chosen = set.reduce((best, c) => (c.tasks < best.tasks ? c : best));
  return { ok: true, candidate: chosen };
}

function fail(why: string, reason: string, near?: Candidate): Placement {
  return { ok: false, reason: why, failure: { arn: near?.instance.arn, reason } };
}

/** The instance with the most memory left: what ECS calls "the closest matching". */
function closest(set: readonly Candidate[]): Candidate {
  return set.reduce((best, c) => (c.instance.memory - c.usedMemory > best.instance.memory - best.usedMemory ? c : best));
}

function narrow(set: Candidate[], all: readonly Candidate[], s: PlacementStrategy, needs: TaskNeeds, random: () => number): Candidate[] {
  if (s.type === 'random') return [set[Math.floor(random() * set.length)]!];
  if (s.type === 'binpack') {
    // Least of the resource left: fill one instance before the next.
    const left = (c: Candidate) => (s.field === 'cpu' ? c.instance.cpu - c.usedCpu : c.instance.memory - c.usedMemory);
    const min = Math.min(...set.map(left));
    return set.filter((c) => left(c) === min);
  }
  // spread: count the group's tasks per field value over every instance (ECS balances across all
  // of them, not only those that fit now), keep the candidates whose value has the fewest.
  const key = (c: Candidate) => fieldValue(c.instance, s.field ?? 'instanceId');
  const counts = new Map<string, number>();
  for (const c of all) counts.set(key(c), (counts.get(key(c)) ?? 0) + (c.groups.get(needs.group) ?? 0));
  const min = Math.min(...set.map((c) => counts.get(key(c)) ?? 0));
  return set.filter((c) => (counts.get(key(c)) ?? 0) === min);
}

const ATTRIBUTE = 'attribute:';

function fieldValue(instance: ContainerInstanceRecord, field: string): string {
  if (field === 'instanceId' || field === 'host') return instance.id;
  const name = field.startsWith(ATTRIBUTE) ? field.slice(ATTRIBUTE.length) : field;
  return instance.attributes.find((a) => a.name === name)?.value ?? '';
}

// ---------------------------------------------------------------- parsing

/** `placementStrategy` of a request; undefined when absent. */
export function parsePlacementStrategy(b: Json): PlacementStrategy[] | undefined {
  const list = arr(b, 'placementStrategy');
  if (list === undefined) return undefined;
  if (list.length > MAX_STRATEGIES) throw invalidParameter(`placementStrategy can have at most ${MAX_STRATEGIES} items.`);
  return list.map((item, i) => {
    const o = asObject(item, `placementStrategy[${i}]`);
    const type = str(o, `placementStrategy[${i}].type`, { required: true, oneOf: ['random', 'spread', 'binpack'] }) as PlacementStrategy['type'];
    const field = str(o, `placementStrategy[${i}].field`, { max: 255 });
    if (type === 'binpack') {
      if (field !== 'memory' && field !== 'cpu') throw invalidParameter(`Invalid field for binpack placement strategy: ${field ?? '(none)'}. Valid values are cpu and memory.`);
      return { type, field };
    }
    if (type === 'spread') {
      if (!field) throw invalidParameter('A spread placement strategy needs a field (instanceId, host or attribute:<name>).');
      if (field !== 'instanceId' && field !== 'host' && !/^attribute:[A-Za-z0-9_.\-/]{1,128}$/.test(field)) {
        throw invalidParameter(`Invalid field for spread placement strategy: ${field}. Valid values are instanceId, host or attribute:<name>.`);
      }
      return { type, field };
    }
    if (field !== undefined) throw invalidParameter('A random placement strategy takes no field.');
    return { type };
  });
}

/** `placementConstraints` of a request (expressions checked here, so a bad one fails the call). */
export function parsePlacementConstraints(b: Json): PlacementConstraint[] | undefined {
  const list = arr(b, 'placementConstraints');
  if (list === undefined) return undefined;
  if (list.length > MAX_CONSTRAINTS) throw invalidParameter(`placementConstraints can have at most ${MAX_CONSTRAINTS} items.`);
  return list.map((item, i) => {
    const o = asObject(item, `placementConstraints[${i}]`);
    const type = str(o, `placementConstraints[${i}].type`, { required: true, oneOf: ['distinctInstance', 'memberOf'] }) as PlacementConstraint['type'];
    const expression = str(o, `placementConstraints[${i}].expression`, { max: MAX_EXPRESSION });
    if (type === 'memberOf') {
      if (!expression) throw invalidParameter('A memberOf placement constraint needs an expression.');
      compileExpression(expression);
      return { type, expression };
    }
    if (expression !== undefined) throw invalidParameter('A distinctInstance placement constraint takes no expression.');
    return { type };
  });
}

function asObject(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidParameter(`${what} must be an object.`);
  return v as Json;
}

interface CompiledConstraint {
  test(c: Candidate, needs: TaskNeeds): boolean;
  /** ECS's error text when no instance passes. */
  failure: string;
}

/** Constraints in checkable form; their expressions were validated when they were stored. */
export function compileConstraints(constraints: readonly PlacementConstraint[]): CompiledConstraint[] {
  return constraints.map((c) => {
    if (c.type === 'distinctInstance') return { test: (cand, needs) => (cand.groups.get(needs.group) ?? 0) === 0, failure: 'DistinctInstance placement constraint unsatisfied.' };
    const matches = compileExpression(c.expression ?? '');
    return { test: (cand) => matches(cand.instance), failure: 'MemberOf placement constraint unsatisfied.' };
  });
}

/**
 * A subset of ECS's cluster query language: terms joined by `and` / `or` (`and` binds tighter, no
 * parentheses); a term is `<subject> == v`, `!= v`, `=~ pattern*`, `in [a, b]`, `not in [a, b]`,
 * `exists`, `not exists`, where the subject is `attribute:<name>`, `ec2InstanceId` or `instanceId`.
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html
 */
export function compileExpression(expression: string): (instance: ContainerInstanceRecord) => boolean {
  const alternatives = expression.split(/\s+(?:or|\|\|)\s+/i).map((alt) => alt.split(/\s+(?:and|&&)\s+/i).map(compileTerm));
  return (instance) => alternatives.some((terms) => terms.every((t) => t(instance)));
}

const TERM = /^\s*(attribute:[A-Za-z0-9_.\-/]{1,128}|ec2InstanceId|instanceId)\s+(==|!=|=~|in|not\s+in|exists|not\s+exists|!\s*exists)\s*(.*?)\s*$/i;

function compileTerm(text: string): (instance: ContainerInstanceRecord) => boolean {
  const m = TERM.exec(text);
  if (!m) throw invalidParameter(`Invalid placement constraint expression: ${JSON.stringify(text.trim())}. Expected e.g. attribute:ecs.availability-zone in [us-east-1a, us-east-1b].`);
  const subject = m[1]!;
  const op = m[2]!.toLowerCase().replace(/\s+/g, ' ');
  const operand = m[3]!;
  const attribute = subject.startsWith(ATTRIBUTE) ? subject.slice(ATTRIBUTE.length) : undefined;
  const valueOf = (i: ContainerInstanceRecord): string | undefined => {
    if (attribute === undefined) return subject === 'ec2InstanceId' ? i.ec2InstanceId : i.id;
    const a = i.attributes.find((x) => x.name === attribute);
    return a === undefined ? undefined : (a.value ?? '');
  };
  if (op === 'exists' || op === 'not exists' || op === '! exists' || op === '!exists') {
    if (operand !== '') throw invalidParameter(`Invalid placement constraint expression: nothing may follow ${op}.`);
    const want = op === 'exists';
    return (i) => (valueOf(i) !== undefined) === want;
  }
  if (operand === '') throw invalidParameter(`Invalid placement constraint expression: ${op} needs a value.`);
  if (op === 'in' || op === 'not in') {
    const list = /^\[(.*)\]$/.exec(operand);
    if (!list) throw invalidParameter(`Invalid placement constraint expression: ${op} needs a list like [a, b].`);
    const values = new Set(list[1]!.split(',').map((v) => unquote(v.trim())).filter((v) => v !== ''));
    const want = op === 'in';
    return (i) => {
      const v = valueOf(i);
      return v !== undefined && values.has(v) === want;
    };
  }
  const value = unquote(operand);
  if (op === '=~') {
    const re = new RegExp(`^${value.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    return (i) => re.test(valueOf(i) ?? '');
  }
  const want = op === '==';
  return (i) => {
    const v = valueOf(i);
    return v !== undefined && (v === value) === want;
  };
}

function unquote(v: string): string {
  return /^(['"]).*\1$/.test(v) ? v.slice(1, -1) : v;
}

// ---------------------------------------------------------------- task needs

/** A task definition's reservation: task-level cpu/memory, else the sum of its containers'. */
export function needsOf(td: TaskDefinitionRecord, group: string): TaskNeeds {
  const cpu = td.cpu !== undefined ? units(td.cpu, 'cpu') : td.containerDefinitions.reduce((s, c) => s + (c.cpu ?? 0), 0);
  const memory = td.memory !== undefined ? units(td.memory, 'memory') : td.containerDefinitions.reduce((s, c) => s + (c.memory ?? c.memoryReservation ?? 0), 0);
  const hostPorts =
    td.networkMode === 'awsvpc' || td.networkMode === 'none'
      ? []
      : [...new Set(td.containerDefinitions.flatMap((c) => c.portMappings.map((m) => `${m.hostPort || m.containerPort}/${m.protocol}`)))];
  return { cpu, memory, hostPorts, group };
}

/** `"256"`, `"1 vCPU"`, `"0.5 vcpu"` → CPU units; `"512"`, `"2 GB"` → MiB. */
function units(text: string, kind: 'cpu' | 'memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return 0;
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  if (kind === 'cpu') return unit === 'vcpu' ? Math.round(n * 1024) : Math.round(n);
  return unit === 'gb' ? Math.round(n * 1024) : Math.round(n);
}

/** memberOf constraints of the task definition (`placementConstraints`, echoed in `extra`). */
export function taskDefinitionConstraints(td: TaskDefinitionRecord): { type: 'memberOf'; expression: string }[] {
  const list = td.extra['placementConstraints'];
  if (!Array.isArray(list)) return [];
  return list.flatMap((c: unknown) => {
    const o = c as { type?: unknown; expression?: unknown };
    return o && o.type === 'memberOf' && typeof o.expression === 'string' ? [{ type: 'memberOf' as const, expression: o.expression }] : [];
  });
}
