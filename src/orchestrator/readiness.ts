import { connect } from 'node:net';
import type { Clock } from '../lib/index.ts';
import type { RunningTask } from '../runtime/index.ts';
import type { ServiceRegistry, TaskDefinitionRecord } from './model.ts';

/**
 * A task without container health checks is registered once its registered port accepts TCP
 * connections (spawned is not listening): polled this often, for at most READY_TIMEOUT_MS, after
 * which it is registered anyway (ECS would have registered it at RUNNING).
 */
const READY_POLL_MS = 50;
const READY_TIMEOUT_MS = 30_000;
/** Connect timeout of one readiness probe. */
const READY_CONNECT_TIMEOUT_MS = 500;

/** What the readiness wait reads of a started task. */
interface ReadinessTarget {
  taskDefinition: TaskDefinitionRecord;
  registry: ServiceRegistry;
  running: RunningTask;
  /** True once the task is asked to stop or is done: the wait ends, not ready. */
  abandoned(): boolean;
}

/**
 * Readiness for tasks without health checks: the port Cloud Map will advertise (or the first
 * mapped port) accepts a TCP connection. True at once for tasks with health checks or no port;
 * false when the task is abandoned, an essential container exits or `signal` aborts first.
 */
export async function portReady(target: ReadinessTarget, clock: Clock, signal: AbortSignal): Promise<boolean> {
  const { taskDefinition: td, registry: reg, running: rt } = target;
  if (td.containerDefinitions.some((c) => c.essential && c.healthCheck && c.healthCheck.command[0] !== 'NONE')) return true;
  const mapping = td.containerDefinitions.flatMap((c) => c.portMappings.map((m) => ({ c, m }))).find(({ c, m }) =>
    reg.containerName !== undefined ? c.name === reg.containerName && m.containerPort === reg.containerPort : m.protocol === 'tcp',
  );
  // The published port (a bridge task's dynamic host port is known only once it runs).
  const bound = mapping && rt.networkBindings.find((b) => b.containerName === mapping.c.name && b.containerPort === mapping.m.containerPort);
  const port = reg.port ?? bound?.hostPort ?? mapping?.m.hostPort;
  // A UDP port cannot be probed with a connect: register at once, as ECS would.
  if (port === undefined || (reg.port === undefined && mapping?.m.protocol === 'udp')) return true;
  const host = rt.ipv4 === '0.0.0.0' ? '127.0.0.1' : rt.ipv4;
  const deadline = clock.now() + READY_TIMEOUT_MS;
  const exited = () => rt.containers().some((c) => c.essential && c.state === 'STOPPED');
  while (!target.abandoned() && !exited() && clock.now() < deadline) {
    if (await tcpConnects(host, port)) return true;
    try {
      await clock.sleep(READY_POLL_MS, signal);
    } catch {
      return false;
    }
  }
  return !target.abandoned() && !exited();
}

function tcpConnects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(READY_CONNECT_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
