import { BadContainerSpecError, ExecutableNotFoundError } from './errors.ts';
import type { ContainerSpec, TaskSpec } from './runtime.ts';
import { ENV_OWNER, ENV_SERVER, ENV_TASK_ID, serverIdentity } from './orphans.ts';
import { DEFAULT_PATH, isDirectory, resolveExecutable } from './spawn.ts';
import { currentUid, dropPrivileges, resolveUser, type TaskUser } from './users.ts';

/** ECS allows 10 containers per task definition; more is a mistake, not a workload. */
const MAX_CONTAINERS_PER_TASK = 10;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** How one container is launched: the resolved program, its arguments, environment and cwd. */
export interface Launch {
  name: string;
  essential: boolean;
  /** argv[0] as written in the spec (for messages). */
  program: string;
  /** Absolute path of the executable. */
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Set when the container runs as another user than the server: every spawn goes through dropPrivileges. */
  user?: TaskUser;
}

/** What every task of a runtime shares: who created it, where its files go, who it may run as. */
export interface TaskHostOptions {
  /**
   * The server's identity (`<data-dir>/server-id`), stamped on what the runtime creates
   * (`PHAROS_OWNER`, namespace and veth names, the bridge's alias): cleanup() removes only what
   * carries it. Default none (everything with the runtime's names and no owner).
   */
  owner?: string;
  /** Parent of each task's default working directory `<workRoot>/<taskId>`. Default a fresh directory under the OS temp dir. */
  workRoot?: string;
  /**
   * When set, every task runs as this user and a container asking for another user is refused:
   * the server's API does not authenticate requests, so no request may choose who runs its code.
   */
  taskUser?: string;
}

/** argv of a launch as spawned: through setpriv when the container runs as another user. */
export function asUser(user: TaskUser | undefined, file: string, args: string[]): { file: string; args: string[] } {
  return user === undefined ? { file, args } : dropPrivileges(user, file, args);
}

/**
 * Checks a TaskSpec that came (indirectly) from a user: shapes, names, ports. Throws
 * BadContainerSpecError with a message naming the container and the field.
 */
export function validateTaskSpec(spec: TaskSpec, kind: 'process' | 'image' = 'process'): void {
  if (typeof spec !== 'object' || spec === null) throw new BadContainerSpecError('task spec must be an object');
  if (typeof spec.taskId !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(spec.taskId)) {
    throw new BadContainerSpecError(`task id ${JSON.stringify(spec.taskId)} must be 1-64 characters of [A-Za-z0-9_.-]`);
  }
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) throw new BadContainerSpecError('a task needs at least one container');
  if (spec.containers.length > MAX_CONTAINERS_PER_TASK) {
    throw new BadContainerSpecError(`a task may have at most ${MAX_CONTAINERS_PER_TASK} containers`);
  }
  const names = new Set<string>();
  const ports = new Set<string>();
  for (const c of spec.containers) {
    if (typeof c?.name !== 'string' || !NAME_RE.test(c.name)) throw new BadContainerSpecError(`container name ${JSON.stringify(c?.name)} is not valid`);
    if (names.has(c.name)) throw new BadContainerSpecError(`container name ${c.name} is used twice`);
    names.add(c.name);
    const argv = argvOf(c);
    if (kind === 'image' && (typeof c.image !== 'string' || c.image === '' || c.image.length > 255 || /[\s\0]/.test(c.image))) {
      throw new BadContainerSpecError(`container ${c.name}: image ${JSON.stringify(c.image)} is not a valid image reference`, { container: c.name });
    }
    if (argv.length === 0 && kind === 'process') {
      throw new BadContainerSpecError(`container ${c.name}: no entryPoint or command (the process runtime runs commands, not images: run the server with --runtime container for "${c.image}" to supply one)`, { container: c.name });
    }
    if (argv.some((a) => typeof a !== 'string' || a.includes('\0'))) throw new BadContainerSpecError(`container ${c.name}: entryPoint and command must be strings`);
    for (const [k, v] of Object.entries(c.environment ?? {})) {
      if (k === '' || k.includes('=') || k.includes('\0') || typeof v !== 'string' || v.includes('\0')) {
        throw new BadContainerSpecError(`container ${c.name}: environment variable ${JSON.stringify(k)} is not valid`);
      }
    }
    if (c.user !== undefined && typeof c.user !== 'string') throw new BadContainerSpecError(`container ${c.name}: user must be a string`);
    if (c.workingDirectory !== undefined && (typeof c.workingDirectory !== 'string' || c.workingDirectory === '' || c.workingDirectory.includes('\0'))) {
      throw new BadContainerSpecError(`container ${c.name}: workingDirectory is not valid`);
    }
    for (const pm of c.portMappings ?? []) {
      if (!isPort(pm?.containerPort)) throw new BadContainerSpecError(`container ${c.name}: containerPort ${pm?.containerPort} must be 1-65535`);
      // 0 asks ECS for a dynamic host port; a process cannot be remapped, so it gets containerPort.
      if (pm.hostPort !== undefined && pm.hostPort !== 0 && !isPort(pm.hostPort)) {
        throw new BadContainerSpecError(`container ${c.name}: hostPort ${pm.hostPort} must be 0-65535`);
      }
      // An image in bridge mode is published through the engine, which can remap ports.
      const remaps = kind === 'image' && spec.networkMode === 'bridge';
      if (!remaps && pm.hostPort !== undefined && pm.hostPort !== 0 && pm.hostPort !== pm.containerPort) {
        throw new BadContainerSpecError(
          `container ${c.name}: hostPort ${pm.hostPort} differs from containerPort ${pm.containerPort}; containers are processes and cannot be remapped`,
        );
      }
      if (pm.protocol !== 'tcp' && pm.protocol !== 'udp') throw new BadContainerSpecError(`container ${c.name}: protocol ${pm.protocol} must be tcp or udp`);
      const key = `${pm.containerPort}/${pm.protocol}`;
      if (ports.has(key)) throw new BadContainerSpecError(`port ${key} is mapped twice in the task`);
      ports.add(key);
    }
  }
}

