import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isPharosError, systemClock, type Clock, type Logger } from '../lib/index.ts';
import { AGENT_VERSION, hostResources, TaskSupervisor } from '../orchestrator/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { AgentClient } from './client.ts';
import type { AwsCredentials } from './sign.ts';
import { ApiTaskSource, REQUEST_TIMEOUT_MS } from './source.ts';

/** What `pharos agent` needs, after its flags are read (src/cli/agent.ts). */
export interface AgentOptions {
  servers: readonly string[];
  cluster: string;
  region: string;
  credentials?: AwsCredentials;
  /** Where the agent keeps its container instance ARN, so a restart is the same instance. */
  dataDir: string;
  /** Custom attributes (placement constraints match them); `ecs.availability-zone` sets the zone. */
  attributes: { name: string; value?: string }[];
  /** Address host-network tasks advertise (their `AWS_INSTANCE_IPV4`). */
  advertiseAddress?: string;
  runtime: Runtime;
  logger: Logger;
  clock?: Clock;
}

export interface RunningAgent {
  containerInstanceArn: string;
  /** Resolves when the agent must stop on its own (its instance was deregistered). */
  done: Promise<string>;
  /** Stops local tasks (deregistered first, recorded STOPPED so they are replaced), then the runtime. Repeatable. */
  close(): Promise<void>;
}

/** What a restart needs to come back as the same container instance. */
interface SavedState {
  containerInstanceArn: string;
}

/**
 * A container instance on a worker host: registers (or re-registers with its saved ARN), cleans
 * up what a previous run on this host left (scoped to this agent's bridge and processes), then
 * runs the orchestrator's task supervisor over the API instead of the store.
 */
export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const clock = o.clock ?? systemClock;
  const client = new AgentClient({ servers: o.servers, region: o.region, credentials: o.credentials, clock });
  mkdirSync(o.dataDir, { recursive: true });
  const statePath = join(o.dataDir, `agent-${o.cluster}.json`);
  const saved = readState(statePath);

  await o.runtime.cleanup();
  const instance = await register(client, o, saved?.containerInstanceArn);
  writeState(statePath, { containerInstanceArn: instance.containerInstanceArn });
  const id = instance.containerInstanceArn.split('/').at(-1)!;
  const log = o.logger.child({ containerInstance: id });
  log.info({ cluster: o.cluster, servers: o.servers, reregistered: saved?.containerInstanceArn === instance.containerInstanceArn }, 'container instance registered');

  let supervisor: TaskSupervisor | undefined;
  let finish!: (why: string) => void;
  const done = new Promise<string>((resolve) => (finish = resolve));
  const source = new ApiTaskSource({
    client,
    cluster: o.cluster,
    containerInstanceArn: instance.containerInstanceArn,
    clock,
    logger: log,
    runningTasks: () => supervisor?.liveTaskIds ?? [],
    onInactive: () => finish('the container instance was deregistered'),
  });
  supervisor = new TaskSupervisor({
    source,
    runtime: o.runtime,
    registrar: source.registrar(),
    clock,
    logger: log.child({ part: 'supervisor' }),
    node: id,
    restartReason: 'Task stopped because the Pharos agent restarted while it was running',
  });
  await supervisor.start();

  let closing: Promise<void> | undefined;
  return {
    containerInstanceArn: instance.containerInstanceArn,
    done,
    close: () => {
      closing ??= (async () => {
        await supervisor.stop();
        // The supervisor's stop cancelled the poll loop; wait for its last request.
        await source.closed();
        await o.runtime.close();
      })();
      return closing;
    },
  };
}

async function register(client: AgentClient, o: AgentOptions, savedArn: string | undefined): Promise<{ containerInstanceArn: string }> {
  const az = o.attributes.find((a) => a.name === 'ecs.availability-zone')?.value;
  const { cpu, memory } = hostResources();
  const body = {
    cluster: o.cluster,
    instanceIdentityDocument: JSON.stringify({ instanceId: hostname(), ...(az ? { availabilityZone: az } : {}) }),
    totalResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: cpu },
      { name: 'MEMORY', type: 'INTEGER', integerValue: memory },
    ],
    attributes: o.attributes,
    versionInfo: { agentVersion: AGENT_VERSION },
    ...(o.advertiseAddress ? { advertiseAddress: o.advertiseAddress } : {}),
  };
  if (savedArn) {
    try {
      const out = await client.call<{ containerInstance: { containerInstanceArn: string } }>('RegisterContainerInstance', { ...body, containerInstanceArn: savedArn }, REQUEST_TIMEOUT_MS);
      return out.containerInstance;
    } catch (err) {
      // Deregistered meanwhile (or another cluster's): start over as a new instance.
      if (!isPharosError(err, 'ClientException')) throw err;
    }
  }
  const out = await client.call<{ containerInstance: { containerInstanceArn: string } }>('RegisterContainerInstance', body, REQUEST_TIMEOUT_MS);
  return out.containerInstance;
}

function readState(path: string): SavedState | undefined {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as Partial<SavedState>;
    return typeof s.containerInstanceArn === 'string' ? { containerInstanceArn: s.containerInstanceArn } : undefined;
  } catch {
    return undefined;
  }
}

function writeState(path: string, state: SavedState): void {
  // Written whole, then renamed: a crash never leaves half a file.
  writeFileSync(`${path}.tmp`, JSON.stringify(state) + '\n', { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
