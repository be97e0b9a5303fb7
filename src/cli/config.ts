import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Credentials } from '../api/index.ts';
import { DEFAULT_RRL, autoDnsWorkers, MAX_DNS_WORKERS, UDP_IO_CHOICES, type RrlOptions, type UdpIo } from '../dns/index.ts';
import { LOG_LEVELS, PharosError, formatHostPort, parseHostPort as parseAddress, type HostPort, type LogLevel } from '../lib/index.ts';
import { parseEngineUrl, RUNTIME_CHOICES, type RuntimeChoice } from '../runtime/index.ts';

/** Error code of a bad flag or environment value; `main` turns it into exit code 2. */
export const BAD_CONFIG = 'BadConfig';

/** A flag or environment value that cannot be used; the message names it. */
export class ConfigError extends PharosError {
  constructor(message: string) {
    super(BAD_CONFIG, message);
  }
}

/** A listening or forwarding address. */
export { formatHostPort, type HostPort };

/** Everything `pharos server` can be told, after parsing and validation. */
export interface ServerConfig {
  apiAddr: HostPort;
  /** Access keys whose SigV4 signatures the API accepts; empty = no authentication (loopback only). */
  credentials: readonly Credentials[];
  dnsAddr: HostPort;
  dataDir: string;
  store: string;
  region: string;
  accountId: string;
  logLevel: LogLevel;
  opDelayMs: number;
  customHealthDelayMs: number;
  healthIntervalMs: number;
  /** Most HTTP/HTTPS/TCP health probes in flight at once (src/health DEFAULT_MAX_CONCURRENT_PROBES). */
  healthMaxProbes: number;
  /** Upstream resolver for names outside Pharos's zones; undefined = refuse them. */
  dnsForward: HostPort | undefined;
  dnsMaxAnswers: number;
  /** DNS response-rate limiting: `auto` = on (DEFAULT_RRL) when --dns-addr is not loopback; undefined = off. */
  dnsRrl: RrlOptions | 'auto' | undefined;
  /** DNS server processes; 1 = in the server process, more = that many workers sharing the socket (src/dns/workers.ts). */
  dnsWorkers: number;
  /** DNS UDP I/O: batch (recvmmsg/sendmmsg, native addon), dgram (node's), auto = batch when the addon loads. */
  dnsIo: UdpIo;
  taskCidr: string;
  /** The host bridge awsvpc task namespaces join; another name lets servers and agents on one host keep apart. */
  taskBridge: string;
  /** Who every task runs as when the API does not authenticate requests (no credentials). */
  unauthenticatedTaskUser: string;
  /** How tasks run: `container` (images in an engine), `process` (host processes), `auto`. */
  runtime: RuntimeChoice;
  /** Docker Engine API endpoint; undefined = DOCKER_HOST, else the usual Podman and Docker sockets. */
  containerEngine: string | undefined;
  /** ECS: time between deregistering a stopping task and SIGTERM; undefined = its records' largest TTL plus a grace (orchestrator DRAIN_GRACE_MS). */
  drainDelayMs: number | undefined;
  /** HTTP: time allowed for a request's headers, then for its body (api/limits.ts). */
  httpHeaderTimeoutMs: number;
  httpBodyTimeoutMs: number;
  httpMaxConnections: number;
  httpMaxInFlightPerClient: number;
  watchMaxPerClient: number;
  /** HTTP: answer the common API request on the raw socket (api/fastpath.ts), or everything through node:http. */
  apiHttp: 'fast' | 'node';
  /** PEM files: the API serves HTTPS with them (re-read on SIGHUP); both or neither. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** ECS: whether this server runs tasks itself (its built-in container instance in every cluster). */
  runTasks: boolean;
  /**
   * ECS: this server's node name (its built-in container instance, `task.node` of the tasks it
   * runs); unique per server. Undefined = the server id kept in the data dir.
   */
  nodeName: string | undefined;
  /** ECS: an agent silent this long counts as lost; its tasks leave Cloud Map and are replaced. */
  agentTimeoutMs: number;
  maxNamespaces: number;
  maxInstancesPerNamespace: number;
  maxInstancesPerService: number;
  /** etcds:// only: PEM files for the CA, client certificate and key. */
  etcdCa: string | undefined;
  etcdCert: string | undefined;
  etcdKey: string | undefined;
  /** etcd's own user/password auth, if the cluster has it enabled. */
  etcdUsername: string | undefined;
  etcdPassword: string | undefined;
  /** Several servers: how long a dead leader's lease lives, so how soon its work moves. */
  leaseTtlMs: number;
}

