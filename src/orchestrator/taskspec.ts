import { constants as osConstants } from 'node:os';
import { PharosError } from '../lib/index.ts';
import { commandArgv } from '../health/index.ts';
import type { ContainerSpec, TaskSpec } from '../runtime/index.ts';
import { TASK_NOT_RUNNABLE } from './errors.ts';
import type { TaskDefinitionRecord, TaskRecord } from './model.ts';
import { STOP_TIMEOUT_LIMITS } from './taskdef.ts';

/**
 * What the runtime runs for a task: its definition's containers with the task's overrides.
 * Throws `TASK_NOT_RUNNABLE` (the task then fails to start) for what Pharos cannot run.
 */
export function taskSpecOf(task: TaskRecord, td: TaskDefinitionRecord): TaskSpec {
  if (td.networkMode === 'none') throw new PharosError(TASK_NOT_RUNNABLE, "CannotStartContainerError: network mode 'none' is not supported by Pharos");
  const containers: ContainerSpec[] = td.containerDefinitions.map((c) => {
    const o = task.overrides.containerOverrides.find((x) => x.name === c.name);
    const env: Record<string, string> = {};
    for (const e of c.environment) env[e.name] = e.value;
    for (const e of o?.environment ?? []) env[e.name] = e.value;
    const spec: ContainerSpec = {
      name: c.name,
      image: c.image,
      environment: env,
      essential: c.essential,
      portMappings: c.portMappings.map((m) => ({ containerPort: m.containerPort, hostPort: m.hostPort, protocol: m.protocol })),
    };
    const command = o?.command ?? c.command;
    if (command) spec.command = command;
    if (c.entryPoint) spec.entryPoint = c.entryPoint;
    if (c.workingDir) spec.workingDirectory = c.workingDir;
    if (c.user) spec.user = c.user;
    if (c.memory !== undefined) spec.memoryMiB = c.memory;
    if (c.cpu > 0) spec.cpuUnits = c.cpu;
    if (Array.isArray(c['dependsOn'])) spec.dependsOn = c['dependsOn'] as ContainerSpec['dependsOn'];
    if (c.healthCheck && c.healthCheck.command[0] !== 'NONE') {
      spec.healthCheck = { argv: commandArgv(c.healthCheck.command), intervalMs: c.healthCheck.interval * 1000, timeoutMs: c.healthCheck.timeout * 1000 };
    }
    return spec;
  });
  return { taskId: task.id, cluster: task.clusterName, networkMode: td.networkMode, containers };
}

/** The longest stopTimeout of the task's containers (ECS applies it per container; Pharos stops the task as one). */
export function stopTimeoutMs(td: TaskDefinitionRecord | undefined): number {
  const values = (td?.containerDefinitions ?? []).map((c) => c.stopTimeout ?? STOP_TIMEOUT_LIMITS.default);
  return Math.max(STOP_TIMEOUT_LIMITS.min, ...values) * 1000;
}

/** Docker's convention: a process killed by a signal exits with 128 + the signal number (SIGKILL → 137). */
export function exitCodeOf(exitCode: number | null | undefined, signal: NodeJS.Signals | null | undefined): number | undefined {
  if (exitCode !== null && exitCode !== undefined) return exitCode;
  const n = signal ? osConstants.signals[signal] : undefined;
  return n === undefined ? undefined : 128 + n;
}

/** A stable, locally administered MAC for the task's "ENI" (DescribeTasks shows one). */
export function macOf(taskId: string): string {
  const b = taskId.slice(0, 10).match(/../g) ?? [];
  return ['0a', ...b].join(':');
}
