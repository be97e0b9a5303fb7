import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics } from 'prom-client';
import { ApiServer, CONSOLE_PREFIX, ConsoleBackend, ConsoleSessions, WatchHub, cloudMapTarget, clusterRoute, ecsTarget, route53Route, watchRoute, type TlsMaterial } from '../api/index.ts';
import { consoleAssets } from '../console/index.ts';
import { DEFAULT_RRL, startDnsServer, startDnsWorkers, type RrlOptions } from '../dns/index.ts';
import { HealthMonitor } from '../health/index.ts';
import { createLogger, createMetricsRegistry, formatHostPort, systemClock, type Clock, type Logger } from '../lib/index.ts';
import { Registry, Snapshot } from '../registry/index.ts';
import { cloudMap } from '../registry/ops/index.ts';
import { Route53 } from '../route53/index.ts';
import { Compactor, fencedKV, isSharedStore, openCoordinator, openStore } from '../store/index.ts';
import { Orchestrator, ecsKeys, storedNodeName } from '../orchestrator/index.ts';
import { ecs } from '../orchestrator/ops/index.ts';
import { chooseRuntime, createRuntime, type Runtime } from '../runtime/index.ts';
import { checkApiExposure, isLoopback, type ServerConfig } from './config.ts';
import { prepareDataDir } from './datadir.ts';
import { LeaderWork, type LeaderPart } from './leader.ts';
import { version } from './version.ts';

/** Each task's default working directory is `<data-dir>/tasks/<taskId>`. */
export const TASK_DIRS = 'tasks';
/** `<data-dir>/task-addresses.json`: awsvpc task addresses in use and resting, kept across restarts (src/runtime IpAllocator). */
export const TASK_ADDRESSES_FILE = 'task-addresses.json';

/** Resolvers (glibc, musl, c-ares) read no port from resolv.conf: a task's nameserver must answer on 53. */
const TASK_DNS_PORT = 53;

/** A started `pharos server`: where it listens, and how to stop it. */
export interface RunningServer {
  /** e.g. `http://127.0.0.1:7700` (the real port when started with port 0). */
  apiUrl: string;
  /** `host:port` of the DNS server, once the DNS block is wired in. */
  dnsAddress?: string;
  /**
   * Reads --tls-cert and --tls-key again (SIGHUP): new connections get the new certificate. A file
   * that cannot be read or parsed is logged and the old certificate kept. No-op without TLS.
   */
  reloadTls(): void;
  /**
   * Stops in reverse start order: the API first (no new requests, in-flight ones finish), then
   * the other parts, the registry, the snapshot, and the store last. Repeatable.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  /** ECS orchestrator: the task runtime to use (tests pass one with their own bridge/netns names). Default: createRuntime over config.taskCidr. */
  runtime?: Runtime;
  /** Defaults to a JSON logger on stderr at `config.logLevel`. */
  logger?: Logger;
  clock?: Clock;
}

