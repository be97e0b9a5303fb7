import { clientException, invalidParameter } from './errors.ts';
import { NAME_PATTERN, type ContainerDefinition, type ContainerHealthCheck, type KeyValuePair, type NetworkMode, type PortMapping, type TaskDefinitionRecord } from './model.ts';
import { refuseUnsupported } from './unsupported.ts';
import { arr, bool, int, isObject, objects, str, strings, type Json } from './validate.ts';

/** `family` and container names: ECS allows up to 255 letters, digits, hyphens and underscores. */
/** Container health check limits and defaults, in seconds (docs/compatibility.md#container-health-checks). */
const HEALTH_CHECK_LIMITS = {
  interval: { min: 5, max: 300, default: 30 },
  timeout: { min: 2, max: 60, default: 5 },
  retries: { min: 1, max: 10, default: 3 },
  startPeriod: { min: 0, max: 300 },
} as const;
/** ECS `stopTimeout` bounds in seconds; the default is 30 (the ECS agent's). */
export const STOP_TIMEOUT_LIMITS = { min: 2, max: 120, default: 30 } as const;
const NETWORK_MODES: readonly NetworkMode[] = ['bridge', 'host', 'awsvpc', 'none'];
const COMPATIBILITIES = ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] as const;
/** ECS container `user`: a name or number, optionally `:` a group name or number. */
const USER_PATTERN = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31})?$/;
/** Container definitions per task definition (the ECS quota). */
const MAX_CONTAINERS = 10;
/** Fields of RegisterTaskDefinition that Pharos stores and echoes back without interpreting them. */
const ECHOED_FIELDS = ['volumes', 'placementConstraints', 'pidMode', 'ipcMode', 'proxyConfiguration', 'inferenceAccelerators', 'ephemeralStorage', 'runtimePlatform'];

/** Validates a RegisterTaskDefinition body into the record fields (without arn/revision). */
export function parseTaskDefinition(input: Json): Omit<TaskDefinitionRecord, 'arn' | 'revision' | 'registeredAt' | 'status' | 'tags'> {
  const family = str(input, 'family', { required: true, code: 'ClientException', pattern: NAME_PATTERN, patternHelp: 'must be up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.' })!;
  const networkMode = (str(input, 'networkMode', { oneOf: NETWORK_MODES }) ?? 'bridge') as NetworkMode;
  const requiresCompatibilities = strings(input, 'requiresCompatibilities');
  for (const c of requiresCompatibilities ?? []) {
    if (!(COMPATIBILITIES as readonly string[]).includes(c)) throw invalidParameter(`requiresCompatibilities must contain only ${COMPATIBILITIES.join(', ')}.`);
  }
  const cpu = taskSize(input, 'cpu');
  const memory = taskSize(input, 'memory');
  if (requiresCompatibilities?.includes('FARGATE')) {
    if (networkMode !== 'awsvpc') throw clientException('Fargate only supports network mode \'awsvpc\'.');
    if (cpu === undefined || memory === undefined) throw clientException('Fargate requires that \'cpu\' be defined at the task level.');
  }
  const defs = objects(input, 'containerDefinitions', { required: true, code: 'ClientException', min: 1, max: MAX_CONTAINERS })!;
  refuseUnsupported(input, defs);
  const containerDefinitions = defs.map((d, i) => parseContainer(d, i, networkMode));
  const names = new Set<string>();
  for (const c of containerDefinitions) {
    if (names.has(c.name)) throw clientException(`Duplicate container name "${c.name}" in the task definition.`);
    names.add(c.name);
  }
  if (!containerDefinitions.some((c) => c.essential)) throw clientException('A task definition must have at least one essential container.');
  checkDependencies(containerDefinitions);
  const extra: Record<string, unknown> = {};
  for (const f of ECHOED_FIELDS) if (input[f] !== undefined && input[f] !== null) extra[f] = input[f];
  return {
    family,
    networkMode,
    containerDefinitions,
    requiresCompatibilities,
    // What the definition can run on: EC2 always; FARGATE when it has the shape Fargate needs.
    compatibilities: networkMode === 'awsvpc' && cpu !== undefined && memory !== undefined ? ['EC2', 'FARGATE'] : ['EC2'],
    cpu,
    memory,
    taskRoleArn: str(input, 'taskRoleArn', { max: 2048 }),
    executionRoleArn: str(input, 'executionRoleArn', { max: 2048 }),
    extra,
  };
}

/** Task-level cpu/memory: strings in the model ("256", "1 vCPU", "0.5 GB"); kept as given. */
function taskSize(input: Json, field: string): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return String(v);
  if (typeof v !== 'string' || v.trim() === '' || v.length > 32) throw clientException(`${field} must be a string such as "256" or "1 vCPU".`);
  return v;
}

