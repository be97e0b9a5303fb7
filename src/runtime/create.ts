import type { Logger, Registry } from '../lib/index.ts';
import { NetworkModeUnsupportedError } from './errors.ts';
import { RuntimeMetrics } from './metrics.ts';
import { NetnsRuntime, type NetnsRuntimeOptions } from './netns.ts';
import { ProcessRuntime } from './process.ts';
import type { NetworkMode, Runtime, RunningTask, StopOptions, TaskDnsProvider, TaskSpec } from './runtime.ts';
import type { TaskHostOptions } from './spec.ts';
import { TaskDirs } from './taskdir.ts';

export interface RuntimeOptions extends TaskHostOptions {
  /** `AWS_INSTANCE_IPV4` of host-network tasks. Default 127.0.0.1. */
  advertiseAddress?: string;
  /**
   * awsvpc tasks: `netns` options (default), or `'host'` to run them on the host network like
   * host-mode tasks (for machines without network namespaces: no own IP, ports are host ports).
   */
  awsvpc?: Omit<NetnsRuntimeOptions, 'metrics' | 'logger' | keyof TaskHostOptions | 'dirs'> | 'host';
  /** The server's metrics registry (pharos_runtime_* metrics). */
  metrics?: Registry;
  logger?: Logger;
}

/**
 * One Runtime for the orchestrator: host and bridge tasks go to a ProcessRuntime, awsvpc tasks to
 * a NetnsRuntime (or to the process runtime when `awsvpc: 'host'`). Namespaces are only probed
 * when the first awsvpc task starts, so a server that runs no awsvpc task needs no root.
 */
export class DispatchRuntime implements Runtime {
  readonly networkModes: readonly NetworkMode[] = ['host', 'bridge', 'awsvpc'];
  readonly host: ProcessRuntime;
  readonly netns?: NetnsRuntime;
  readonly #dirs: TaskDirs;

  constructor(options: RuntimeOptions = {}) {
    const metrics = options.metrics === undefined ? undefined : new RuntimeMetrics(options.metrics);
    this.#dirs = new TaskDirs(options.workRoot);
    const shared = {
      ...(metrics ? { metrics } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      owner: options.owner,
      workRoot: options.workRoot,
      taskUser: options.taskUser,
      dirs: this.#dirs,
    };
    const awsvpc = options.awsvpc;
    this.host = new ProcessRuntime({
      ...shared,
      ...(options.advertiseAddress !== undefined ? { advertiseAddress: options.advertiseAddress } : {}),
      networkModes: awsvpc === 'host' ? ['host', 'bridge', 'awsvpc'] : ['host', 'bridge'],
    });
    if (awsvpc !== 'host') this.netns = new NetnsRuntime({ ...(awsvpc ?? {}), ...shared });
  }

  startTask(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    const rt = this.#pick(spec?.networkMode);
    if (rt === undefined) return Promise.reject(new NetworkModeUnsupportedError(String(spec?.networkMode), this.networkModes));
    return rt.startTask(spec, signal);
  }

  /** awsvpc tasks' resolver (NetnsRuntime.setTaskDns); host-network tasks use the host's. */
  setTaskDns(provider: TaskDnsProvider | undefined): void {
    this.netns?.setTaskDns(provider);
  }

  tasks(): RunningTask[] {
    return [...this.host.tasks(), ...(this.netns?.tasks() ?? [])];
  }

  /** Both runtimes' cleanup, then the working directories of tasks that are not live. */
  async cleanup(): Promise<void> {
    await Promise.all([this.host.cleanup(), this.netns?.cleanup()]);
    await this.#dirs.cleanup(new Set(this.tasks().map((t) => t.taskId)));
  }

  async close(options?: Partial<StopOptions>): Promise<void> {
    await Promise.all([this.host.close(options), this.netns?.close(options)]);
  }

  #pick(mode: NetworkMode | undefined): Runtime | undefined {
    if (mode === 'awsvpc') return this.netns ?? this.host;
    if (mode === 'host' || mode === 'bridge') return this.host;
    return undefined;
  }
}

export function createRuntime(options: RuntimeOptions = {}): DispatchRuntime {
  return new DispatchRuntime(options);
}
