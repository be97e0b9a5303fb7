/**
 * The long fuzz pass (issue 8): a real `pharos server` child process takes N hostile DNS packets
 * (UDP, plus TCP streams with lying length prefixes) and M hostile API requests (test/fuzzkit.ts).
 * Reports counts: packets, replies, replies with records outside the zones (must be 0), API
 * statuses, 5xx (must be 0), and whether the process is still alive and correct (0 crashes).
 *
 *   node --import tsx bench/fuzz.ts [dnsPackets=1000000] [apiRequests=100000] [seed]
 */
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FUZZ_ZONES, VALID_QUERIES, answerNames, prng, runApiFuzz, runDnsFuzz } from '../test/fuzzkit.ts';
import { DUMMY_CREDENTIALS, privateNamespace, rawRequest, register, spawnServer, tempDir } from '../test/helpers.ts';
import { decode, query, udpAsk } from '../src/dns/testutil.ts';

const DNS_PACKETS = Number(process.argv[2] ?? 1_000_000);
const API_REQUESTS = Number(process.argv[3] ?? 100_000);
const SEED = Number(process.argv[4] ?? Date.now() % 1_000_000);

const dir = tempDir('pharos-fuzz-');
const server = await spawnServer(['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--max-namespaces', '100000']);
let crashed = false;
void server.exited.then(() => (crashed = true));
const dnsPort = await new Promise<number>((resolve) => {
  const find = () => {
    const line = server.logs.find((l) => l.includes('dnsAddress'));
    if (line) resolve(Number(/"dnsAddress":"[^"]*:(\d+)"/.exec(line)![1]));
    else setTimeout(find, 20);
  };
  find();
});
try {
  const sd = new ServiceDiscovery({ endpoint: server.apiUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, disableHostPrefix: true, maxAttempts: 1 });
  const ns = await privateNamespace(sd, 'local-1');
  const web = (await sd.createService({ Name: 'web', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 60 }] } })).Service!.Id!;
  await register(sd, web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
  const api = (await sd.createService({ Name: 'api', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 30 }, { Type: 'A', TTL: 30 }] } })).Service!.Id!;
  await register(sd, api, 'a-1', { AWS_INSTANCE_IPV4: '198.18.0.11', AWS_INSTANCE_PORT: '8080' });
  sd.destroy();

  const t0 = Date.now();
  const dns = await runDnsFuzz(dnsPort, prng(SEED), VALID_QUERIES, DNS_PACKETS, { tcpStreams: Math.max(40, Math.floor(DNS_PACKETS / 1000)), zones: FUZZ_ZONES, decodeNames: answerNames });
  const dnsSeconds = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  const apiResult = await runApiFuzz(server.apiUrl, prng(SEED + 1), API_REQUESTS, 16);
  const apiSeconds = (Date.now() - t1) / 1000;

  // Alive and correct afterwards.
  const ping = (await rawRequest(server.apiUrl, 'GET', '/ping')).status;
  const answer = decode(await udpAsk(dnsPort, query('web.local-1', 'A', { id: 7 }), 2000)).answers[0]?.data;
  console.log(JSON.stringify({
    seed: SEED,
    dns: { ...dns, seconds: dnsSeconds },
    api: { requests: apiResult.requests, statuses: apiResult.statuses, serverErrors: apiResult.serverErrors, noAnswer: apiResult.noAnswer, examples: apiResult.examples, seconds: apiSeconds },
    // The server's own account of each 5xx (logged once, at the boundary, with its cause).
    faults: server.logs.filter((l) => l.includes('API request failed')).slice(0, 10),
    crashes: crashed ? 1 : 0,
    afterwards: { ping, webA: answer },
  }, null, 1));
  if (crashed || apiResult.serverErrors > 0 || dns.outsideZones > 0 || dns.badReplies > 0 || ping !== 200 || answer !== '198.18.0.1') process.exitCode = 1;
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(dir, { recursive: true, force: true });
}