function parseContainer(d: Json, i: number, networkMode: NetworkMode): ContainerDefinition {
  const p = `containerDefinitions[${i}]`;
  const name = d['name'];
  if (typeof name !== 'string' || name === '') throw clientException('Container.name should not be null or empty.');
  if (!NAME_PATTERN.test(name)) throw clientException(`Container.name "${name.slice(0, 300)}" must be up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.`);
  const image = d['image'];
  if (typeof image !== 'string' || image === '') throw clientException('Container.image should not be null or empty.');
  if (image.length > 1024) throw clientException('Container.image must be at most 1024 characters long.');
  const command = execArgs(d, `${p}.command`);
  const entryPoint = execArgs(d, `${p}.entryPoint`);
  const environment = parsePairs(d, `${p}.environment`);
  const workingDir = str(d, `${p}.workingDir`, { max: 4096 });
  // Docker's forms: user, uid, user:group, uid:gid (the runtime resolves names when the task starts).
  const user = str(d, `${p}.user`, { code: 'ClientException', pattern: USER_PATTERN, patternHelp: 'must be user, uid, user:group or uid:gid.' });
  const essential = bool(d, `${p}.essential`) ?? true;
  const portMappings = (objects(d, `${p}.portMappings`) ?? []).map((m, j) => parsePortMapping(m, `${p}.portMappings[${j}]`, networkMode));
  const seen = new Set<string>();
  for (const m of portMappings) {
    const k = `${m.containerPort}/${m.protocol}`;
    if (seen.has(k)) throw invalidParameter(`${p}.portMappings has container port ${k} more than once.`);
    seen.add(k);
  }
  const healthCheck = parseHealthCheck(d, `${p}.healthCheck`);
  const stopTimeout = int(d, `${p}.stopTimeout`, STOP_TIMEOUT_LIMITS);
  const cpu = int(d, `${p}.cpu`, { min: 0, max: 10_240 * 1024 }) ?? 0;
  const memory = int(d, `${p}.memory`, { min: 6 });
  const memoryReservation = int(d, `${p}.memoryReservation`, { min: 4 });
  const out: ContainerDefinition = { ...d, name, image, environment, portMappings, essential, cpu, mountPoints: d['mountPoints'] ?? [], volumesFrom: d['volumesFrom'] ?? [] };
  setIf(out, 'command', command);
  setIf(out, 'entryPoint', entryPoint);
  setIf(out, 'workingDir', workingDir);
  setIf(out, 'user', user);
  setIf(out, 'healthCheck', healthCheck);
  setIf(out, 'stopTimeout', stopTimeout);
  setIf(out, 'memory', memory);
  setIf(out, 'memoryReservation', memoryReservation);
  return out;
}

/** ECS `dependsOn` conditions. */
const DEPENDENCY_CONDITIONS = ['START', 'COMPLETE', 'SUCCESS', 'HEALTHY'] as const;

/** `dependsOn`: shape, known containers, HEALTHY only on containers with a health check, no cycles. */
function checkDependencies(defs: ContainerDefinition[]): void {
  const byName = new Map(defs.map((c) => [c.name, c]));
  for (const [i, c] of defs.entries()) {
    const raw = c['dependsOn'];
    if (raw === undefined || raw === null) continue;
    if (!Array.isArray(raw)) throw clientException(`containerDefinitions[${i}].dependsOn must be a list.`);
    for (const d of raw as unknown[]) {
      const dep = d as { containerName?: unknown; condition?: unknown };
      if (!isObject(d) || typeof dep.containerName !== 'string' || !(DEPENDENCY_CONDITIONS as readonly unknown[]).includes(dep.condition)) {
        throw clientException(`containerDefinitions[${i}].dependsOn entries need a containerName and a condition (${DEPENDENCY_CONDITIONS.join(', ')}).`);
      }
      const target = byName.get(dep.containerName);
      if (!target || target === c) throw clientException(`Container ${c.name} depends on "${dep.containerName}", which is not another container of the task definition.`);
      if (dep.condition === 'HEALTHY' && !target.healthCheck) throw clientException(`Container ${c.name} depends on ${target.name} being HEALTHY, but ${target.name} has no healthCheck.`);
      if ((dep.condition === 'COMPLETE' || dep.condition === 'SUCCESS') && target.essential) {
        throw clientException(`Container ${c.name} depends on ${target.name} with condition ${dep.condition}, so ${target.name} must not be essential.`);
      }
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw clientException(`Container dependencies form a cycle through ${name}.`);
    state.set(name, 'visiting');
    for (const d of (byName.get(name)!['dependsOn'] as { containerName: string }[] | undefined) ?? []) visit(d.containerName);
    state.set(name, 'done');
  };
  for (const c of defs) visit(c.name);
}

function setIf<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v === undefined) delete o[k];
  else o[k] = v;
}

