import { createHash } from 'node:crypto';
import { arch, cpus, totalmem } from 'node:os';
import { parseArn } from '../lib/index.ts';
import { invalidParameter } from './errors.ts';
import { isLive, type ClusterRecord, type ContainerInstanceRecord, type InstanceAttribute, type TaskRecord } from './model.ts';
import { containerInstanceArn, countTasks, seconds } from './output.ts';
import { int, isObject, objects, str, type Json } from './validate.ts';

/*
 * Container instances: the built-in instance of a server, the ECS wire shape, and the parsing the
 * container instance operations (ops/instances.ts) share.
 */

/** Attributes per instance (ECS: 10 custom ones; Pharos adds its own few). */
const MAX_ATTRIBUTES = 32;
/** Memory kept back from tasks on a host (MiB), as the ECS agent's ECS_RESERVED_MEMORY would. */
const RESERVED_MEMORY_MIB = 256;
/** Version string the agent and the built-in instance report (`versionInfo.agentVersion`). */
export const AGENT_VERSION = 'pharos-0.1.0';

/**
 * The built-in instance of a server in a cluster: the id is derived from the node name and the
 * cluster, so a restarted server finds its own instance again.
 */
export function builtinInstance(cluster: ClusterRecord, node: string, availabilityZone: string, now: number): ContainerInstanceRecord {
  const id = createHash('sha256').update(`builtin\0${node}\0${cluster.name}`).digest('hex').slice(0, 32);
  return {
    id,
    arn: containerInstanceArn(cluster.arn, cluster.name, id),
    clusterName: cluster.name,
    node,
    ec2InstanceId: `pharos-server-${node}`,
    builtin: true,
    status: 'ACTIVE',
    agentConnected: true,
    lastHeartbeatAt: now,
    registeredAt: now,
    ...hostResources(),
    attributes: defaultAttributes(availabilityZone),
    agentVersion: AGENT_VERSION,
    version: 1,
  };
}

/** This host's CPU units (1024 per core) and memory (MiB, less RESERVED_MEMORY_MIB). */
export function hostResources(): { cpu: number; memory: number } {
  return { cpu: Math.max(1, cpus().length) * 1024, memory: Math.max(0, Math.floor(totalmem() / 2 ** 20) - RESERVED_MEMORY_MIB) };
}

/** The attributes ECS sets on every instance (the availability zone is what spread uses by default). */
export function defaultAttributes(availabilityZone: string): InstanceAttribute[] {
  return [
    { name: 'ecs.availability-zone', value: availabilityZone },
    { name: 'ecs.os-type', value: 'linux' },
    { name: 'ecs.cpu-architecture', value: arch() === 'arm64' ? 'arm64' : 'x86_64' },
    { name: 'ecs.capability.task-eni' },
  ];
}

export function mergeAttributes(base: InstanceAttribute[], extra: InstanceAttribute[]): InstanceAttribute[] {
  const out = new Map(base.map((a) => [a.name, a]));
  for (const a of extra) out.set(a.name, a);
  return [...out.values()];
}

/** Instance id from an id or `…:container-instance/[<cluster>/]<id>`. */
export function instanceIdOf(ref: string): string | undefined {
  const id = ref.startsWith('arn:') ? ((parseArn(ref)?.resource ?? '').startsWith('container-instance/') ? (parseArn(ref)!.resource.split('/').at(-1) ?? '') : '') : ref;
  return /^[a-f0-9]{32}$/.test(id) ? id : undefined;
}

