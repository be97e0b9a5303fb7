/**
 * Child process for bench/dns.ts: serves DNS from an existing SQLite store, as `pharos server`
 * does (SqliteKV → Snapshot → startDnsServer), and prints `ready <port>` once listening.
 *   node --import tsx bench/dns-server.ts <db-path> <host:port> [maxAnswers] [workers]
 * With workers > 1, that many processes share the socket (src/dns/workers.ts).
 */
import { startDnsServer, startDnsWorkers } from '../src/dns/index.ts';
import { createMetricsRegistry, silentLogger } from '../src/lib/index.ts';
import { Snapshot } from '../src/registry/index.ts';
import { SqliteKV } from '../src/store/sqlite.ts';

const [dbPath, address = '127.0.0.1:0', maxAnswers = '8', workers = '1'] = process.argv.slice(2);
if (!dbPath) throw new Error('usage: dns-server.ts <db-path> <host:port> [maxAnswers] [workers]');
const kv = await SqliteKV.open(dbPath);
if (Number(workers) > 1) {
  const pool = await startDnsWorkers({ kv, workers: Number(workers), address, maxAnswers: Number(maxAnswers), logger: silentLogger() });
  process.stdout.write(`ready ${pool.address.port}\n`);
  const stopPool = async () => {
    await pool.close();
    await kv.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stopPool());
  process.on('SIGINT', () => void stopPool());
} else {
  const metrics = createMetricsRegistry();
  const view = await Snapshot.open(kv, { metrics });
  const server = await startDnsServer({ view, address, maxAnswers: Number(maxAnswers), logger: silentLogger(), metrics });
  process.stdout.write(`ready ${server.address.port}\n`);
  const stop = async () => {
    await server.close();
    view.close();
    await kv.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