/** One row of a command's config table (`pharos server`, `pharos agent`). */
export interface SettingOf<C, K extends keyof C = keyof C> {
  key: K;
  flag: string;
  env: string;
  /** Shown in help, e.g. `host:port`. */
  arg: string;
  /** A literal, or computed from the settings before it (the store URL follows the data dir). */
  default: string | ((resolved: Partial<C>) => string);
  /** Shown instead of a computed default. */
  defaultHelp?: string;
  help: string;
  parse: (raw: string) => C[K];
}
type Setting<K extends keyof ServerConfig> = SettingOf<ServerConfig, K>;

// Constructor helper so each row keeps its own key/value type inside one heterogeneous table.
const setting = <K extends keyof ServerConfig>(s: Setting<K>): Setting<keyof ServerConfig> => s as unknown as Setting<keyof ServerConfig>;

/** The one config table: every flag, its environment variable, default and help (STYLE habit 7). */
export const SETTINGS: readonly Setting<keyof ServerConfig>[] = [
  setting({ key: 'apiAddr', flag: '--api-addr', env: 'PHAROS_API_ADDR', arg: 'host:port', default: '127.0.0.1:7700', help: 'HTTP API (AWS JSON 1.1), /ping and /metrics. Port 0 picks a free port.', parse: parseHostPort }),
  setting({
    key: 'credentials',
    flag: '--credentials',
    env: 'PHAROS_CREDENTIALS',
    arg: 'keyId:secret[,...]|none',
    default: 'none',
    help: 'Access keys the API accepts (AWS Signature V4 is then checked on every request); none = requests are not authenticated, and the API may only listen on loopback. Prefer the variable: flags show in ps.',
    parse: parseCredentials,
  }),
  setting({ key: 'dnsAddr', flag: '--dns-addr', env: 'PHAROS_DNS_ADDR', arg: 'host:port', default: '127.0.0.1:7753', help: 'Authoritative DNS server (UDP and TCP) for the DNS namespaces.', parse: parseHostPort }),
  setting({ key: 'dataDir', flag: '--data-dir', env: 'PHAROS_DATA_DIR', arg: 'path', default: './.pharos', help: 'Directory for local state (the SQLite database by default); created if missing.', parse: nonEmpty }),
  setting({
    key: 'store',
    flag: '--store',
    env: 'PHAROS_STORE',
    arg: 'url',
    default: (c) => `sqlite:${join(c.dataDir ?? './.pharos', 'pharos.db')}`,
    defaultHelp: 'sqlite:<data-dir>/pharos.db',
    help: 'Where records live: sqlite:<path> (one server), or etcd://host:port[,host:port...][/prefix] (several servers on one etcd cluster; etcds:// for TLS; keys under /pharos unless a prefix is given).',
    parse: parseStoreUrl,
  }),
  setting({ key: 'etcdCa', flag: '--etcd-ca', env: 'PHAROS_ETCD_CA', arg: 'path|none', default: 'none', help: 'etcds://: PEM file of the CA that signed the etcd members\' certificates (none = the system roots).', parse: optionalValue }),
  setting({ key: 'etcdCert', flag: '--etcd-cert', env: 'PHAROS_ETCD_CERT', arg: 'path|none', default: 'none', help: 'etcds://: PEM client certificate, for etcd --client-cert-auth (with --etcd-key).', parse: optionalValue }),
  setting({ key: 'etcdKey', flag: '--etcd-key', env: 'PHAROS_ETCD_KEY', arg: 'path|none', default: 'none', help: 'etcds://: PEM private key of --etcd-cert.', parse: optionalValue }),
  setting({ key: 'etcdUsername', flag: '--etcd-username', env: 'PHAROS_ETCD_USERNAME', arg: 'name|none', default: 'none', help: 'etcd user, when the cluster has auth enabled (with PHAROS_ETCD_PASSWORD).', parse: optionalValue }),
  setting({ key: 'etcdPassword', flag: '--etcd-password', env: 'PHAROS_ETCD_PASSWORD', arg: 'secret|none', default: 'none', help: 'Password of the etcd user. Prefer the variable: flags show in ps.', parse: optionalValue }),
  setting({ key: 'leaseTtlMs', flag: '--lease-ttl', env: 'PHAROS_LEASE_TTL', arg: 'duration', default: '3s', help: 'Several servers on etcd: TTL of each server\'s lease; when the leader (health checks, ECS scheduler, takeover of a dead server\'s operations) dies, another server takes over within about this long plus 0.6s; a leader that cannot renew its lease for 70% of it steps down. Whole seconds, at least 2s.', parse: parseLeaseTtl }),
  setting({ key: 'region', flag: '--region', env: 'PHAROS_REGION', arg: 'name', default: 'us-east-1', help: 'Region that appears in every ARN.', parse: parseRegion }),
  setting({ key: 'accountId', flag: '--account-id', env: 'PHAROS_ACCOUNT_ID', arg: '12 digits', default: '000000000000', help: 'Account id in ARNs and ResourceOwner fields.', parse: parseAccountId }),
  setting({ key: 'logLevel', flag: '--log-level', env: 'PHAROS_LOG_LEVEL', arg: 'level', default: 'info', help: `Log level: ${LOG_LEVELS.join(', ')}. Logs are JSON lines on stderr.`, parse: parseLogLevel }),
  setting({ key: 'opDelayMs', flag: '--op-delay', env: 'PHAROS_OP_DELAY', arg: 'duration', default: '0ms', help: 'Time an asynchronous operation (namespace create, register, ...) stays pending before it runs; 0 runs it at once, right after the call returns (still poll GetOperation).', parse: parseDurationFlag }),
  setting({ key: 'customHealthDelayMs', flag: '--custom-health-delay', env: 'PHAROS_CUSTOM_HEALTH_DELAY', arg: 'duration', default: '0s', help: 'Delay before UpdateInstanceCustomHealthStatus takes effect (AWS: about 30s).', parse: parseDurationFlag }),
  setting({ key: 'healthIntervalMs', flag: '--health-interval', env: 'PHAROS_HEALTH_INTERVAL', arg: 'duration', default: '5s', help: 'Interval between HTTP/HTTPS/TCP health probes of an instance (AWS: 30s).', parse: parseDurationFlag }),
  setting({ key: 'healthMaxProbes', flag: '--health-max-probes', env: 'PHAROS_HEALTH_MAX_PROBES', arg: 'n', default: '1024', help: 'Most health probes (sockets) in flight at once, across all endpoints.', parse: parseIntFlag(1, 65_536) }),
  setting({ key: 'dnsForward', flag: '--dns-forward', env: 'PHAROS_DNS_FORWARD', arg: 'host[:port]|none', default: 'none', help: 'Resolver to forward names outside Pharos zones to; none answers REFUSED.', parse: parseForward }),
  setting({ key: 'dnsMaxAnswers', flag: '--dns-max-answers', env: 'PHAROS_DNS_MAX_ANSWERS', arg: 'n', default: '8', help: 'Most records in a MULTIVALUE answer (Route 53: 8).', parse: parseIntFlag(1, 1000) }),
  setting({
    key: 'dnsRrl',
    flag: '--dns-rrl',
    env: 'PHAROS_DNS_RRL',
    arg: 'auto|off|rate[/slip]',
    default: 'auto',
    help: `DNS response-rate limiting of UDP answers per client /24 and answer (BIND/Knot RRL): past rate answers/s they are dropped, every slip-th sent truncated (TC) so real clients retry over TCP. auto = ${DEFAULT_RRL.responsesPerSecond}/${DEFAULT_RRL.slip} when --dns-addr is not loopback, off on loopback.`,
    parse: parseRrl,
  }),
  setting({
    key: 'dnsWorkers',
    flag: '--dns-workers',
    env: 'PHAROS_DNS_WORKERS',
    arg: 'n|auto',
    default: '1',
    help: 'Processes answering DNS: 1 answers in the server process; n > 1 runs n worker processes sharing the DNS socket, each with its own copy of the snapshot (a dead one is restarted); auto = cores - 1.',
    parse: parseDnsWorkers,
  }),
  setting({
    key: 'dnsIo',
    flag: '--dns-io',
    env: 'PHAROS_DNS_IO',
    arg: UDP_IO_CHOICES.join('|'),
    default: 'auto',
    help: "How DNS reads and writes UDP: batch = many datagrams per system call (recvmmsg/sendmmsg, the native addon npm ci builds; start fails without it), dgram = node's dgram, one datagram per call; auto = batch when the addon loads, else dgram with a warning.",
    parse: parseDnsIo,
  }),
  setting({ key: 'taskCidr', flag: '--task-cidr', env: 'PHAROS_TASK_CIDR', arg: 'cidr', default: '198.18.0.0/16', help: 'IPv4 range task network namespaces get their addresses from.', parse: parseCidr }),
  setting({ key: 'taskBridge', flag: '--task-bridge', env: 'PHAROS_TASK_BRIDGE', arg: 'name', default: 'pharos0', help: 'Host bridge for task network namespaces. Servers (and agents) sharing a host may share it with distinct --task-cidr values, or each use their own; a bridge is deleted only by the server that created it.', parse: parseBridge }),
  setting({
    key: 'unauthenticatedTaskUser',
    flag: '--unauthenticated-task-user',
    env: 'PHAROS_UNAUTHENTICATED_TASK_USER',
    arg: 'user',
    default: 'nobody',
    help: "Without --credentials no request is authenticated, so every task runs as this unprivileged user (needs a root server) and a task definition's user is refused; with credentials tasks run as their task definition's user, by default the server's.",
    parse: parseUnprivilegedUser,
  }),
  setting({
    key: 'runtime',
    flag: '--runtime',
    env: 'PHAROS_RUNTIME',
    arg: RUNTIME_CHOICES.join('|'),
    default: 'auto',
    help: 'How tasks run: container = the image in a container engine (Podman or Docker), process = entryPoint+command as host processes, auto = container when an engine answers, else process. The choice is logged at start.',
    parse: parseRuntimeChoice,
  }),
  setting({
    key: 'containerEngine',
    flag: '--container-engine',
    env: 'PHAROS_CONTAINER_ENGINE',
    arg: 'unix:///path.sock|tcp://host:port',
    default: '',
    defaultHelp: 'DOCKER_HOST, else /run/podman/podman.sock or /var/run/docker.sock',
    help: 'Docker Engine API endpoint of the container runtime (podman system service, or dockerd).',
    parse: parseContainerEngine,
  }),
  setting({ key: 'drainDelayMs', flag: '--drain-delay', env: 'PHAROS_DRAIN_DELAY', arg: 'duration|ttl', default: 'ttl', help: 'ECS: how long a stopping task keeps running after it left DNS, before SIGTERM; ttl = the largest TTL of its Cloud Map records plus 1s for answers and requests in flight.', parse: (raw) => (raw === 'ttl' ? undefined : parseDurationFlag(raw)) }),
  setting({ key: 'httpHeaderTimeoutMs', flag: '--http-header-timeout', env: 'PHAROS_HTTP_HEADER_TIMEOUT', arg: 'duration', default: '5s', help: 'A client that has not sent its request headers this long after connecting is disconnected (408).', parse: parsePositiveDuration }),
  setting({ key: 'httpBodyTimeoutMs', flag: '--http-body-timeout', env: 'PHAROS_HTTP_BODY_TIMEOUT', arg: 'duration', default: '10s', help: 'Time allowed for a request body after its headers; a slower client is disconnected (408).', parse: parsePositiveDuration }),
  setting({ key: 'httpMaxConnections', flag: '--http-max-connections', env: 'PHAROS_HTTP_MAX_CONNECTIONS', arg: 'n', default: '4096', help: 'Open API connections at once, all clients together; a new one past it closes the oldest idle connection (or itself when all are busy).', parse: parseIntFlag(1, 1_000_000) }),
  setting({ key: 'httpMaxInFlightPerClient', flag: '--http-max-in-flight-per-client', env: 'PHAROS_HTTP_MAX_IN_FLIGHT_PER_CLIENT', arg: 'n', default: '256', help: 'API requests in progress at once from one client address; more get ThrottlingException (SDKs retry it).', parse: parseIntFlag(1, 1_000_000) }),
  setting({ key: 'watchMaxPerClient', flag: '--watch-max-per-client', env: 'PHAROS_WATCH_MAX_PER_CLIENT', arg: 'n', default: '1024', help: 'Watches (GET /v1/...) one client holds at once: per access key id when requests are signed, else per address; more get ThrottlingException (429). Each watch holds one of --http-max-connections.', parse: parseIntFlag(1, 1_000_000) }),
  setting({ key: 'apiHttp', flag: '--api-http', env: 'PHAROS_API_HTTP', arg: 'fast|node', default: 'fast', help: 'fast = the AWS JSON API\'s usual request (POST /, Content-Length) is read and answered straight on the socket, anything else by node:http; node = every request through node:http (the fallback if a client misbehaves with the fast path). HTTPS is always node:https.', parse: parseApiHttp }),
  setting({ key: 'tlsCert', flag: '--tls-cert', env: 'PHAROS_TLS_CERT', arg: 'pem file|none', default: 'none', help: 'Certificate chain (PEM): with --tls-key the API serves HTTPS. Both files are read again on SIGHUP.', parse: parseOptionalPath }),
  setting({ key: 'tlsKey', flag: '--tls-key', env: 'PHAROS_TLS_KEY', arg: 'pem file|none', default: 'none', help: 'Private key (PEM) of --tls-cert.', parse: parseOptionalPath }),
  setting({ key: 'runTasks', flag: '--run-tasks', env: 'PHAROS_RUN_TASKS', arg: 'true|false', default: 'true', help: 'ECS: run tasks on this machine (the server is then a container instance of every cluster, next to any `pharos agent`; with several servers, while it leads); false = only agents run tasks.', parse: parseBoolFlag }),
  setting({ key: 'nodeName', flag: '--node-name', env: 'PHAROS_NODE_NAME', arg: 'name|auto', default: 'auto', help: 'ECS: this server\'s node name, unique per server: its built-in container instance is ec2InstanceId pharos-server-<name>, and the tasks it runs carry it. auto = on etcd, the server id kept in <data-dir>/server-id; on SQLite, the name the store already uses (an older Pharos used local, so an upgrade keeps its tasks and container instance), else the server id. Letters, digits, dot, dash, underscore; up to 63.', parse: parseNodeName }),
  setting({ key: 'agentTimeoutMs', flag: '--agent-timeout', env: 'PHAROS_AGENT_TIMEOUT', arg: 'duration', default: '15s', help: 'ECS: a container instance whose agent sent no heartbeat for this long is lost: its tasks leave DNS at once, are recorded STOPPED and are replaced on other instances.', parse: parseDurationFlag }),
  setting({ key: 'maxNamespaces', flag: '--max-namespaces', env: 'PHAROS_MAX_NAMESPACES', arg: 'n', default: '50', help: 'Quota: namespaces per region (AWS default 50).', parse: parseIntFlag(1, 1_000_000) }),
  setting({ key: 'maxInstancesPerNamespace', flag: '--max-instances-per-namespace', env: 'PHAROS_MAX_INSTANCES_PER_NAMESPACE', arg: 'n', default: '2000', help: 'Quota: instances per namespace (AWS default 2,000).', parse: parseIntFlag(1, 10_000_000) }),
  setting({ key: 'maxInstancesPerService', flag: '--max-instances-per-service', env: 'PHAROS_MAX_INSTANCES_PER_SERVICE', arg: 'n', default: '1000', help: 'Quota: instances per service (AWS: 1,000).', parse: parseIntFlag(1, 10_000_000) }),
];

