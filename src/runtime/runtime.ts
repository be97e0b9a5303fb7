/**
 * The runtime contract: how the orchestrator starts, watches, probes and stops the containers of
 * one task. The orchestrator owns this interface's *use* (desired state, registration, draining,
 * stop reasons); a runtime only runs processes and reports what happened to them. It never
 * stops a task on its own, never retries, and keeps no state on disk.
 *
 * There is no Docker: a container is a process. `image` is informational (kept for
 * DescribeTasks) and is NOT pulled or run; the process is `entryPoint ++ command` (Docker's
 * rule for ENTRYPOINT + CMD), run directly with execve semantics (no shell). A container
 * that wants a shell says so: `command: ["sh", "-c", "..."]`. A container with neither
 * `entryPoint` nor `command` is rejected (`RuntimeBadContainerSpec`), since the image's
 * default command is unknowable without the image.
 *
 * Implementations: `ProcessRuntime` (host network; `host` and `bridge` tasks) and
 * `NetnsRuntime` (one Linux network namespace + IP per task; `awsvpc` tasks).
 * `createRuntime()` gives one `Runtime` that dispatches on `TaskSpec.networkMode`.
 */

/** ECS network modes Pharos runs (`none` is rejected by the orchestrator before it gets here). */
export type NetworkMode = 'host' | 'bridge' | 'awsvpc';

type PortProtocol = 'tcp' | 'udp';

export interface PortMappingSpec {
  /** The port the process listens on. 1–65535. */
  containerPort: number;
  /**
   * The port reachable from outside the task. Host network (`process` runtime): defaults to
   * `containerPort` and must equal it (a process cannot be remapped without a proxy).
   * `awsvpc`: must be absent or equal `containerPort`, as in ECS. 0 (ECS: dynamic) means
   * `containerPort` too.
   */
  hostPort?: number;
  protocol: PortProtocol;
}

export interface ContainerSpec {
  /** Unique within the task. */
  name: string;
  /** Informational only (see the module comment). */
  image: string;
  /** Docker ENTRYPOINT: prepended to `command`. */
  entryPoint?: string[];
  /** Docker CMD: the argv (after `entryPoint`). */
  command?: string[];
  /**
   * Added to a small base environment (`PATH`, `HOME`, `HOSTNAME`), plus `PHAROS_TASK_ID` and
   * `PHAROS_SERVER` (set last; cleanup() finds orphans by them). The server's own environment
   * is NOT inherited, so its credentials never leak into tasks.
   */
  environment?: Record<string, string>;
  /** Working directory; must exist. Default: the task's own empty directory (removed with the task); container runtime: the image's. */
  workingDirectory?: string;
  /**
   * ECS `user`: `name`, `uid`, `name:group` or `uid:gid`; the container (and its health-check
   * commands) run as that user. Default: the runtime's `taskUser`, else the server's user
   * (container runtime: the image's user; the engine resolves the name in the image).
   */
  user?: string;
  /** ECS container `memory` (MiB, hard limit) and `cpu` (units, 1024 = one core; relative shares). Container runtime only; applied where the host's cgroups allow. */
  memoryMiB?: number;
  cpuUnits?: number;
  /**
   * ECS `dependsOn` (container runtime): this container starts once each named container has
   * started (START), exited (COMPLETE), exited 0 (SUCCESS) or passed its `healthCheck` (HEALTHY).
   * The process runtime starts containers in definition order and ignores it.
   */
  dependsOn?: { containerName: string; condition: 'START' | 'COMPLETE' | 'SUCCESS' | 'HEALTHY' }[];
  /** The container's health check command, for dependents' HEALTHY condition (the orchestrator runs the periodic checks). */
  healthCheck?: { argv: string[]; intervalMs: number; timeoutMs: number };
  /** Reported back on exit so the orchestrator can apply `EssentialContainerExited`. */
  essential: boolean;
  portMappings: PortMappingSpec[];
}

export interface TaskSpec {
  /** Unique among the runtime's live tasks (the ECS task id: 32 lower-case hex). */
  taskId: string;
  /** The ECS cluster, for labels on what the container runtime creates. */
  cluster?: string;
  networkMode: NetworkMode;
  /** At least one. */
  containers: ContainerSpec[];
}

/** ECS container `lastStatus` values a runtime can observe. */
export type ContainerState = 'RUNNING' | 'STOPPED';

export interface ContainerStatus {
  name: string;
  essential: boolean;
  /** OS pid of the container's main process (also its process-group id). */
  pid: number;
  state: ContainerState;
  /** Set once STOPPED: the exit code, or null when killed by a signal. */
  exitCode?: number | null;
  /** Set once STOPPED by a signal. */
  signal?: NodeJS.Signals | null;
  startedAt: Date;
  stoppedAt?: Date;
  /** Container runtime: the engine's container id (ECS `runtimeId`), the image id and its digest. */
  runtimeId?: string;
  imageDigest?: string;
}

/** One port a task exposes (ECS `networkBindings`). */
export interface NetworkBinding {
  containerName: string;
  /** Address the port is reachable on: `0.0.0.0` on the host network, the task IP for awsvpc. */
  bindIP: string;
  containerPort: number;
  hostPort: number;
  protocol: PortProtocol;
}

/** Emitted once per container when its main process exits (for whatever reason). */
export interface ContainerExit {
  taskId: string;
  name: string;
  essential: boolean;
  /** null when killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** True when the exit followed `stop()` (so it is not a failure of the container). */
  stopRequested: boolean;
  /** Human-readable, e.g. `exited with code 1`, `killed by SIGKILL`. */
  reason: string;
}

