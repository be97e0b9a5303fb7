/**
 * DNS worker processes sharing one socket (src/dns/workers.ts): every worker answers from its own
 * snapshot, fed over IPC from the primary's store, and follows registry changes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsWorkers, type DnsWorkers } from '../src/dns/index.ts';
import { decode, openFixture, query, tcpAsk, udpAsk, type Fixture } from '../src/dns/testutil.ts';
import { eventually, silentLogger } from '../src/lib/index.ts';
import type { ServiceRecord } from '../src/registry/index.ts';

let fx: Fixture;
let pool: DnsWorkers;
let web: ServiceRecord;

before(async () => {
  fx = await openFixture();
  const ns = await fx.namespace('local-1');
  web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
  await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
  pool = await startDnsWorkers({ kv: fx.kv, workers: 2, address: '127.0.0.1:0', logger: silentLogger() });
});

after(async () => {
  await pool?.close();
  await fx?.close();
});

test('two workers answer on one UDP and TCP address, and follow changes', async () => {
  const port = pool.address.port;
  for (let i = 0; i < 20; i++) assert.equal(decode(await udpAsk(port, query('web.local-1', 'A', { id: i }))).answers[0]?.data, '198.18.0.1');
  const [tcp] = await tcpAsk(port, [query('web.local-1', 'A')]);
  assert.equal(decode(tcp!).rcode, 'NOERROR');
  await fx.instance(web, 'i-2', { AWS_INSTANCE_IPV4: '198.18.0.2' });
  // Every answer (whichever worker gives it) soon has both; 20 in a row so both workers are seen.
  await eventually(async () => {
    for (let i = 0; i < 20; i++) {
      if (decode(await udpAsk(port, query('web.local-1', 'A'))).answers.length !== 2) return false;
    }
    return true;
  }, { timeoutMs: 5000 });
});