/** Result of reading the command line: the config, or a request for help. */
type ParsedArgs = { help: true } | { help: false; config: ServerConfig };

/**
 * Reads `pharos server` flags (`--flag value` or `--flag=value`) over `PHAROS_*` variables over
 * defaults. Throws `ConfigError` with a message naming the flag or variable.
 */
export function parseServerArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedArgs {
  const parsed = parseFlags(SETTINGS, argv, env);
  if (parsed.help) return parsed;
  checkApiExposure(parsed.config);
  if ((parsed.config.tlsCert === undefined) !== (parsed.config.tlsKey === undefined)) throw new ConfigError('--tls-cert and --tls-key go together: give both PEM files, or neither');
  return parsed;
}

/**
 * Reads a command's flags (`--flag value` or `--flag=value`) over its `PHAROS_*` variables over
 * the table's defaults. Throws `ConfigError` with a message naming the flag or variable.
 */
/** `--runtime` of the server and the agent: one of RUNTIME_CHOICES. */
export function parseRuntimeChoice(raw: string): RuntimeChoice {
  if (!(RUNTIME_CHOICES as readonly string[]).includes(raw)) throw new Error(`must be one of ${RUNTIME_CHOICES.join(', ')}`);
  return raw as RuntimeChoice;
}

/** `--container-engine` of the server and the agent: empty = DOCKER_HOST or the default sockets. */
export function parseContainerEngine(raw: string): string | undefined {
  if (raw === '') return undefined;
  parseEngineUrl(raw);
  return raw;
}