export interface ExecOptions {
  /** The command is killed (whole process group, SIGKILL) after this long; `timedOut` is set. */
  timeoutMs: number;
  /** Take environment and working directory from this container (default: the first). */
  container?: string;
  signal?: AbortSignal;
}

export interface ExecResult {
  /** null when killed by a signal (including a timeout). 127 when the executable was not found. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** stdout and stderr as they arrived, cut at `EXEC_OUTPUT_LIMIT` characters (ECS keeps the first 1 KiB of health check output). */
  output: string;
}

export interface LogLine {
  container: string;
  stream: 'stdout' | 'stderr';
  /** Without the trailing newline; very long lines are cut (see logs.ts). */
  line: string;
  /** Milliseconds since the epoch, when the line was read. */
  at: number;
}

export interface StopOptions {
  /** Time between SIGTERM and SIGKILL (ECS `stopTimeout`). */
  timeoutMs: number;
}

/** A started task. Valid until and after it stops: status and logs stay readable. */
export interface RunningTask {
  readonly taskId: string;
  readonly networkMode: NetworkMode;
  /**
   * The address to register (`AWS_INSTANCE_IPV4`): the runtime's advertise address for the
   * host network, the task's own IP for awsvpc.
   */
  readonly ipv4: string;
  /** The network namespace name (`ip netns`), for awsvpc tasks only. */
  readonly netns?: string;
  readonly networkBindings: readonly NetworkBinding[];
  /** A snapshot of every container's status. */
  containers(): ContainerStatus[];
  /**
   * Calls `listener` once per container exit. Exits that happened before the call are
   * replayed to the new listener (asynchronously), so there is no window in which an exit is
   * missed. Returns an unsubscribe function.
   */
  onContainerExit(listener: (exit: ContainerExit) => void): () => void;
  /**
   * Resolves when every container has exited and the task's resources (namespace, IP, ports)
   * are released — whether through `stop()` or because all containers exited by themselves.
   */
  readonly stopped: Promise<void>;
  /**
   * SIGTERM to every container's process group, SIGKILL after `timeoutMs` to whatever is left,
   * then releases resources. Idempotent: later calls return the first call's promise.
   */
  stop(options: StopOptions): Promise<void>;
  /**
   * Runs `argv` in the task's network context (host network, or inside the namespace) with a
   * container's environment, e.g. a container health check (`CMD-SHELL x` → `['/bin/sh','-c',x]`).
   * Resolves with the result whatever the command does; rejects only when the task is stopped.
   */
  exec(argv: string[], options: ExecOptions): Promise<ExecResult>;
  /** Captured stdout/stderr lines, oldest first, of one container or all (bounded per task). */
  logs(container?: string): LogLine[];
}

/** The resolver a task's containers use (written as the task namespace's resolv.conf). */
export interface TaskResolverConfig {
  /** IPv4 addresses, asked on port 53 (resolv.conf cannot name a port). 1 to 3 (glibc's MAXNS). */
  nameservers: string[];
  /** resolv.conf `search` domains. Default none: Cloud Map names are used fully qualified, and a search list turns every outside lookup into extra queries. */
  search?: string[];
  /** resolv.conf `options`. Default `TASK_RESOLV_OPTIONS`. */
  options?: string[];
}

/**
 * Called when the netns runtime has brought its bridge up with the gateway address (before the
 * first awsvpc task starts). Resolves with the resolver tasks should use — typically after
 * starting a DNS listener on `gateway` — or undefined to leave tasks with the host's resolv.conf.
 */
export type TaskDnsProvider = (gateway: string) => Promise<TaskResolverConfig | undefined>;

export interface Runtime {
  /** Network modes this runtime accepts; others are rejected with `RuntimeNetworkModeUnsupported`. */
  readonly networkModes: readonly NetworkMode[];
  /**
   * Where tasks with their own network namespace resolve names (see TaskDnsProvider). Runtimes
   * without namespaces do not implement it: their tasks use the host's resolver.
   */
  setTaskDns?(provider: TaskDnsProvider | undefined): void;
  /**
   * Validates the spec, reserves resources (ports, IP, namespace), spawns every container and
   * resolves once all are spawned (not once they listen: readiness is the health checks' job).
   * On any failure nothing is left behind (containers killed, resources released) and it rejects
   * with a `PharosError` whose `message` reads as an ECS stop reason, e.g.
   * `CannotStartContainerError: executable "nosuch" not found`.
   */
  startTask(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask>;
  /** Live tasks (started, not yet stopped). */
  tasks(): RunningTask[];
  /**
   * At server start, before any task: removes what a previous run left behind (its processes,
   * network namespaces, veths, bridge addresses), or keeps it for adopt(). Only touches names
   * with this runtime's prefixes.
   */
  cleanup(): Promise<void>;
  /**
   * After cleanup(): takes over a task that a previous run of this server (killed, crashed) left
   * running, when the runtime keeps such tasks (the container runtime: the engine still runs
   * their containers). Resolves with the task as if started here, or undefined when there is
   * nothing to adopt (the caller records the task stopped). Optional.
   */
  adopt?(spec: TaskSpec): Promise<RunningTask | undefined>;
  /** Removes what cleanup() kept for adoption and no adopt() claimed. Repeatable. */
  releaseUnadopted?(): Promise<void>;
  /**
   * Stops every live task (SIGKILL after `timeoutMs`, default CLOSE_STOP_TIMEOUT_MS) and releases
   * shared resources (the netns bridge). Later startTask calls fail with RuntimeClosed. Repeatable.
   */
  close(options?: Partial<StopOptions>): Promise<void>;
}
