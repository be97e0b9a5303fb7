import { startAgent, type AwsCredentials } from '../agent/index.ts';
import { createLogger, isPharosError, type LogLevel } from '../lib/index.ts';
import { chooseRuntime, createRuntime, RUNTIME_CHOICES, type RuntimeChoice } from '../runtime/index.ts';
import { join } from 'node:path';
import { BAD_CONFIG, ConfigError, parseBridge, parseCidr, parseContainerEngine, parseFlags, parseLogLevel, parseRegion, parseRuntimeChoice, parseUnprivilegedUser, usageOf, type SettingOf } from './config.ts';
import { prepareDataDir } from './datadir.ts';
import { TASK_ADDRESSES_FILE, TASK_DIRS } from './server.ts';

/** Everything `pharos agent` can be told. */
interface AgentConfig {
  servers: string[];
  cluster: string;
  region: string;
  runtime: RuntimeChoice;
  containerEngine: string | undefined;
  taskCidr: string;
  taskBridge: string;
  advertiseAddr: string;
  attributes: { name: string; value?: string }[];
  dataDir: string;
  unauthenticatedTaskUser: string;
  logLevel: LogLevel;
}

/**
 * The agent's config table. Its defaults differ from the server's where both may run on one
 * machine: another bridge and CIDR, so their tasks and cleanups never meet.
 */
const AGENT_SETTINGS: readonly SettingOf<AgentConfig>[] = [
  { key: 'servers', flag: '--server', env: 'PHAROS_SERVERS', arg: 'url[,url...]', default: 'http://127.0.0.1:7700', help: 'API URL(s) of the Pharos server(s); the next one is tried when one cannot be reached.', parse: parseUrls },
  { key: 'cluster', flag: '--cluster', env: 'PHAROS_CLUSTER', arg: 'name', default: 'default', help: 'ECS cluster this container instance joins (it must exist).', parse: (raw) => nonEmptyName(raw) },
  { key: 'region', flag: '--region', env: 'PHAROS_REGION', arg: 'name', default: 'us-east-1', help: 'Region the requests are signed for (the server\'s --region).', parse: parseRegion },
  { key: 'runtime', flag: '--runtime', env: 'PHAROS_RUNTIME', arg: RUNTIME_CHOICES.join('|'), default: 'auto', help: 'How tasks run, as on the server: container = the image in a container engine (Podman or Docker), process = entryPoint+command as host processes (awsvpc tasks in network namespaces, root), auto = container when an engine answers, else process. The choice is logged at start.', parse: parseRuntimeChoice },
  { key: 'containerEngine', flag: '--container-engine', env: 'PHAROS_CONTAINER_ENGINE', arg: 'unix:///path.sock|tcp://host:port', default: '', help: 'Docker Engine API endpoint of the container runtime (default: DOCKER_HOST, else /run/podman/podman.sock or /var/run/docker.sock).', parse: parseContainerEngine },
  { key: 'taskCidr', flag: '--task-cidr', env: 'PHAROS_TASK_CIDR', arg: 'cidr', default: '198.19.0.0/16', help: 'IPv4 range this agent\'s awsvpc tasks get addresses from (distinct per host, and from the server\'s).', parse: parseCidr },
  { key: 'taskBridge', flag: '--task-bridge', env: 'PHAROS_TASK_BRIDGE', arg: 'name', default: 'pharosagent0', help: 'Host bridge of this agent\'s awsvpc tasks; cleanup at start only touches namespaces and veths of this bridge.', parse: parseBridge },
  { key: 'advertiseAddr', flag: '--advertise-addr', env: 'PHAROS_ADVERTISE_ADDR', arg: 'ip', default: '127.0.0.1', help: 'Address host-network tasks of this agent are registered with (AWS_INSTANCE_IPV4).', parse: (raw) => raw },
  { key: 'attributes', flag: '--attributes', env: 'PHAROS_ATTRIBUTES', arg: 'k=v,...', default: '', help: 'Custom attributes for placement constraints (memberOf); ecs.availability-zone=<zone> sets the zone spread uses.', parse: parseAttributes },
  { key: 'dataDir', flag: '--data-dir', env: 'PHAROS_DATA_DIR', arg: 'path', default: './.pharos-agent', help: 'Where the agent keeps its container instance ARN (a restart is the same instance).', parse: (raw) => raw },
  {
    key: 'unauthenticatedTaskUser',
    flag: '--unauthenticated-task-user',
    env: 'PHAROS_UNAUTHENTICATED_TASK_USER',
    arg: 'user',
    default: 'nobody',
    help: "Without AWS credentials the agent's server authenticates nobody, so every task runs as this unprivileged user (as on the server); with credentials tasks run as their task definition's user.",
    parse: parseUnprivilegedUser,
  },
  { key: 'logLevel', flag: '--log-level', env: 'PHAROS_LOG_LEVEL', arg: 'level', default: 'info', help: 'Log level; logs are JSON lines on stderr.', parse: parseLogLevel },
];

