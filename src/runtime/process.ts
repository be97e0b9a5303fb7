import dgram from 'node:dgram';
import net from 'node:net';
import { NetworkModeUnsupportedError, PortInUseError, RuntimeClosedError, TaskExistsError } from './errors.ts';
import type { NetworkBinding, NetworkMode, Runtime, RunningTask, StopOptions, TaskSpec } from './runtime.ts';
import type { Logger } from '../lib/index.ts';
import { observeStart, type RuntimeMetrics } from './metrics.ts';
import { killOrphans } from './orphans.ts';
import { prepareLaunches, validateTaskSpec, type TaskHostOptions } from './spec.ts';
import { ProcessTask } from './task.ts';
import { TaskDirs } from './taskdir.ts';

/** close() gives live tasks this long between SIGTERM and SIGKILL: a server shutdown should not hang on a task. */
export const CLOSE_STOP_TIMEOUT_MS = 2000;

export interface ProcessRuntimeOptions extends TaskHostOptions {
  /** Registered as every task's `ipv4` (`AWS_INSTANCE_IPV4`). Default 127.0.0.1. */
  advertiseAddress?: string;
  /** Network modes to accept. Default host and bridge (awsvpc only when used as a fallback). */
  networkModes?: readonly NetworkMode[];
  metrics?: RuntimeMetrics;
  logger?: Logger;
  /** Task working directories (shared with the netns runtime by DispatchRuntime). Default over `workRoot`. */
  dirs?: TaskDirs;
}

/**
 * Host-network runtime: each container is a child process of the server, on the host's network.
 * Port mappings are host ports (hostPort = containerPort); each is checked free before the task
 * starts (by binding it for a moment) and reserved for the task's lifetime, so two tasks of this
 * runtime never get the same port.
 */
export class ProcessRuntime implements Runtime {
  readonly networkModes: readonly NetworkMode[];
  readonly #advertise: string;
  readonly #live = new Map<string, ProcessTask>();
  readonly #ports = new Set<string>();
  readonly #starting = new Set<string>();
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #log: Logger | undefined;
  readonly #host: TaskHostOptions;
  readonly #dirs: TaskDirs;
  #closed = false;

  constructor(options: ProcessRuntimeOptions = {}) {
    this.#host = { owner: options.owner, workRoot: options.workRoot, taskUser: options.taskUser };
    this.#dirs = options.dirs ?? new TaskDirs(options.workRoot);
    this.#advertise = options.advertiseAddress ?? '127.0.0.1';
    this.#metrics = options.metrics;
    this.#log = options.logger;
    this.networkModes = options.networkModes ?? ['host', 'bridge'];
  }

  startTask(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    return observeStart(this.#metrics, 'process', () => this.#start(spec, signal));
  }

  async #start(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    if (this.#closed) throw new RuntimeClosedError();
    validateTaskSpec(spec);
    if (!this.networkModes.includes(spec.networkMode)) throw new NetworkModeUnsupportedError(spec.networkMode, this.networkModes);
    if (this.#live.has(spec.taskId)) throw new TaskExistsError(spec.taskId);
    const launches = await prepareLaunches(spec, this.#host, this.#dirs.path(spec.taskId));

    const bindings: NetworkBinding[] = spec.containers.flatMap((c) =>
      (c.portMappings ?? []).map((pm) => ({
        containerName: c.name,
        bindIP: '0.0.0.0',
        containerPort: pm.containerPort,
        hostPort: pm.hostPort || pm.containerPort,
        protocol: pm.protocol,
      })),
    );
    // Reserve synchronously (no await between check and add), then probe the OS.
    const keys = bindings.map((b) => `${b.hostPort}/${b.protocol}`);
    const taken = bindings.find((_, i) => this.#ports.has(keys[i]!));
    if (taken) throw new PortInUseError(taken.containerName, taken.hostPort, taken.protocol);
    if (this.#live.has(spec.taskId) || this.#starting.has(spec.taskId)) throw new TaskExistsError(spec.taskId);
    for (const k of keys) this.#ports.add(k);
    this.#starting.add(spec.taskId);
    const releasePorts = async () => {
      for (const k of keys) this.#ports.delete(k);
      await this.#dirs.remove(spec.taskId);
    };

    let task: ProcessTask;
    try {
      for (const b of bindings) await assertPortFree(b);
      await this.#dirs.create(spec.taskId, launches);
      const network = { ipv4: this.#advertise, bindings, wrap: (file: string, args: string[]) => ({ file, args }), release: releasePorts };
      task = await ProcessTask.start(spec.taskId, spec.networkMode, launches, network, () => this.#live.delete(spec.taskId), signal);
    } catch (err) {
      await releasePorts();
      throw err;
    } finally {
      this.#starting.delete(spec.taskId);
    }
    if (this.#closed) {
      // close() ran while this task was starting: it must not outlive the runtime.
      await task.stop({ timeoutMs: 0 });
      throw new RuntimeClosedError();
    }
    if (!task.isFinal) this.#live.set(spec.taskId, task);
    return task;
  }

  tasks(): RunningTask[] {
    return [...this.#live.values()];
  }

  /** Kills containers (and their children) left running by a Pharos server of this owner that is no longer alive. */
  async cleanup(): Promise<void> {
    const killed = await killOrphans(this.#host.owner);
    if (killed.length > 0) {
      this.#metrics?.cleanedUp.inc({ kind: 'process' }, killed.length);
      this.#log?.info({ pids: killed }, 'killed containers left running by a previous server');
    }
  }

  async close(options: Partial<StopOptions> = {}): Promise<void> {
    this.#closed = true;
    const timeoutMs = options.timeoutMs ?? CLOSE_STOP_TIMEOUT_MS;
    await Promise.all(this.tasks().map((t) => t.stop({ timeoutMs })));
  }
}

/**
 * Binds the port for a moment, as a container would: on `::` (dual stack, what node and most
 * servers do by default, so a holder on any v4 or v6 address conflicts), or on 0.0.0.0 where the
 * host has no IPv6. EADDRINUSE (or EACCES for privileged ports) means the task cannot have it.
 */
async function assertPortFree(b: NetworkBinding): Promise<void> {
  try {
    await tryBind(b, '::').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL') return tryBind(b, '0.0.0.0');
      throw err;
    });
  } catch (err) {
    throw new PortInUseError(b.containerName, b.hostPort, b.protocol, err);
  }
}

function tryBind(b: NetworkBinding, host: string): Promise<void> {
  if (b.protocol === 'tcp') {
    return new Promise<void>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen({ port: b.hostPort, host, exclusive: true }, () => srv.close(() => resolve()));
    });
  }
  return new Promise<void>((resolve, reject) => {
    const sock = dgram.createSocket(host === '::' ? 'udp6' : 'udp4');
    sock.once('error', (err) => {
      sock.close();
      reject(err);
    });
    sock.bind({ port: b.hostPort, address: host, exclusive: true }, () => sock.close(() => resolve()));
  });
}
