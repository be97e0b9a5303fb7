/**
 * Entry point of one DNS worker process (see workers.ts): a snapshot fed over IPC from the
 * primary's store, and a DNS server on the socket the primary shares.
 */
import { createLogger, createMetricsRegistry } from '../lib/index.ts';
import { Snapshot } from '../registry/index.ts';
import { startDnsServer } from './server.ts';
import { IpcKV, WORKER_ENV, type ToPrimary, type ToWorker, type WorkerSettings } from './workers.ts';

const settings = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerSettings;
const logger = createLogger('warn').child({ module: 'dns-worker', pid: process.pid });
const kv = new IpcKV((m: ToPrimary) => process.send?.(m));
process.on('message', (m: ToWorker) => {
  if (m.t === 'stop') void stop();
  else kv.receive(m);
});
const snapshot = await Snapshot.open(kv, { logger });
const server = await startDnsServer({
  view: snapshot,
  address: settings.address,
  forward: settings.forward,
  maxAnswers: settings.maxAnswers,
  logger,
  metrics: createMetricsRegistry(),
  shared: true,
});
process.send?.({ t: 'ready', host: server.address.host, port: server.address.port } satisfies ToPrimary);

async function stop(): Promise<void> {
  await server.close();
  snapshot.close();
  await kv.close();
  process.disconnect?.();
  process.exit(0);
}