/**
 * The one place the parts are put together: store → snapshot → registry → (DNS, health,
 * orchestrator) → API. Each part registers its stop function as it starts; a failure part-way
 * stops what had started, so a failed start leaves no open store or listening socket behind.
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  // Also for callers that built the config without parseServerArgs: nothing opens before this.
  checkApiExposure(config);
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const metrics = createMetricsRegistry();
  collectDefaultMetrics({ register: metrics });
  const stops: { name: string; stop: () => unknown }[] = [];
  let dnsAddress: string | undefined;

  const stopAll = async (): Promise<void> => {
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err, part: name }, 'error while stopping');
      }
    }
  };

  try {
    // ---- store and registry -------------------------------------------------------------
    // 0700, with this server's identity: what it creates on the host carries it (runtime owner).
    const { serverId } = prepareDataDir(config.dataDir);
    const etcd = { caFile: config.etcdCa, certFile: config.etcdCert, keyFile: config.etcdKey, username: config.etcdUsername, password: config.etcdPassword };
    const kv = await openStore(config.store, { metrics, logger: logger.child({ module: 'store' }), clock, etcd });
    stops.push({ name: 'store', stop: () => kv.close() });
    // Keeps the store's history bounded; stops (after any batch in progress) before the store closes.
    const compactor = new Compactor(kv, { clock, logger: logger.child({ module: 'compactor' }) });
    compactor.start();
    stops.push({ name: 'compactor', stop: () => compactor.stop() });

    // Who leads (started once the API listens). The leader-only work writes through `leaderKv`:
    // each write also checks that this server's leader record is still the current one.
    const coordinator = await openCoordinator(config.store, kv, { leaseTtlMs: config.leaseTtlMs, logger: logger.child({ module: 'cluster' }), metrics });
    const leaderKv = fencedKV(kv, coordinator);

    const snapshot = await Snapshot.open(kv, { clock, logger: logger.child({ module: 'snapshot' }), metrics });
    stops.push({ name: 'snapshot', stop: () => snapshot.close() });

    const registry = new Registry({
      kv,
      leaderKv,
      snapshot,
      sharedStore: isSharedStore(config.store),
      storeLease: () => coordinator.storeLease(),
      clock,
      logger: logger.child({ module: 'registry' }),
      metrics,
      config: {
        region: config.region,
        accountId: config.accountId,
        quotas: {
          namespacesPerRegion: config.maxNamespaces,
          instancesPerNamespace: config.maxInstancesPerNamespace,
          instancesPerService: config.maxInstancesPerService,
        },
        opDelayMs: config.opDelayMs,
        customHealthDelayMs: config.customHealthDelayMs,
      },
    });
    await registry.start();
    stops.push({ name: 'registry', stop: () => registry.stop() });

    const api = new ApiServer({
      logger: logger.child({ module: 'api' }),
      metrics,
      credentials: config.credentials,
      clock,
      limits: {
        headerTimeoutMs: config.httpHeaderTimeoutMs,
        bodyTimeoutMs: config.httpBodyTimeoutMs,
        maxConnections: config.httpMaxConnections,
        maxInFlightPerClient: config.httpMaxInFlightPerClient,
      },
      fastPath: config.apiHttp === 'fast',
      ...(config.tlsCert !== undefined && config.tlsKey !== undefined ? { tls: readTls(config.tlsCert, config.tlsKey) } : {}),
    });
    api.addTarget(cloudMapTarget(cloudMap(registry)));
    // The watch (GET /v1/...): waiters per service, woken by the snapshot's changes.
    const watchHub = new WatchHub(snapshot, metrics);
    stops.push({ name: 'watch', stop: () => watchHub.close() });
    api.addPathRoute(
      watchRoute({ view: snapshot, discoverInstances: cloudMap(registry).DiscoverInstances }, watchHub, logger.child({ module: 'watch' }), {
        maxPerClient: config.watchMaxPerClient,
        metrics,
      }),
    );

    // ---- DNS server (src/dns) -----------------------------------------------------------
    // Authoritative for every DNS namespace, answered from `snapshot`; names outside the zones
    // go to config.dnsForward when set, else REFUSED. Stops before the snapshot closes. With
    // --dns-workers n > 1, n worker processes answer instead, each from its own snapshot of the
    // same store (src/dns/workers.ts), and this process only relays the store to them.
    const rrl = rrlFor(config);
    const dnsOptions = {
      address: config.dnsAddr,
      forward: config.dnsForward,
      maxAnswers: config.dnsMaxAnswers,
      io: config.dnsIo,
      // Forged sources make an open UDP port an amplifier; on loopback nobody can forge them.
      ...(rrl ? { rrl } : {}),
      logger: logger.child({ module: 'dns' }),
      metrics,
    };
    const dns =
      config.dnsWorkers > 1
        ? await startDnsWorkers({ ...dnsOptions, kv, workers: config.dnsWorkers, address: formatHostPort(config.dnsAddr), forward: config.dnsForward && formatHostPort(config.dnsForward), logLevel: config.logLevel })
        : await startDnsServer({ ...dnsOptions, view: snapshot, clock });
    stops.push({ name: 'dns', stop: () => dns.close() });
    dnsAddress = formatHostPort(dns.address);

    // ---- Route 53 hosted zones (src/route53) ---------------------------------------------
    // The zone of each DNS namespace over the same snapshot DNS answers from, plus users' record
    // sets; REST-XML under /2013-04-01/ on the API port.
    const route53 = new Route53({ kv, snapshot, region: config.region, nsAddress: dns.address.host, clock, logger: logger.child({ module: 'route53' }) });
    route53.start();
    stops.push({ name: 'route53', stop: () => route53.stop() });
    api.addPathRoute(route53Route(route53, logger.child({ module: 'route53' })));

    // ---- health checker (src/health) ----------------------------------------------------
    // HTTP/HTTPS/TCP probes of every instance of a service with a HealthCheckConfig; status
    // changes are written through the registry (setHealth). Stops before the registry.
    // Runs on the cluster leader only (always, on SQLite): a new monitor per leadership term.
    const healthPart: LeaderPart = {
      name: 'health-checker',
      start: async (partMetrics) => {
        const health = new HealthMonitor({
          view: snapshot,
          notifier: registry,
          intervalMs: config.healthIntervalMs,
          maxConcurrentProbes: config.healthMaxProbes,
          clock,
          logger: logger.child({ module: 'health' }),
          metrics: partMetrics,
        });
        health.start();
        return () => health.stop();
      },
    };

    // ---- ECS orchestrator (src/orchestrator) --------------------------------------------
    // The runtime cleans up what a previous run left (namespaces, processes) before any task;
    // the orchestrator then records this node's lost tasks as STOPPED and the scheduler replaces
    // them. Stop order: orchestrator (deregisters and stops tasks) before the runtime closes.
    // Without credentials nobody is authenticated, so no request may choose who runs its code:
    // every task runs as the unprivileged --unauthenticated-task-user (README "Authentication").
    let runtime = options.runtime;
    if (runtime === undefined) {
      const chosen = await chooseRuntime(config.runtime, config.containerEngine, process.env, logger);
      logger.info({ runtime: chosen.kind }, `task runtime: ${chosen.kind} (${chosen.reason})`);
      runtime = createRuntime({
        awsvpc: { taskCidr: config.taskCidr, bridge: config.taskBridge, addressFile: join(config.dataDir, TASK_ADDRESSES_FILE) },
        ...(chosen.kind === 'container' ? { engine: chosen.engine } : {}),
        owner: serverId,
        workRoot: join(config.dataDir, TASK_DIRS),
        taskUser: config.credentials.length === 0 ? config.unauthenticatedTaskUser : undefined,
        metrics,
        logger: logger.child({ module: 'runtime' }),
      });
    }
    // A task in its own network namespace has its own loopback, so the DNS address above is out
    // of its reach: when the netns runtime brings its bridge up, DNS also listens on the bridge's
    // gateway (port 53: resolv.conf cannot name another) and each task's resolv.conf points there.
    runtime.setTaskDns?.(async (gateway) => {
      // A wildcard --dns-addr on port 53 already answers on the gateway (and holds the port).
      const wildcard = (dns.address.host === '0.0.0.0' || dns.address.host === '::') && dns.address.port === TASK_DNS_PORT;
      if (!wildcard) await dns.addListener({ host: gateway, port: TASK_DNS_PORT });
      return { nameservers: [gateway] };
    });
    await runtime.cleanup();
    stops.push({ name: 'runtime', stop: () => runtime.close() });
    // `--node-name auto`: on etcd the server id (unique per server). SQLite has one server, which
    // keeps the name its store already uses (an older Pharos used `local`), so an upgrade neither
    // replaces its tasks nor leaves its old built-in instance listed; a new store takes the server id.
    const node = config.nodeName ?? (isSharedStore(config.store) ? serverId : ((await storedNodeName(kv)) ?? serverId));
    const orchestratorOptions = {
      kv,
      leaderKv,
      runtime,
      registryView: snapshot,
      cloudMap: cloudMap(registry),
      region: config.region,
      accountId: config.accountId,
      drainDelayMs: config.drainDelayMs,
      runTasks: config.runTasks,
      agentTimeoutMs: config.agentTimeoutMs,
      node,
      metrics,
      logger: logger.child({ module: 'orchestrator' }),
      clock,
    };
    // The scheduler, this node's supervisor and its built-in container instance run on the leader
    // only: each leadership term starts a fresh set over the same metrics (Orchestrator.start/stop).
    const orchestrator = new Orchestrator(orchestratorOptions);
    const orchestratorPart: LeaderPart = {
      name: 'ecs-scheduler-supervisor',
      start: async () => {
        await orchestrator.start();
        return () => orchestrator.stop();
      },
    };
    // Leader work: operations acknowledged by a server that died are run by the leader.
    const adoptionPart: LeaderPart = {
      name: 'operations-adoption',
      start: async () => {
        const timer = setInterval(() => registry.adoptOrphanedOperations(config.leaseTtlMs), Math.max(250, config.leaseTtlMs / 5));
        return async () => clearInterval(timer);
      },
    };
    const leaderWork = new LeaderWork(coordinator, [adoptionPart, healthPart, orchestratorPart], logger.child({ module: 'cluster' }), metrics);
    stops.push({ name: 'coordinator', stop: () => coordinator.stop() });
    stops.push({ name: 'leader work', stop: () => leaderWork.stop() });
    api.addPathRoute(clusterRoute(coordinator, logger.child({ module: 'cluster' })));
    api.addTarget(ecsTarget(ecs(orchestrator.api)));

    // ---- web console (/console/): static files, sessions when credentials are set, change events
    const consoleBackend = new ConsoleBackend({
      assets: consoleAssets(CONSOLE_PREFIX),
      registry: snapshot,
      store: kv,
      ecsPrefix: ecsKeys.root,
      sessions: config.credentials.length > 0 ? new ConsoleSessions({ credentials: config.credentials, clock }) : undefined,
      logger: logger.child({ module: 'console' }),
    });
    await consoleBackend.start(api);

    // ---- API (last, so /ping is ready only when everything above runs) -----------------
    await api.listen(config.apiAddr.host, config.apiAddr.port);
    stops.push({ name: 'api', stop: () => api.close() });
    // Stopped first: its open event streams would hold the API's close for the whole grace period.
    stops.push({ name: 'console', stop: () => consoleBackend.close() });
    // Leadership last: the leader's work starts once this server serves, and on SQLite at once.
    await coordinator.start({ apiUrl: api.url, dnsAddress, version: version() });
    // On SQLite (always the leader) the scheduler and health checker run before /ping says ready.
    await leaderWork.start();
    // The supervisor adopted what it could of the previous run's containers; when this server is
    // not the leader (etcd) it runs no tasks, so nothing kept for adoption may stay running.
    await runtime.releaseUnadopted?.();
    api.setReady(true);

    const apiUrl = api.url;
    logger.info({ apiUrl, dnsAddress, serverId, node, store: config.store, sigv4: api.authenticates, accessKeys: config.credentials.length }, `pharos listening: api ${apiUrl}${dnsAddress ? `, dns ${dnsAddress}` : ''}`);

    let closing: Promise<void> | undefined;
    return {
      apiUrl,
      dnsAddress,
      reloadTls: () => {
        if (config.tlsCert === undefined || config.tlsKey === undefined) return;
        try {
          api.setTls(readTls(config.tlsCert, config.tlsKey));
          logger.info({ cert: config.tlsCert }, 'TLS certificate reloaded');
        } catch (err) {
          logger.error({ err, cert: config.tlsCert }, 'TLS certificate not reloaded: keeping the previous one');
        }
      },
      close: () => {
        closing ??= (async () => {
          logger.info('pharos shutting down');
          await stopAll();
          logger.info('pharos stopped');
          logger.flush?.();
        })();
        return closing;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The PEM files of --tls-cert and --tls-key; errors name the file. */
function readTls(certFile: string, keyFile: string): TlsMaterial {
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${flag} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return { cert: read(certFile, '--tls-cert'), key: read(keyFile, '--tls-key') };
}

/** --dns-rrl resolved: `auto` limits when DNS listens beyond loopback. */
function rrlFor(config: ServerConfig): RrlOptions | undefined {
  if (config.dnsRrl !== 'auto') return config.dnsRrl;
  return isLoopback(config.dnsAddr.host) ? undefined : DEFAULT_RRL;
}