export const AGENT_USAGE = usageOf(
  'Usage: pharos agent [flags]',
  'Runs an ECS container instance on this host: registers with the server(s), receives the tasks placed on it,\n' +
    'runs them and reports back, over the HTTP API only. Requests are signed with AWS_ACCESS_KEY_ID /\n' +
    'AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) from the environment when they are set, as the AWS CLI does.',
  AGENT_SETTINGS,
);

export function parseAgentArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { help: true } | { help: false; config: AgentConfig } {
  return parseFlags(AGENT_SETTINGS, argv, env);
}

/** The AWS clients' environment variables; none = unsigned requests (servers without --credentials). */
export function credentialsFromEnv(env: Readonly<Record<string, string | undefined>>): AwsCredentials | undefined {
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env['AWS_SESSION_TOKEN'];
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

interface AgentIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  stopSignal: Promise<string>;
}

/** Runs `pharos agent` until a signal (or its instance is deregistered); resolves with the exit code. */
export async function runAgent(argv: readonly string[], io: AgentIo): Promise<number> {
  let parsed;
  try {
    parsed = parseAgentArgs(argv, io.env);
  } catch (err) {
    if (!isPharosError(err, BAD_CONFIG)) throw err;
    io.stderr.write(`pharos agent: ${err.message}\nRun 'pharos agent --help' for the flags.\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(AGENT_USAGE);
    return 0;
  }
  const c = parsed.config;
  const logger = createLogger(c.logLevel);
  const credentials = credentialsFromEnv(io.env);
  let serverId: string;
  try {
    // The agent's identity, stamped on what its runtime creates: its cleanup removes only that.
    serverId = prepareDataDir(c.dataDir).serverId;
  } catch (err) {
    io.stderr.write(`pharos agent: ${(err as Error).message}\n`);
    return 1;
  }
  let chosen;
  try {
    chosen = await chooseRuntime(c.runtime, c.containerEngine, process.env, logger);
  } catch (err) {
    io.stderr.write(`pharos agent: --runtime ${c.runtime}: ${(err as Error).message}\n`);
    return 1;
  }
  logger.info({ runtime: chosen.kind }, `task runtime: ${chosen.kind} (${chosen.reason})`);
  const runtime = createRuntime({
    advertiseAddress: c.advertiseAddr,
    ...(chosen.kind === 'container' ? { engine: chosen.engine } : {}),
    awsvpc: { taskCidr: c.taskCidr, bridge: c.taskBridge, addressFile: join(c.dataDir, TASK_ADDRESSES_FILE) },
    owner: serverId,
    workRoot: join(c.dataDir, TASK_DIRS),
    taskUser: credentials ? undefined : c.unauthenticatedTaskUser,
    logger: logger.child({ module: 'runtime' }),
  });
  let agent;
  try {
    agent = await startAgent({
      servers: c.servers,
      cluster: c.cluster,
      region: c.region,
      credentials,
      dataDir: c.dataDir,
      attributes: c.attributes,
      advertiseAddress: c.advertiseAddr,
      runtime,
      logger: logger.child({ module: 'agent' }),
    });
  } catch (err) {
    io.stderr.write(`pharos agent: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    await runtime.close().catch(() => undefined);
    return 1;
  }
  io.stdout.write(`pharos agent: container instance ${agent.containerInstanceArn}\n`);
  const why = await Promise.race([io.stopSignal, agent.done]);
  logger.info({ why }, 'pharos agent stopping');
  await agent.close();
  return why.startsWith('SIG') ? 0 : 1;
}

function parseUrls(raw: string): string[] {
  const urls = raw.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) throw new ConfigError('at least one URL is needed');
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new ConfigError(`${JSON.stringify(u)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${u}: only http and https URLs`);
  }
  return urls;
}

function nonEmptyName(raw: string): string {
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(raw)) throw new ConfigError('must be up to 255 letters, digits, hyphens and underscores');
  return raw;
}

function parseAttributes(raw: string): { name: string; value?: string }[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
    if (!/^[A-Za-z0-9_.\-/]{1,128}$/.test(name)) throw new ConfigError(`bad attribute name ${JSON.stringify(name)}`);
    return eq === -1 ? { name } : { name, value: pair.slice(eq + 1).trim() };
  });
}
