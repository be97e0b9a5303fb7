import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The one logger factory: structured JSON lines on stderr, one child per module. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