export function parseFlags<C>(settings: readonly SettingOf<C>[], argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { help: true } | { help: false; config: C } {
  const raw = new Map<keyof C, { value: string; source: string }>();
  for (const s of settings) {
    const value = env[s.env];
    if (value !== undefined && value !== '') raw.set(s.key, { value, source: s.env });
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { help: true };
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const s = settings.find((x) => x.flag === name);
    if (!s) throw new ConfigError(`unknown flag ${name}`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag ${name} needs a value (${s.arg})`);
    }
    raw.set(s.key, { value, source: name });
  }
  const config: Partial<C> = {};
  for (const s of settings) {
    const given = raw.get(s.key);
    const value = given?.value ?? (typeof s.default === 'function' ? s.default(config) : s.default);
    try {
      (config as Record<keyof C, unknown>)[s.key] = s.parse(value);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ConfigError(`${given?.source ?? s.flag}: ${why}`);
    }
  }
  return { help: false, config: config as C };
}

/**
 * DESIGN (The API): Pharos refuses to listen beyond loopback without credentials, since anyone
 * who reaches an unauthenticated API can register instances into DNS. Throws `ConfigError`.
 */
export function checkApiExposure(config: Pick<ServerConfig, 'apiAddr' | 'credentials'>): void {
  if (config.credentials.length > 0 || isLoopback(config.apiAddr.host)) return;
  throw new ConfigError(
    `--api-addr ${formatHostPort(config.apiAddr)} is reachable beyond loopback, and no credentials are configured: ` +
      'set --credentials <accessKeyId:secretAccessKey> (or PHAROS_CREDENTIALS) so that requests must be signed, or listen on 127.0.0.1',
  );
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(?:::ffff:)?127\.\d+\.\d+\.\d+$/i.test(host);
}

/** The defaults, as `pharos server` with no flags and no environment would run. */
export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const parsed = parseServerArgs([]);
  if (parsed.help) throw new Error('unreachable');
  return { ...parsed.config, ...overrides };
}

/** Help text for `pharos server --help`, generated from the table. */
export function serverUsage(): string {
  return usageOf('Usage: pharos server [flags]', 'Starts the Cloud Map-compatible API, the DNS server and the health checker over one store.', SETTINGS);
}

/** A command's help text from its config table. */
export function usageOf<C>(usage: string, what: string, settings: readonly SettingOf<C>[]): string {
  const rows = settings.map((s) => {
    const def = s.defaultHelp ?? (typeof s.default === 'string' ? s.default : '');
    return `  ${s.flag} <${s.arg}>\n      ${s.help}\n      env ${s.env}, default ${def}`;
  });
  return [
    usage,
    '',
    what,
    'Every flag can also be set with its PHAROS_* environment variable; a flag wins over the variable.',
    'Flags take `--flag value` or `--flag=value`. Durations: 500ms, 5s, 1m.',
    '',
    'Flags:',
    ...rows,
    '  -h, --help',
    '      Show this help.',
    '',
  ].join('\n');
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `5s`, `1.5s`, `1m`, `1h`, or `0`, into milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m || (m[2] === undefined && Number(m[1]) !== 0)) {
    throw new Error(`${JSON.stringify(raw)} is not a duration (use e.g. 500ms, 5s, 1m)`);
  }
  return Math.round(Number(m[1]) * DURATION_UNITS_MS[m[2] ?? 'ms']!);
}

function parsePositiveDuration(raw: string): number {
  const ms = parseDurationFlag(raw);
  if (ms <= 0) throw new Error('must be more than 0');
  return ms;
}

function parseOptionalPath(raw: string): string | undefined {
  return raw.trim() === 'none' ? undefined : nonEmpty(raw);
}

function parseDurationFlag(raw: string): number {
  const ms = parseDuration(raw);
  // setTimeout caps at 2^31-1 ms (about 24.8 days); a larger delay would fire at once.
  if (ms > 2 ** 31 - 1) throw new Error(`${raw} is too long (at most 24 days)`);
  return ms;
}

/** `host:port` or `[v6]:port` of a flag; `defaultPort` makes the port optional. */
export function parseHostPort(raw: string, defaultPort?: number): HostPort {
  const hp = parseAddress(raw, defaultPort);
  if (hp.host === '') throw new Error(`${JSON.stringify(raw)} is not host:port`);
  return hp;
}

function parseForward(raw: string): HostPort | undefined {
  if (raw.trim() === 'none') return undefined;
  const DNS_PORT = 53;
  const hp = parseHostPort(raw, DNS_PORT);
  if (isIP(hp.host) === 0) throw new Error(`${JSON.stringify(raw)}: the forwarder must be an IP address (or none)`);
  return hp;
}

/** Access key ids as AWS writes them, and what people use locally (letters, digits, `_.-`). */
const ACCESS_KEY_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/** `id:secret[,id:secret...]` or `none`. Messages name the key id, never the secret. */
function parseCredentials(raw: string): Credentials[] {
  if (raw.trim() === 'none') return [];
  const credentials: Credentials[] = [];
  for (const [i, entry] of raw.split(',').entries()) {
    const pair = entry.trim();
    const colon = pair.indexOf(':');
    const accessKeyId = colon === -1 ? pair : pair.slice(0, colon);
    const secretAccessKey = colon === -1 ? '' : pair.slice(colon + 1);
    if (!ACCESS_KEY_ID.test(accessKeyId)) throw new Error(`entry ${i + 1}: the access key id must be 1-128 letters, digits, '_', '.' or '-' (use accessKeyId:secretAccessKey, or none)`);
    if (secretAccessKey === '' || /\s/.test(secretAccessKey)) throw new Error(`entry ${i + 1} (${accessKeyId}): the secret access key must be non-empty without spaces (use accessKeyId:secretAccessKey)`);
    if (credentials.some((c) => c.accessKeyId === accessKeyId)) throw new Error(`access key id ${accessKeyId} is given twice`);
    credentials.push({ accessKeyId, secretAccessKey });
  }
  return credentials;
}

function nonEmpty(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
}

function parseStoreUrl(raw: string): string {
  if (/^sqlite:.+/.test(raw) || /^etcds?:\/\/.+/.test(raw)) return raw;
  throw new Error(`${JSON.stringify(raw)} is not a store URL (use sqlite:<path> or etcd://host:port[,host:port...])`);
}

function parseLeaseTtl(raw: string): number {
  const ms = parseDuration(raw);
  if (ms < 2000 || ms > 600_000) throw new Error(`${raw} is out of range (2s to 10m)`);
  return ms;
}

/**
 * `--node-name`: a name that fits an ec2InstanceId and a placement expression. 32 hex digits are
 * refused: that is the form of an agent's container instance id, which is the agent's node name.
 */
function parseNodeName(raw: string): string | undefined {
  if (raw === 'auto') return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw)) throw new Error(`${JSON.stringify(raw)} is not a node name (letters, digits, '.', '-', '_'; 1 to 63, starting with a letter or digit)`);
  if (/^[0-9a-f]{32}$/.test(raw)) throw new Error(`${JSON.stringify(raw)} has the form of an agent's container instance id (32 hex digits), which agents use as their node name`);
  return raw;
}

/** A value that may be absent: `none` (the default) = not set. */
function optionalValue(raw: string): string | undefined {
  if (raw.trim() === 'none') return undefined;
  return nonEmpty(raw);
}

export function parseRegion(raw: string): string {
  if (/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(raw)) return raw;
  throw new Error(`${JSON.stringify(raw)} is not a region name like us-east-1`);
}

function parseAccountId(raw: string): string {
  if (/^\d{12}$/.test(raw)) return raw;
  throw new Error(`${JSON.stringify(raw)} is not a 12-digit account id`);
}

export function parseLogLevel(raw: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(raw)) return raw as LogLevel;
  throw new Error(`${JSON.stringify(raw)} is not a log level (${LOG_LEVELS.join(', ')})`);
}

function parseApiHttp(raw: string): 'fast' | 'node' {
  if (raw === 'fast' || raw === 'node') return raw;
  throw new ConfigError(`expected fast or node, got ${JSON.stringify(raw)}`);
}

function parseBoolFlag(raw: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`expected true or false, got ${JSON.stringify(raw)}`);
}