/** The ECS ContainerInstance shape; counts and remaining resources from the instance's live tasks. */
export function containerInstanceOut(i: ContainerInstanceRecord, clusterTasks: readonly TaskRecord[]): Record<string, unknown> {
  const mine = clusterTasks.filter((t) => t.containerInstanceId === i.id);
  const counts = countTasks(mine);
  const holding = mine.filter((t) => t.lastStatus !== 'STOPPED');
  const cpu = holding.reduce((s, t) => s + (Number(t.cpu) || 0), 0);
  const memory = holding.reduce((s, t) => s + (Number(t.memory) || 0), 0);
  const ports = holding.filter((t) => isLive(t) && t.networkMode !== 'awsvpc').flatMap((t) => t.containers.flatMap((c) => c.networkBindings));
  const resources = (cpuUnits: number, mem: number, tcp: string[], udp: string[]) => [
    { name: 'CPU', type: 'INTEGER', integerValue: cpuUnits, doubleValue: 0, longValue: 0 },
    { name: 'MEMORY', type: 'INTEGER', integerValue: mem, doubleValue: 0, longValue: 0 },
    { name: 'PORTS', type: 'STRINGSET', stringSetValue: tcp, doubleValue: 0, longValue: 0, integerValue: 0 },
    { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: udp, doubleValue: 0, longValue: 0, integerValue: 0 },
  ];
  return {
    containerInstanceArn: i.arn,
    ec2InstanceId: i.ec2InstanceId,
    version: i.version,
    versionInfo: { agentVersion: i.agentVersion ?? AGENT_VERSION },
    status: i.status,
    agentConnected: i.agentConnected,
    runningTasksCount: counts.running,
    pendingTasksCount: counts.pending,
    registeredResources: resources(i.cpu, i.memory, [], []),
    remainingResources: resources(
      Math.max(0, i.cpu - cpu),
      Math.max(0, i.memory - memory),
      ports.filter((p) => p.protocol === 'tcp').map((p) => String(p.hostPort)),
      ports.filter((p) => p.protocol === 'udp').map((p) => String(p.hostPort)),
    ),
    attributes: i.attributes.map((a) => (a.value === undefined ? { name: a.name } : { name: a.name, value: a.value })),
    registeredAt: seconds(i.registeredAt),
    attachments: [],
    tags: [],
    capacityProviderName: i.builtin ? 'pharos-builtin' : undefined,
  };
}

// ---------------------------------------------------------------- parsing

/** An optional object member (`{}` when absent). */
export function optionalObject(b: Json, key: string): Json {
  const v = b[key];
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalidParameter(`${key} must be an object.`);
  return v;
}

/** The EC2 identity document's fields Pharos reads (ECS checks its signature; Pharos trusts the signed API call instead). */
export function parseIdentityDocument(text: string | undefined): { instanceId?: string; availabilityZone?: string } {
  if (text === undefined) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalidParameter('instanceIdentityDocument must be a JSON document.');
  }
  if (!isObject(doc)) throw invalidParameter('instanceIdentityDocument must be a JSON object.');
  const out: { instanceId?: string; availabilityZone?: string } = {};
  const instanceId = str(doc, 'instanceIdentityDocument.instanceId', { max: 255 });
  const az = str(doc, 'instanceIdentityDocument.availabilityZone', { max: 64, pattern: /^[a-z0-9-]+$/, patternHelp: 'must be letters, digits and hyphens.' });
  if (instanceId !== undefined) out.instanceId = instanceId;
  if (az !== undefined) out.availabilityZone = az;
  return out;
}

export function parseResources(b: Json): { cpu?: number; memory?: number } {
  const out: { cpu?: number; memory?: number } = {};
  for (const [i, r] of (objects(b, 'totalResources', { max: 16 }) ?? []).entries()) {
    const name = str(r, `totalResources[${i}].name`, { required: true, max: 64 })!;
    if (name !== 'CPU' && name !== 'MEMORY') continue;
    const value = int(r, `totalResources[${i}].integerValue`, { required: true, min: 0, max: 2 ** 31 - 1 })!;
    if (name === 'CPU') out.cpu = value;
    else out.memory = value;
  }
  return out;
}

/** `[{name, value?}]`: names as ECS allows them (letters, digits, `._-/`), values up to 128 characters. */
export function parseAttributes(b: Json, key: string): InstanceAttribute[] {
  return (objects(b, key, { max: MAX_ATTRIBUTES }) ?? []).map((a, i) => {
    const name = str(a, `${key}[${i}].name`, { required: true, max: 128, pattern: /^[A-Za-z0-9_.\-/]+$/, patternHelp: 'must be letters, digits, periods, hyphens, underscores and slashes.' })!;
    const value = str(a, `${key}[${i}].value`, { max: 128 });
    return value === undefined ? { name } : { name, value };
  });
}