export function parsePairs(d: Json, path: string): KeyValuePair[] {
  return (objects(d, path) ?? []).map((e, j) => {
    const name = str(e, `${path}[${j}].name`, { required: true, min: 1, max: 4096, pattern: NO_NUL, patternHelp: NO_NUL_HELP })!;
    const value = str(e, `${path}[${j}].value`, { max: 32_768, pattern: NO_NUL, patternHelp: NO_NUL_HELP }) ?? '';
    return { name, value };
  });
}

/**
 * A process's arguments and environment are C strings: a NUL in them can never reach the program
 * (the task would fail at every start, a health check at every run), so it is refused when the
 * task definition or override is given. Other control characters are left alone: a tab or newline in an argument is ordinary.
 */
const NO_NUL = /^[^\u0000]*$/;
const NO_NUL_HELP = 'must not contain a NUL character (a process cannot receive one).';

/** `command` / `entryPoint`: strings without NUL. */
export function execArgs(d: Json, path: string): string[] | undefined {
  const args = strings(d, path, { itemMax: 32_768 });
  args?.forEach((a, i) => {
    if (!NO_NUL.test(a)) throw invalidParameter(`${path}[${i}] ${NO_NUL_HELP}`);
  });
  return args;
}

function parsePortMapping(m: Json, p: string, networkMode: NetworkMode): PortMapping {
  const containerPort = int(m, `${p}.containerPort`, { required: true, min: 1, max: 65535 })!;
  let hostPort = int(m, `${p}.hostPort`, { min: 0, max: 65535 });
  const protocol = (str(m, `${p}.protocol`, { oneOf: ['tcp', 'udp'] }) ?? 'tcp') as 'tcp' | 'udp';
  if (networkMode === 'awsvpc' || networkMode === 'host') {
    // ECS: "When networkMode=awsvpc, the host ports and container ports in port mappings must match."
    if (hostPort !== undefined && hostPort !== containerPort) {
      throw invalidParameter(`When networkMode=${networkMode}, the host ports and container ports in port mappings must match.`);
    }
    hostPort = containerPort;
  } else if (hostPort === undefined || hostPort === 0) {
    // Bridge tasks run on the host network in Pharos, so a dynamic host port is the container port.
    hostPort = containerPort;
  } else if (hostPort !== containerPort) {
    throw invalidParameter(`${p}: Pharos runs bridge tasks on the host network, so hostPort must be 0 or equal containerPort.`);
  }
  const out: PortMapping = { containerPort, hostPort, protocol };
  const name = str(m, `${p}.name`, { max: 64 });
  if (name !== undefined) out.name = name;
  const appProtocol = str(m, `${p}.appProtocol`, { oneOf: ['http', 'http2', 'grpc'] });
  if (appProtocol !== undefined) out.appProtocol = appProtocol;
  return out;
}

function parseHealthCheck(d: Json, p: string): ContainerHealthCheck | undefined {
  const raw = d['healthCheck'];
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw clientException(`${p} must be an object.`);
  const command = arr(raw, `${p}.command`, { required: true, code: 'ClientException', min: 1 })!;
  if (!command.every((c) => typeof c === 'string')) throw clientException(`${p}.command must be a list of strings.`);
  command.forEach((c, i) => {
    if (!NO_NUL.test(c as string)) throw clientException(`${p}.command[${i}] ${NO_NUL_HELP}`);
  });
  const kind = command[0] as string;
  if (kind !== 'CMD' && kind !== 'CMD-SHELL' && kind !== 'NONE') {
    throw clientException(`${p}.command must start with "CMD", "CMD-SHELL" or "NONE".`);
  }
  if (kind !== 'NONE' && command.length < 2) throw clientException(`${p}.command must name the command to run after "${kind}".`);
  const L = HEALTH_CHECK_LIMITS;
  const out: ContainerHealthCheck = {
    command: command as string[],
    interval: int(raw, `${p}.interval`, { code: 'ClientException', min: L.interval.min, max: L.interval.max }) ?? L.interval.default,
    timeout: int(raw, `${p}.timeout`, { code: 'ClientException', min: L.timeout.min, max: L.timeout.max }) ?? L.timeout.default,
    retries: int(raw, `${p}.retries`, { code: 'ClientException', min: L.retries.min, max: L.retries.max }) ?? L.retries.default,
  };
  const startPeriod = int(raw, `${p}.startPeriod`, { code: 'ClientException', min: L.startPeriod.min, max: L.startPeriod.max });
  if (startPeriod !== undefined) out.startPeriod = startPeriod;
  return out;
}
