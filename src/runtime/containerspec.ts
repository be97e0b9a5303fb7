import type Docker from 'dockerode';
import { BadContainerSpecError } from './errors.ts';
import { serverIdentity } from './orphans.ts';
import type { ContainerSpec, NetworkBinding, NetworkMode, PortMappingSpec, TaskSpec } from './runtime.ts';

/**
 * What the container runtime asks the engine to create: names, labels, network settings and
 * limits of one container, its start order and what its exit means. Pure functions; the engine
 * calls are in container.ts and containertask.ts.
 */

/**
 * Labels on every container Pharos creates, so it finds its own (cleanup, adoption after a
 * restart) and so `docker ps --filter label=pharos.task-id=…` answers operators.
 */
export const LABELS = {
  /** The runtime's name prefix: cleanup() only touches containers with its own scope. */
  scope: 'pharos.scope',
  /** `<pid>@<start time>` of the server that created it: a dead server's containers are adopted or removed. */
  server: 'pharos.server',
  cluster: 'pharos.cluster',
  taskId: 'pharos.task-id',
  containerName: 'pharos.container-name',
  /** `pause` on the container that holds an awsvpc task's network namespace (no container name). */
  role: 'pharos.role',
} as const;

export const DEFAULT_CONTAINER_PREFIX = 'pharos-';

/** Where a container's network comes from. */
export type ContainerNetworkPlan =
  | { mode: 'host' }
  /** The engine's bridge network, ports published (hostPort 0 = one the engine picks). */
  | { mode: 'bridge'; network: string }
  /**
   * The task's namespace: `networkMode` is `ns:<path>` (joined by path, Podman) or
   * `container:<pause id>` (the pause container's, both engines); `resolvConf` is bind-mounted.
   */
  | { mode: 'awsvpc'; networkMode: string; resolvConf?: string };

/** Docker Engine API create options for one container of a task. */
export function createOptions(
  spec: TaskSpec,
  c: ContainerSpec,
  net: ContainerNetworkPlan,
  names: { name: string; scope: string; user?: string },
): Docker.ContainerCreateOptions {
  const host: Docker.HostConfig = { Init: false };
  const exposed: Record<string, object> = {};
  if (net.mode === 'host') host.NetworkMode = 'host';
  else if (net.mode === 'bridge') {
    host.NetworkMode = net.network;
    host.PortBindings = {};
    for (const pm of c.portMappings ?? []) {
      const key = `${pm.containerPort}/${pm.protocol}`;
      exposed[key] = {};
      // An empty HostPort asks the engine for a free one (ECS dynamic host port).
      host.PortBindings[key] = [{ HostIp: '', HostPort: pm.hostPort ? String(pm.hostPort) : '' }];
    }
  } else {
    host.NetworkMode = net.networkMode;
    // The task's resolv.conf (Pharos names through the gateway DNS), as `ip netns exec` shows it to processes.
    if (net.resolvConf !== undefined) host.Binds = [`${net.resolvConf}:/etc/resolv.conf:ro`];
  }
  if (c.memoryMiB !== undefined) host.Memory = c.memoryMiB * 1024 * 1024;
  if (c.cpuUnits !== undefined && c.cpuUnits > 0) host.CpuShares = Math.max(2, c.cpuUnits);
  const opts: Docker.ContainerCreateOptions = {
    name: names.name,
    Image: c.image,
    Env: Object.entries(c.environment ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: { ...labelsOf(spec, names.scope), [LABELS.containerName]: c.name },
    ExposedPorts: exposed,
    HostConfig: host,
  };
  // Docker refuses a hostname with the host network or another container's namespace.
  if (net.mode === 'bridge' || (net.mode === 'awsvpc' && net.networkMode.startsWith('ns:'))) opts.Hostname = spec.taskId.slice(0, 12);
  if (c.entryPoint !== undefined) opts.Entrypoint = c.entryPoint;
  if (c.command !== undefined) opts.Cmd = c.command;
  if (c.workingDirectory !== undefined) opts.WorkingDir = c.workingDirectory;
  if (names.user !== undefined) opts.User = names.user;
  return opts;
}

/** The labels every container of the task carries (the pause container too). */
export function labelsOf(spec: TaskSpec, scope: string): Record<string, string> {
  return {
    [LABELS.scope]: scope,
    [LABELS.server]: serverIdentity(),
    [LABELS.taskId]: spec.taskId,
    ...(spec.cluster !== undefined ? { [LABELS.cluster]: spec.cluster } : {}),
  };
}

/** Definition order, moved only as far as `dependsOn` requires (dependencies first); cycles and unknown names are refused. */
export function startOrder<T extends { c: ContainerSpec }>(planned: T[]): T[] {
  const byName = new Map(planned.map((p) => [p.c.name, p]));
  const out: T[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: T): void => {
    if (state.get(p.c.name) === 'done') return;
    if (state.get(p.c.name) === 'visiting') throw new BadContainerSpecError(`container dependencies form a cycle through ${p.c.name}`);
    state.set(p.c.name, 'visiting');
    for (const d of p.c.dependsOn ?? []) {
      const dep = byName.get(d.containerName);
      if (dep === undefined || dep === p) throw new BadContainerSpecError(`container ${p.c.name} depends on unknown container "${d.containerName}"`);
      visit(dep);
    }
    state.set(p.c.name, 'done');
    out.push(p);
  };
  for (const p of planned) visit(p);
  return out;
}

/** One ECS network binding: published ports for bridge tasks, the task's (or host's) address otherwise. */
export function bindingOf(
  container: string,
  pm: PortMappingSpec,
  mode: NetworkMode,
  ipv4: string,
  published: Record<string, { HostIp: string; HostPort: string }[] | null>,
): NetworkBinding {
  if (mode !== 'bridge') return { containerName: container, bindIP: mode === 'awsvpc' ? ipv4 : '0.0.0.0', containerPort: pm.containerPort, hostPort: pm.containerPort, protocol: pm.protocol };
  const hostPort = Number(published[`${pm.containerPort}/${pm.protocol}`]?.[0]?.HostPort);
  return {
    containerName: container,
    bindIP: '0.0.0.0',
    containerPort: pm.containerPort,
    hostPort: Number.isInteger(hostPort) && hostPort > 0 ? hostPort : pm.hostPort || pm.containerPort,
    protocol: pm.protocol,
  };
}

/** 128 + n after a signal Pharos sent is reported as that signal (Docker's convention for exit codes). */
export function signalOf(code: number | null, stopRequested: boolean): NodeJS.Signals | null {
  if (!stopRequested || code === null) return null;
  if (code === 137) return 'SIGKILL';
  if (code === 143) return 'SIGTERM';
  return null;
}
