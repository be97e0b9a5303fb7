import { isPharosError } from '../lib/index.ts';
import { BAD_CONFIG, parseServerArgs, serverUsage } from './config.ts';
import { runCluster } from './cluster.ts';
import { runAgent } from './agent.ts';
import { runLogs } from './logs.ts';
import { startServer } from './server.ts';
import { version } from './version.ts';

/** Exit code for a command line that could not be understood (flags, values): the usual "usage" code. */
export const EXIT_USAGE = 2;
/** Exit code when the server could not start (port taken, store unreadable), or could not stop in time. */
export const EXIT_START_FAILED = 1;
/**
 * How long a clean shutdown may take before `main` gives up and returns 1: in-flight requests get
 * the API's own grace (10 s), ECS tasks their stop timeouts; anything beyond this is a hang.
 */
const SHUTDOWN_TIMEOUT_MS = 60_000;

const USAGE = `Usage: pharos <command> [flags]

Pharos is a self-hosted AWS Cloud Map + ECS service discovery clone: the AWS CLI and SDKs work
against it with --endpoint-url.

Commands:
  server      Run the API, DNS server and health checker (see: pharos server --help)
  agent       Run an ECS container instance that runs tasks for the servers (see: pharos agent --help)
  logs        Print a task's captured stdout/stderr (see: pharos logs --help)
  version     Print the version (also --version)
  cluster     Show the servers of a cluster and who leads (see: pharos cluster --help)

Flags:
  -h, --help      Show this help
  --version       Print the version
`;

/** Where `main` writes and reads; the process by default, captured in tests. */
export interface MainIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). Injected by tests. */
  stopSignal?: Promise<string>;
}

const processIo = (): MainIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** The `pharos` command. Resolves with the process exit code. */
export async function main(argv: readonly string[], io: MainIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr.write(USAGE);
    return EXIT_USAGE;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version' || command === 'version') {
    io.stdout.write(`pharos ${version()}\n`);
    return 0;
  }
  if (command === 'logs') return runLogs(rest, io);
  if (command === 'cluster') return runCluster(rest, io);
  if (command === 'agent') return runAgent(rest, { ...io, stopSignal: io.stopSignal ?? waitForSignal() });
  if (command !== 'server') {
    io.stderr.write(`pharos: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  return runServer(rest, io);
}

async function runServer(argv: readonly string[], io: MainIo): Promise<number> {
  let parsed;
  try {
    parsed = parseServerArgs(argv, io.env);
  } catch (err) {
    if (!isPharosError(err, BAD_CONFIG)) throw err;
    io.stderr.write(`pharos server: ${err.message}\nRun 'pharos server --help' for the flags.\n`);
    return EXIT_USAGE;
  }
  if (parsed.help) {
    io.stdout.write(serverUsage());
    return 0;
  }
  const stopSignal = io.stopSignal ?? waitForSignal();
  let server;
  try {
    server = await startServer(parsed.config);
  } catch (err) {
    io.stderr.write(`pharos server: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_START_FAILED;
  }
  // Also on stdout, whatever the log level, so scripts can find the real ports (e.g. after port 0).
  io.stdout.write(`pharos listening: api ${server.apiUrl}${server.dnsAddress ? ` dns ${server.dnsAddress}` : ''}\n`);
  // SIGHUP: re-read the TLS certificate and key (e.g. after a renewal), as nginx and HAProxy do.
  const onHup = () => server.reloadTls();
  process.on('SIGHUP', onHup);
  await stopSignal;
  process.off('SIGHUP', onHup);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), SHUTDOWN_TIMEOUT_MS);
    timer.unref();
  });
  const outcome = await Promise.race([server.close().then(() => 'closed' as const), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    io.stderr.write(`pharos server: shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS / 1000}s\n`);
    return EXIT_START_FAILED;
  }
  return 0;
}

/** First SIGINT/SIGTERM starts a clean shutdown; a second one exits at once. */
function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        process.stderr.write(`pharos: ${signal} again, exiting without cleanup\n`);
        process.exit(130);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

