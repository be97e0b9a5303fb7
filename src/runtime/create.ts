import type { Logger, Registry } from '../lib/index.ts';
import { ContainerRuntime, type ContainerRuntimeOptions } from './container.ts';
import { describeEndpoint, Engine, resolveEngineEndpoint, type EngineInfo } from './engine.ts';
import { EngineUnavailableError, NetworkModeUnsupportedError } from './errors.ts';
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
  /**
   * Run task definitions' images in this engine (the `container` runtime) instead of
   * `entryPoint ++ command` as host processes. awsvpc tasks still get their namespace from the
   * netns options above and the engine's containers join it.
   */
  engine?: Engine;
  /** Container runtime options: the engine network of bridge tasks, the container name prefix. */
  container?: Pick<ContainerRuntimeOptions, 'bridgeNetwork' | 'namePrefix'>;
  /** The server's metrics registry (pharos_runtime_* metrics). */
  metrics?: Registry;
  logger?: Logger;
}

/** An engine answer slower than this is worth saying in the logged reason. */
const SLOW_ANSWER_MS = 1000;

/** `--runtime`: `auto` = container when an engine answers, else process. */
export type RuntimeChoice = 'auto' | 'container' | 'process';
export const RUNTIME_CHOICES: readonly RuntimeChoice[] = ['auto', 'container', 'process'];

/** What `chooseRuntime` decided, and why (the server logs it at start). */
export type ChosenRuntime = { kind: 'process'; reason: string } | { kind: 'container'; engine: Engine; info: EngineInfo; reason: string };

/**
 * Resolves `--runtime` against the engine endpoint (`--container-engine`, DOCKER_HOST, the usual
 * sockets): `container` requires an engine that answers (else EngineUnavailableError), `auto`
 * takes it when it answers, `process` never asks.
 */
export async function chooseRuntime(
  choice: RuntimeChoice,
  engineUrl: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  logger?: Pick<Logger, 'warn'>,
): Promise<ChosenRuntime> {
  if (choice === 'process') return { kind: 'process', reason: '--runtime process' };
  const endpoint = resolveEngineEndpoint(engineUrl, env);
  if (endpoint === undefined) {
    const why = 'no container engine configured (--container-engine, DOCKER_HOST) or found at /run/podman/podman.sock, /var/run/docker.sock';
    if (choice === 'container') throw new EngineUnavailableError('(none)', why);
    return { kind: 'process', reason: `--runtime auto: ${why}` };
  }
  const engine = new Engine(endpoint);
  try {
    const started = Date.now();
    const info = await engine.probe(undefined, (waited) =>
      logger?.warn({ engine: describeEndpoint(endpoint) }, `container engine at ${describeEndpoint(endpoint)} accepted the connection but has not answered in ${waited} ms: waiting for it`),
    );
    const took = Date.now() - started;
    const slow = took >= SLOW_ANSWER_MS ? ` (after ${(took / 1000).toFixed(1)} s)` : '';
    return { kind: 'container', engine, info, reason: `--runtime ${choice}: ${info.kind} ${info.version} answers at ${describeEndpoint(endpoint)}${slow}` };
  } catch (err) {
    if (choice === 'container') throw err;
    return { kind: 'process', reason: `--runtime auto: ${(err as Error).message}` };
  }
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
  /** Set when tasks run as images (`engine` given): every network mode goes to it. */
  readonly container?: ContainerRuntime;

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
    if (options.engine !== undefined) {
      this.container = new ContainerRuntime({
        ...shared,
        ...(options.container ?? {}),
        engine: options.engine,
        ...(this.netns ? { netns: this.netns } : {}),
        ...(options.advertiseAddress !== undefined ? { advertiseAddress: options.advertiseAddress } : {}),
      });
    }
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
    return [...this.host.tasks(), ...(this.netns?.tasks() ?? []), ...(this.container?.tasks() ?? [])];
  }

  /** Both runtimes' cleanup, then the working directories of tasks that are not live. */
  async cleanup(): Promise<void> {
    // Containers first: a dead server's are removed (their namespaces are then free for the netns
    // cleanup to remove) or kept for adoption with their namespaces leased again (which it keeps).
    await this.container?.cleanup();
    await Promise.all([this.host.cleanup(), this.netns?.cleanup()]);
    await this.#dirs.cleanup(new Set(this.tasks().map((t) => t.taskId)));
  }

  adopt(spec: TaskSpec): Promise<RunningTask | undefined> {
    return this.container?.adopt(spec) ?? Promise.resolve(undefined);
  }

  async releaseUnadopted(): Promise<void> {
    await this.container?.releaseUnadopted();
  }

  async close(options?: Partial<StopOptions>): Promise<void> {
    // Containers before the netns runtime: they live in its namespaces, on its bridge.
    await this.container?.close(options);
    await Promise.all([this.host.close(options), this.netns?.close(options)]);
  }

  #pick(mode: NetworkMode | undefined): Runtime | undefined {
    if (this.container) return mode === 'awsvpc' || mode === 'host' || mode === 'bridge' ? this.container : undefined;
    if (mode === 'awsvpc') return this.netns ?? this.host;
    if (mode === 'host' || mode === 'bridge') return this.host;
    return undefined;
  }
}

export function createRuntime(options: RuntimeOptions = {}): DispatchRuntime {
  return new DispatchRuntime(options);
}
