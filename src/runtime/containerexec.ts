import type Docker from 'dockerode';
import { demux, errorText } from './engine.ts';
import type { ExecOptions, ExecResult } from './runtime.ts';
import { EXEC_OUTPUT_LIMIT } from './task.ts';

/**
 * The engine's exec in a container (its environment, user and namespaces: what a Docker
 * HEALTHCHECK sees). A timed-out command is killed by its host pid when the engine runs on this
 * machine; otherwise it is abandoned. `gone()` says whether a failure to start the exec means the
 * container (or task) has stopped: then it rejects with what `gone` returns.
 */
export async function engineExec(docker: Docker, handle: Docker.Container, argv: string[], options: ExecOptions, gone: () => Error | undefined): Promise<ExecResult> {
  if (argv.length === 0 || argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    return { exitCode: 127, signal: null, timedOut: false, output: 'exec: empty or invalid command' };
  }
  let exec: Docker.Exec;
  let stream: NodeJS.ReadWriteStream;
  try {
    exec = await handle.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
    stream = (await exec.start({})) as unknown as NodeJS.ReadWriteStream;
  } catch (err) {
    const stopped = gone();
    if (stopped !== undefined) throw stopped;
    return { exitCode: 127, signal: null, timedOut: false, output: `exec: ${errorText(err)}`.slice(0, EXEC_OUTPUT_LIMIT) };
  }
  let output = '';
  const parts = demux(docker, stream as never);
  const collect = (chunk: Buffer) => {
    if (output.length < EXEC_OUTPUT_LIMIT) output = (output + chunk.toString()).slice(0, EXEC_OUTPUT_LIMIT);
  };
  parts.stdout.on('data', collect);
  parts.stderr.on('data', collect);
  const ended = Promise.all([new Promise((r) => parts.stdout.once('end', r)), new Promise((r) => parts.stderr.once('end', r))]);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, options.timeoutMs));
    options.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const finished = await Promise.race([ended.then(() => true), expired.then(() => false)]);
  clearTimeout(timer);
  if (!finished) {
    const pid = (await exec.inspect().catch(() => undefined))?.Pid;
    if (pid !== undefined && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile, or the engine runs elsewhere
      }
    }
    (stream as unknown as { destroy?: () => void }).destroy?.();
    return { exitCode: null, signal: 'SIGKILL', timedOut: true, output };
  }
  const code = (await exec.inspect().catch(() => undefined))?.ExitCode;
  return { exitCode: typeof code === 'number' ? code : null, signal: null, timedOut: false, output };
}
