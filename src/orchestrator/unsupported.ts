import { clientException } from './errors.ts';
import type { Json } from './validate.ts';

/**
 * Task definition fields the process and netns runtimes cannot honour. ECS would apply them; a
 * task that silently ran without them (a writable root, no volume, extra privileges assumed
 * absent) would not be the task that was asked for, so RegisterTaskDefinition refuses them with
 * ECS's ClientException and says why. A value that asks for nothing (false, an empty list) is
 * accepted.
 */
const CONTAINER_FIELDS: Readonly<Record<string, string>> = {
  readonlyRootFilesystem: 'containers are processes on the host filesystem, which Pharos cannot make read-only for one task',
  privileged: 'Pharos does not run privileged containers',
  linuxParameters: 'capabilities, devices, tmpfs, init and shared memory are not applied by Pharos (containers are plain processes)',
  mountPoints: 'Pharos mounts no volumes: containers see the host filesystem',
  volumesFrom: 'Pharos mounts no volumes: containers see the host filesystem',
  ulimits: 'Pharos does not set per-container resource limits',
  dockerSecurityOptions: 'Pharos applies no SELinux, AppArmor or seccomp profiles',
  systemControls: 'Pharos sets no per-task kernel parameters',
  secrets: 'Pharos has no secrets store to read them from',
  repositoryCredentials: 'Pharos pulls no images',
};
const TASK_FIELDS: Readonly<Record<string, string>> = {
  volumes: 'Pharos mounts no volumes: containers see the host filesystem',
  pidMode: 'Pharos does not share PID namespaces',
  ipcMode: 'Pharos does not share IPC namespaces',
};

/** Throws ClientException for the first field in `fields` that `o` sets to something. */
function refuse(o: Json, fields: Readonly<Record<string, string>>, where: string): void {
  for (const [field, why] of Object.entries(fields)) {
    if (asksForSomething(o[field])) throw clientException(`${where}${field} is not supported: ${why}. Remove it from the task definition.`);
  }
}

function asksForSomething(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Refuses what the runtime cannot honour in a RegisterTaskDefinition body and its containers. */
export function refuseUnsupported(input: Json, containers: readonly Json[]): void {
  refuse(input, TASK_FIELDS, '');
  containers.forEach((c, i) => refuse(c, CONTAINER_FIELDS, `containerDefinitions[${i}].`));
}
