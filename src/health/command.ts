import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../lib/index.ts';
import { HealthConfigError } from './errors.ts';
import { describeError, oneLine, type Probe, type ProbeResult } from './probe.ts';

/** ECS `healthCheck.timeout` default (CLOUDMAP-SPEC 4.5). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
/** Output kept for the reason; Docker keeps 4 KiB of health-check output, a reason needs far less. */
export const MAX_COMMAND_OUTPUT_BYTES = 4096;
/** Names `ip netns` accepts and that cannot be mistaken for an option. */
const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** How long output may still arrive after the process exited before the pipes are cut. */
const PIPE_GRACE_MS = 250;
/** The shell `CMD-SHELL` runs through (Docker uses `/bin/sh -c`). */
const SHELL = '/bin/sh';

export interface CommandProbeOptions {
  /** ECS task definition `healthCheck.command`: `["CMD", exe, ...args]` or `["CMD-SHELL", "cmd string"]`. */
  command: readonly string[];
  timeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec <ns> …`), for tasks with their own network. */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
}

/** Turns an ECS health-check command into argv; throws `HealthConfigError` for shapes that can never run. */
export function commandArgv(command: readonly string[], netns?: string): string[] {
  if (!Array.isArray(command) || command.length < 2 || command.some((c) => typeof c !== 'string')) {
    throw new HealthConfigError('health check command must be ["CMD", exe, ...args] or ["CMD-SHELL", "command"]');
  }
  const [kind, ...rest] = command;
  let argv: string[];
  if (kind === 'CMD') {
    if (rest[0] === '') throw new HealthConfigError('health check command has an empty executable');
    argv = rest;
  } else if (kind === 'CMD-SHELL') {
    // Docker joins the rest with spaces when more than one string is given.
    argv = [SHELL, '-c', rest.join(' ')];
  } else {
    throw new HealthConfigError(`health check command must start with CMD or CMD-SHELL, not ${JSON.stringify(kind)}`);
  }
  if (netns !== undefined) {
    if (!NETNS_NAME.test(netns)) throw new HealthConfigError(`invalid network namespace name ${JSON.stringify(netns)}`, { netns });
    argv = ['ip', 'netns', 'exec', netns, ...argv];
  }
  return argv;
}

/**
 * ECS container health check: runs the command, healthy on exit 0. The command runs in its own
 * process group so a timeout kills the whole tree (a shell and what it started), and the result
 * waits for the process to be gone, so no child or pipe outlives the probe.
 */
export class CommandProbe implements Probe {
  readonly type: string;
  readonly target: string;
  private readonly argv: string[];

  constructor(private readonly options: CommandProbeOptions) {
    this.argv = commandArgv(options.command, options.netns);
    this.type = options.command[0] === 'CMD-SHELL' ? 'CMD-SHELL' : 'CMD';
    this.target = oneLine((options.netns ? `[${options.netns}] ` : '') + options.command.slice(1).join(' '));
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    const clock = this.options.clock ?? systemClock;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const started = performance.now();
    if (signal?.aborted) return Promise.resolve({ ok: false, reason: 'aborted', cause: 'aborted', latencyMs: 0 });

    return new Promise<ProbeResult>((resolve) => {
      let output = '';
      let killedFor: { reason: string; cause: 'timeout' | 'aborted' } | undefined;
      let settled = false;
      const child = spawn(this.argv[0]!, this.argv.slice(1), {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: this.options.env ?? process.env,
      });
      const collect = (chunk: Buffer): void => {
        if (output.length < MAX_COMMAND_OUTPUT_BYTES) output += chunk.toString('utf8', 0, MAX_COMMAND_OUTPUT_BYTES - output.length);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);

      const killTree = (why: { reason: string; cause: 'timeout' | 'aborted' }): void => {
        if (killedFor || child.exitCode !== null || child.signalCode !== null) return;
        killedFor = why;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const onAbort = (): void => killTree({ reason: 'aborted', cause: 'aborted' });
      const timer = clock.setTimeout(() => killTree({ reason: `timeout after ${timeoutMs}ms`, cause: 'timeout' }), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });

      const finish = (result: Omit<ProbeResult, 'latencyMs'>): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        // A grandchild that left the process group could hold the pipes open: do not wait for it.
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ ...result, latencyMs: performance.now() - started });
      };

      const fromExit = (code: number | null, sig: NodeJS.Signals | null): Omit<ProbeResult, 'latencyMs'> => {
        if (killedFor) return { ok: false, ...killedFor };
        if (code === 0) return { ok: true, reason: 'exit 0', cause: 'ok' };
        const detail = oneLine(output);
        const status = code !== null ? `exit ${code}` : `killed by ${sig}`;
        return { ok: false, reason: detail ? oneLine(`${status}: ${detail}`) : status, cause: 'exit' };
      };
      child.on('error', (err) => finish(describeError(err, 'io')));
      // 'close' comes after the pipes drained, so the output is complete; if something else keeps
      // the pipes open, finish shortly after 'exit' anyway.
      child.on('close', (code, sig) => finish(fromExit(code, sig)));
      child.on('exit', (code, sig) => {
        const grace = setTimeout(() => finish(fromExit(code, sig)), PIPE_GRACE_MS);
        grace.unref();
        child.once('close', () => clearTimeout(grace));
      });
    });
  }
}
