import { HealthConfigError } from './errors.ts';

/** The shell `CMD-SHELL` runs through (Docker uses `/bin/sh -c`). */
const SHELL = '/bin/sh';

/** Turns an ECS health-check command (`["CMD", exe, ...args]` or `["CMD-SHELL", "cmd string"]`) into argv; throws `HealthConfigError` for shapes that can never run. */
export function commandArgv(command: readonly string[]): string[] {
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
  return argv;
}