function parseIntFlag(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${JSON.stringify(raw)} is not a whole number in ${min}-${max}`);
    return n;
  };
}

function parseRrl(raw: string): RrlOptions | 'auto' | undefined {
  const v = raw.trim();
  if (v === 'auto') return 'auto';
  if (v === 'off') return undefined;
  const m = /^(\d+)(?:\/(\d+))?$/.exec(v);
  const rate = Number(m?.[1]);
  const slip = m?.[2] === undefined ? DEFAULT_RRL.slip : Number(m[2]);
  if (!m || rate < 1 || rate > 1_000_000 || slip > 10) throw new Error(`${JSON.stringify(raw)} is not auto, off or rate[/slip] (e.g. 20/2; slip 0-10)`);
  return { responsesPerSecond: rate, slip };
}

/** Linux interface names: at most 15 bytes; these characters are safe in `ip -batch` lines. */
export function parseBridge(raw: string): string {
  if (/^[A-Za-z0-9_-]{1,15}$/.test(raw)) return raw;
  throw new Error(`${JSON.stringify(raw)} is not an interface name (1-15 letters, digits, '_' or '-')`);
}

/** A user name or uid other than root: unauthenticated requests must never run code as root. */
export function parseUnprivilegedUser(raw: string): string {
  const user = raw.trim();
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$/.test(user)) throw new Error(`${JSON.stringify(raw)} is not a user name or uid`);
  if (user === 'root' || /^0+$/.test(user)) throw new Error('must not be root: tasks of unauthenticated requests run as this user');
  return user;
}

function parseDnsIo(raw: string): UdpIo {
  if (!(UDP_IO_CHOICES as readonly string[]).includes(raw.trim())) throw new Error(`must be one of ${UDP_IO_CHOICES.join(', ')}`);
  return raw.trim() as UdpIo;
}

function parseDnsWorkers(raw: string): number {
  if (raw.trim() === 'auto') return autoDnsWorkers();
  return parseIntFlag(1, MAX_DNS_WORKERS)(raw);
}

export function parseCidr(raw: string): string {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(raw.trim());
  if (!m || isIP(m[1]!) !== 4 || Number(m[2]) > 30) throw new Error(`${JSON.stringify(raw)} is not an IPv4 CIDR with room for tasks (e.g. 198.18.0.0/16)`);
  return raw.trim();
}
