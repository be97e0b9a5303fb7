/**
 * Entry point of one DNS worker process (see workers.ts): a snapshot fed over IPC from the
 * primary's store, and a DNS server on the sockets the primary shares.
 */
import { createLogger, createMetricsRegistry } from '../lib/index.ts';
import { Snapshot } from '../registry/index.ts';
import { startDnsServer, type DnsServer } from './server.ts';
import { IpcKV, WORKER_ENV, type ToPrimary, type ToWorker, type WorkerSettings } from './workers.ts';

const settings = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerSettings;
const logger = createLogger(settings.logLevel ?? 'warn').child({ module: 'dns-worker', pid: process.pid });
const metrics = createMetricsRegistry();
const reply = (m: ToPrimary) => process.send?.(m);
const kv = new IpcKV(reply);
let running: DnsServer | undefined;
let serverStarted: (server: DnsServer) => void = () => undefined;
const started = new Promise<DnsServer>((resolve) => (serverStarted = resolve));
process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'stop':
      void stop();
      break;
    case 'listen':
      // A replacement worker may be asked before it has started: it serves `extra` then anyway.
      started.then((server) => server.addListener(m.address)).then(
        (bound) => reply({ t: 'listening', id: m.id, host: bound.host, port: bound.port }),
        (err: Error) => reply({ t: 'listening', id: m.id, error: err.message }),
      );
      break;
    case 'metrics':
      void metrics.getMetricsAsJSON().then((json) => reply({ t: 'metrics', id: m.id, metrics: json as Extract<ToPrimary, { t: 'metrics' }>['metrics'] }));
      break;
    default:
      kv.receive(m);
  }
});
// The primary going away (crash, kill -9) must not leave workers answering from a frozen snapshot.
process.on('disconnect', () => process.exit(0));
const snapshot = await Snapshot.open(kv, { logger });
const server = await startDnsServer({
  view: snapshot,
  address: settings.address,
  forward: settings.forward,
  maxAnswers: settings.maxAnswers,
  ...(settings.rrl ? { rrl: settings.rrl } : {}),
  ...(settings.io ? { io: settings.io } : {}),
  logger,
  metrics,
  shared: true,
});
for (const address of settings.extra ?? []) await server.addListener(address);
running = server;
serverStarted(server);
reply({ t: 'ready', host: server.address.host, port: server.address.port });

async function stop(): Promise<void> {
  // Asked to stop while still starting: nothing to drain yet.
  if (!running) process.exit(0);
  await running.close();
  snapshot.close();
  await kv.close();
  process.disconnect?.();
  process.exit(0);
}