function isPort(p: unknown): p is number {
  return Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
}

/** Docker's rule: ENTRYPOINT ++ CMD. */
function argvOf(c: ContainerSpec): string[] {
  return [...(c.entryPoint ?? []), ...(c.command ?? [])];
}

/**
 * The environment a container starts with: a small base (never the server's own environment,
 * which may hold credentials) overlaid with the spec's variables.
 */
function containerEnv(c: ContainerSpec, taskId: string, owner = '', user?: TaskUser): Record<string, string> {
  return {
    PATH: process.env.PATH ?? DEFAULT_PATH,
    HOME: user === undefined ? '/root' : (user.home ?? '/'),
    HOSTNAME: taskId.slice(0, 12),
    ...(c.environment ?? {}),
    // Set last so a spec cannot forge them: cleanup() finds orphans of a dead server by these.
    [ENV_TASK_ID]: taskId,
    [ENV_SERVER]: serverIdentity(),
    ...(owner === '' ? {} : { [ENV_OWNER]: owner }),
  };
}

/**
 * Who a container runs as, or undefined for the server's own user. With `host.taskUser` (an
 * unauthenticated server) that user, and a container asking for anyone else is refused; a server
 * that is not root can run nobody else.
 */
function containerUser(c: ContainerSpec, host: TaskHostOptions): TaskUser | undefined {
  const forced = host.taskUser === undefined ? undefined : resolveUser(host.taskUser, c.name);
  const asked = c.user === undefined ? undefined : resolveUser(c.user, c.name);
  if (forced !== undefined && asked !== undefined && (asked.uid !== forced.uid || asked.gid !== forced.gid)) {
    throw new BadContainerSpecError(
      `container ${c.name}: user ${JSON.stringify(c.user)} is honoured only when the API authenticates requests (pharos server --credentials); without credentials every task runs as ${host.taskUser}`,
      { container: c.name },
    );
  }
  const user = asked ?? forced;
  const me = currentUid();
  if (user === undefined || user.uid === me) return undefined;
  if (me !== 0) {
    const why = forced !== undefined ? ` (the API does not authenticate requests, so tasks must run as ${host.taskUser}: start pharos server with --credentials, or as root)` : '';
    throw new BadContainerSpecError(`container ${c.name}: cannot run as user ${JSON.stringify(user.spec)}: this server runs as uid ${me} and cannot switch users${why}`, { container: c.name });
  }
  return user;
}


/** Resolves executables and working directories of every container, before anything is created. */
export async function prepareLaunches(spec: TaskSpec, host: TaskHostOptions, taskDir: string): Promise<Launch[]> {
  const out: Launch[] = [];
  for (const c of spec.containers) {
    // The task's own directory is made right before the containers start (TaskDir.create).
    const cwd = c.workingDirectory ?? taskDir;
    if (c.workingDirectory !== undefined && !(await isDirectory(cwd))) {
      throw new BadContainerSpecError(`container ${c.name}: working directory "${cwd}" does not exist`, { container: c.name });
    }
    const user = containerUser(c, host);
    const env = containerEnv(c, spec.taskId, host.owner, user);
    const [program, ...args] = argvOf(c);
    const r = await resolveExecutable(program!, env.PATH ?? DEFAULT_PATH, cwd);
    if (!r.ok) throw new ExecutableNotFoundError(c.name, program!, r.detail);
    const launch: Launch = { name: c.name, essential: c.essential !== false, program: program!, file: r.file, args, env, cwd };
    if (user !== undefined) launch.user = user;
    out.push(launch);
  }
  return out;
}
