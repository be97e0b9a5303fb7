import type Docker from 'dockerode';
import type { Logger } from '../lib/index.ts';
import { createOptions, DEFAULT_CONTAINER_PREFIX, LABELS, labelsOf, type ContainerNetworkPlan } from './containerspec.ts';
import { ContainerTask } from './containertask.ts';
import { removeContainer, type Engine, type EngineInfo, type ImageInfo } from './engine.ts';
import { BadContainerSpecError, BadRuntimeConfigError, NetworkModeUnsupportedError, RuntimeAbortedError, RuntimeClosedError, TaskExistsError } from './errors.ts';
import { observeStart, type RuntimeMetrics } from './metrics.ts';
import { ensurePauseImage, PAUSE_ROLE, startPause } from './pause.ts';
import type { NetnsLease, NetnsRuntime } from './netns.ts';
import { processIdentity, serverIdentity } from './orphans.ts';
import { CLOSE_STOP_TIMEOUT_MS } from './process.ts';
import type { ContainerSpec, NetworkMode, Runtime, RunningTask, StopOptions, TaskDnsProvider, TaskSpec } from './runtime.ts';
import { validateTaskSpec } from './spec.ts';

export { DEFAULT_CONTAINER_PREFIX, LABELS } from './containerspec.ts';

/** Docker's default bridge network (Podman's compat API maps it to its default network too). */
const DEFAULT_BRIDGE_NETWORK = 'bridge';
/** A configured engine may be slow to answer on a loaded host (Podman's first request initialises its storage): wait this long before a task fails with RuntimeEngineUnavailable. */
const ENGINE_BUSY_TIMEOUT_MS = 30_000;

export interface ContainerRuntimeOptions {
  engine: Engine;
  /** Makes awsvpc tasks' namespaces (veth, address, resolv.conf); without it awsvpc tasks are refused. */
  netns?: NetnsRuntime;
  /** `AWS_INSTANCE_IPV4` of host and bridge tasks (their ports are host ports). Default 127.0.0.1. */
  advertiseAddress?: string;
  /** Engine network of bridge-mode tasks. Default `bridge`. */
  bridgeNetwork?: string;
  /**
   * How an awsvpc task's containers share its namespace: `path` joins the prepared namespace by
   * path (Podman only), `pause` through a pause container (Docker Engine and Podman); `auto`
   * (default) is `path` on Podman and `pause` on Docker.
   */
  awsvpcJoin?: 'auto' | 'path' | 'pause';
  /** Container names are `<prefix><taskId>-<container>`; also the `pharos.scope` label. Default `pharos-`, or `pharos-<owner>-`. */
  namePrefix?: string;
  /** The server's identity (TaskHostOptions.owner): part of the default name prefix, so servers sharing an engine keep apart. */
  owner?: string;
  /**
   * When set (the API does not authenticate requests), every container runs as this user and a
   * task definition asking for another is refused, as with the process runtime.
   */
  taskUser?: string;
  metrics?: RuntimeMetrics;
  logger?: Logger;
}

/**
 * Runs the task definition's images in an OCI engine through the Docker Engine API (Podman's
 * `podman system service` or Docker Engine). host tasks use the host network, bridge tasks the
 * engine's bridge network with published ports (`hostPort` 0 = a port the engine picks, as ECS
 * dynamic host ports), and awsvpc tasks join a namespace the NetnsRuntime prepared (its veth,
 * task address and resolv.conf) by path — Podman's `ns:<path>` network mode, the pause-container
 * pattern with the namespace pinned by `ip netns` instead of a pause process.
 */
export class ContainerRuntime implements Runtime {
  readonly networkModes: readonly NetworkMode[] = ['host', 'bridge', 'awsvpc'];
  readonly engine: Engine;
  readonly namePrefix: string;
  readonly #netns: NetnsRuntime | undefined;
  readonly #advertise: string;
  readonly #bridgeNetwork: string;
  readonly #awsvpcJoin: 'auto' | 'path' | 'pause';
  readonly #taskUser: string | undefined;
  readonly #live = new Map<string, ContainerTask>();
  readonly #starting = new Set<string>();
  /** Tasks of a dead server kept by cleanup() for adopt(): their containers, and their namespace leased again. */
  readonly #held = new Map<string, Held>();
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #log: Logger | undefined;
  #info?: Promise<EngineInfo>;
  #closed = false;

