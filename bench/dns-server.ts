/**
 * Child process for bench/dns.ts: serves DNS from an existing SQLite store, as `pharos server`
 * does (SqliteKV → Snapshot → startDnsServer), and prints `ready <port>` once listening.
 *   node --import tsx bench/dns-server.ts <db-path> <host:port> [maxAnswers]
 */
import { startDnsServer } from '../src/dns/index.ts';
import { createMetricsRegistry, silentLogger } from '../src/lib/index.ts';
import { Snapshot } from '../src/registry/index.ts';
import { SqliteKV } from '../src/store/sqlite.ts';

const [dbPath, address = '127.0.0.1:0', maxAnswers = '8'] = process.argv.slice(2);
if (!dbPath) throw new Error('usage: dns-server.ts <db-path> <host:port> [maxAnswers]');
const kv = await SqliteKV.open(dbPath);
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
