/** The command line and the wiring. Nothing imports this folder except bin/pharos.js and tests. */
export { main, EXIT_USAGE, EXIT_START_FAILED, type MainIo } from './main.ts';
export { startServer, type RunningServer, type StartOptions } from './server.ts';
export {
  SETTINGS,
  ConfigError,
  defaultConfig,
  parseServerArgs,
  parseDuration,
  parseHostPort,
  formatHostPort,
  serverUsage,
  type ServerConfig,
  type HostPort,
} from './config.ts';