  constructor(options: ContainerRuntimeOptions) {
    this.engine = options.engine;
    this.#netns = options.netns;
    this.#advertise = options.advertiseAddress ?? '127.0.0.1';
    this.#bridgeNetwork = options.bridgeNetwork ?? DEFAULT_BRIDGE_NETWORK;
    this.#awsvpcJoin = options.awsvpcJoin ?? 'auto';
    this.namePrefix = options.namePrefix ?? (options.owner ? `${DEFAULT_CONTAINER_PREFIX}${options.owner}-` : DEFAULT_CONTAINER_PREFIX);
    this.#taskUser = options.taskUser;
    this.#metrics = options.metrics;
    this.#log = options.logger;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(this.namePrefix)) throw new BadRuntimeConfigError(`container name prefix "${this.namePrefix}" is not valid`);
  }

  /** The engine's kind and version (probed once; a failed probe is retried by the next call). */
  info(): Promise<EngineInfo> {
    this.#info ??= this.engine.probe(ENGINE_BUSY_TIMEOUT_MS);
    this.#info.catch(() => (this.#info = undefined));
    return this.#info;
  }

  setTaskDns(provider: TaskDnsProvider | undefined): void {
    this.#netns?.setTaskDns(provider);
  }

  startTask(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    return observeStart(this.#metrics, 'container', () => this.#start(spec, signal));
  }

  async #start(spec: TaskSpec, signal?: AbortSignal): Promise<RunningTask> {
    if (this.#closed) throw new RuntimeClosedError();
    validateTaskSpec(spec, 'image');
    for (const c of spec.containers) {
      if (this.#taskUser !== undefined && c.user !== undefined && c.user !== this.#taskUser) {
        throw new BadContainerSpecError(
          `container ${c.name}: user ${JSON.stringify(c.user)} is honoured only when the API authenticates requests (pharos server --credentials); without credentials every task runs as ${this.#taskUser}`,
          { container: c.name },
        );
      }
    }
    if (this.#live.has(spec.taskId) || this.#starting.has(spec.taskId)) throw new TaskExistsError(spec.taskId);
    this.#starting.add(spec.taskId);
    let owned: TaskNet | undefined;
    try {
      const info = await this.info();
      if (spec.networkMode === 'awsvpc' && this.#netns === undefined) throw new NetworkModeUnsupportedError('awsvpc (no task network is configured)', ['host', 'bridge']);
      if (!this.networkModes.includes(spec.networkMode)) throw new NetworkModeUnsupportedError(spec.networkMode, this.networkModes);
      const images = new Map<string, Promise<ImageInfo>>();
      for (const c of spec.containers) if (!images.has(c.image)) images.set(c.image, this.engine.ensureImage(c.image, signal));
      await Promise.all(images.values());
      if (signal?.aborted) throw new RuntimeAbortedError(spec.taskId);
      owned = spec.networkMode === 'awsvpc' ? await this.#openTaskNetwork(spec, info, signal) : undefined;
      const net = owned;
      const network = { ipv4: net?.lease.ipv4 ?? this.#advertise, ...(net ? { netns: net.lease.netns } : {}), release: () => releaseNet(net) };
      const task = new ContainerTask(this.engine.docker, spec, network, () => this.#live.delete(spec.taskId), this.#log);
      owned = undefined; // the task owns it now: released when its last container is gone
      const plan = this.#plan(spec, net);
      await task.start(
        spec.containers.map((c) => ({
          c,
          image: images.get(c.image)!,
          create: createOptions(spec, c, plan, { name: this.containerName(spec.taskId, c.name), scope: this.namePrefix, ...userOf(c, this.#taskUser) }),
        })),
        signal,
      );
      if (this.#closed) {
        await task.stop({ timeoutMs: 0 });
        throw new RuntimeClosedError();
      }
      if (!task.isFinal) this.#live.set(spec.taskId, task);
      return task;
    } finally {
      await releaseNet(owned);
      this.#starting.delete(spec.taskId);
    }
  }

  /**
   * An awsvpc task's namespace: joined by path (`ns:<path>`, Podman), or held by a pause container
   * the task's containers join (`container:<id>`, Docker and Podman) — see `awsvpcJoin`.
   */
  async #openTaskNetwork(spec: TaskSpec, info: EngineInfo, signal?: AbortSignal): Promise<TaskNet> {
    const join = this.#awsvpcJoin === 'auto' ? (info.kind === 'podman' ? 'path' : 'pause') : this.#awsvpcJoin;
    if (join === 'path') return { lease: await this.#netns!.lease(spec.taskId, signal) };
    await ensurePauseImage(this.engine);
    // `_pause`: no container of the task can have this name (theirs are `<prefix><taskId>-<name>`).
    const pause = await startPause(this.engine.docker, `${this.namePrefix}${spec.taskId}_${PAUSE_ROLE}`, labelsOf(spec, this.namePrefix));
    try {
      return { lease: await this.#netns!.lease(spec.taskId, signal, { pid: pause.pid }), pause: pause.handle };
    } catch (err) {
      await removeContainer(pause.handle).catch(() => undefined);
      throw err;
    }
  }

  #plan(spec: TaskSpec, net: TaskNet | undefined): ContainerNetworkPlan {
    if (spec.networkMode === 'host') return { mode: 'host' };
    if (spec.networkMode === 'bridge') return { mode: 'bridge', network: this.#bridgeNetwork };
    const { lease, pause } = net!;
    return { mode: 'awsvpc', networkMode: pause ? `container:${pause.id}` : `ns:${lease.path}`, ...(lease.resolvConf !== undefined ? { resolvConf: lease.resolvConf } : {}) };
  }

  containerName(taskId: string, container: string): string {
    return `${this.namePrefix}${taskId}-${container}`;
  }

  tasks(): RunningTask[] {
    return [...this.#live.values()];
  }

  /**
   * At start: containers with this runtime's scope whose server is gone (a `kill -9`ed or crashed
   * Pharos with this data directory) are kept for adopt() — with their task namespace leased
   * again — when one of their task's containers still runs; the rest are removed, so none runs
   * unaccounted, holding ports and task addresses. Containers of a live server (this one, or
   * another one on the same engine with the same prefix) are left alone. What no adopt() claims,
   * releaseUnadopted() removes.
   */
  async cleanup(): Promise<void> {
    try {
      await this.info();
    } catch {
      return; // no engine: nothing of ours can be running in it
    }
    const { tasks, stray } = await leftovers(this.engine.docker, this.namePrefix);
    const removed = [...stray];
    for (const [taskId, containers] of tasks) {
      if (this.#held.has(taskId) || this.#live.has(taskId)) continue; // kept or adopted by an earlier call
      // A pause container alone (Docker's awsvpc join) is no running task: its containers all exited.
      const running = containers.some((c) => c.State === 'running' && c.Labels?.[LABELS.role] !== PAUSE_ROLE);
      // An awsvpc task's namespace is still pinned under /run/netns (host and bridge tasks have none).
      const lease = running ? await this.#netns?.adoptLease(taskId).catch(() => undefined) : undefined;
      if (this.#closed || !running) removed.push(...containers);
      else this.#held.set(taskId, { containers, ...(lease ? { lease } : {}) });
    }
    await Promise.all(removed.map((c) => removeContainer(this.engine.docker.getContainer(c.Id))));
    this.#countRemoved(removed, 'removed containers left by a previous server');
    if (this.#held.size > 0) this.#log?.info({ tasks: [...this.#held.keys()] }, 'containers left by a previous server kept for adoption');
  }

  /** A task a dead server of this scope left running (kept by cleanup()), followed as if started here. */
  async adopt(spec: TaskSpec): Promise<RunningTask | undefined> {
    const held = this.#held.get(spec.taskId);
    if (held === undefined) return undefined;
    this.#held.delete(spec.taskId);
    try {
      validateTaskSpec(spec, 'image');
      if (this.#closed) throw new RuntimeClosedError();
      if ((spec.networkMode === 'awsvpc') !== (held.lease !== undefined)) throw new Error(`its network does not match network mode ${spec.networkMode}`);
      const docker = this.engine.docker;
      const found = await Promise.all(
        spec.containers.map(async (c) => {
          const listed = held.containers.find((x) => x.Labels?.[LABELS.containerName] === c.name);
          if (listed === undefined) throw new Error(`container ${c.name} is not in the engine`);
          const handle = docker.getContainer(listed.Id);
          const digest = (await this.engine.inspectImage(listed.ImageID).catch(() => undefined))?.digest;
          return { c, handle, info: await handle.inspect(), ...(digest ? { imageDigest: digest } : {}) };
        }),
      );
      const pause = held.containers.find((x) => x.Labels?.[LABELS.role] === PAUSE_ROLE);
      const net: TaskNet | undefined = held.lease && { lease: held.lease, ...(pause ? { pause: docker.getContainer(pause.Id) } : {}) };
      const network = { ipv4: net?.lease.ipv4 ?? this.#advertise, ...(net ? { netns: net.lease.netns } : {}), release: () => releaseNet(net) };
      const task = new ContainerTask(docker, spec, network, () => this.#live.delete(spec.taskId), this.#log);
      await task.adopt(found);
      if (!task.isFinal) this.#live.set(spec.taskId, task);
      this.#log?.info({ taskId: spec.taskId, containers: found.map((f) => f.info.Id.slice(0, 12)) }, 'adopted the containers of a task from a previous server');
      return task;
    } catch (err) {
      this.#log?.warn({ err, taskId: spec.taskId }, 'could not adopt the containers of a task from a previous server: removing them');
      await this.#drop(held);
      return undefined;
    }
  }

  /** Removes the containers cleanup() kept and no adopt() claimed (their task records were stopped or gone). */
  async releaseUnadopted(): Promise<void> {
    const held = [...this.#held.values()];
    this.#held.clear();
    await Promise.all(held.map((h) => this.#drop(h)));
    this.#countRemoved(held.flatMap((h) => h.containers), 'removed containers of a previous server that no task adopted');
  }

  async #drop(held: Held): Promise<void> {
    await Promise.all(held.containers.map((c) => removeContainer(this.engine.docker.getContainer(c.Id)).catch(() => undefined)));
    await held.lease?.release();
  }

  #countRemoved(removed: Docker.ContainerInfo[], message: string): void {
    if (removed.length === 0) return;
    this.#metrics?.cleanedUp.inc({ kind: 'container' }, removed.length);
    this.#log?.info({ containers: removed.map((c) => c.Names?.[0] ?? c.Id) }, message);
  }

  async close(options: Partial<StopOptions> = {}): Promise<void> {
    this.#closed = true;
    const timeoutMs = options.timeoutMs ?? CLOSE_STOP_TIMEOUT_MS;
    await Promise.all(this.tasks().map((t) => t.stop({ timeoutMs })));
  }
}

/** An awsvpc task's network: its namespace lease, and the pause container holding it (pause join). */
interface TaskNet {
  lease: NetnsLease;
  pause?: Docker.Container;
}

/** The pause container goes first (the engine's own teardown), then the namespace, veth and address. */
async function releaseNet(net: TaskNet | undefined): Promise<void> {
  if (net === undefined) return;
  if (net.pause) await removeContainer(net.pause).catch(() => undefined);
  await net.lease.release();
}

interface Held {
  containers: Docker.ContainerInfo[];
  lease?: NetnsLease;
}

/**
 * Containers with scope `scope` whose server (`pharos.server`: `<pid>@<start time>`) is gone,
 * by task; `stray` are those without a task id.
 */
async function leftovers(docker: Docker, scope: string): Promise<{ tasks: Map<string, Docker.ContainerInfo[]>; stray: Docker.ContainerInfo[] }> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.scope}=${scope}`] } });
  const me = serverIdentity();
  const tasks = new Map<string, Docker.ContainerInfo[]>();
  const stray: Docker.ContainerInfo[] = [];
  for (const c of list) {
    const server = c.Labels?.[LABELS.server];
    if (server === undefined || server === me) continue;
    const pid = Number(server.split('@')[0]);
    if (Number.isInteger(pid) && pid > 0 && processIdentity(pid) === server) continue;
    const taskId = c.Labels?.[LABELS.taskId];
    if (taskId === undefined) stray.push(c);
    else tasks.set(taskId, [...(tasks.get(taskId) ?? []), c]);
  }
  return { tasks, stray };
}

/** The container's user: its own, else the runtime's task user. */
function userOf(c: ContainerSpec, taskUser: string | undefined): { user?: string } {
  const user = c.user ?? taskUser;
  return user === undefined ? {} : { user };
}
