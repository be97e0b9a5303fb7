/**
 * Cost of one SigV4 check in process (no sockets): a DiscoverInstances request as the SDKs sign
 * it, verified again and again with the signing key cached, and with the cache missed (a new
 * region every time: the four-HMAC key derivation included).
 *
 *   node --import tsx bench/api-sigv4.ts [iterations=200000]
 */
import { createHash, createHmac } from 'node:crypto';
import { SigV4Verifier, type SignedRequest } from '../src/api/index.ts';
import { systemClock } from '../src/lib/index.ts';
import { fmt } from './api-lib.ts';

const iterations = Number(process.argv[2] ?? 200_000);
const KEY = { accessKeyId: 'bench', secretAccessKey: 'bench-secret' };
const TARGET = 'Route53AutoNaming_v20170314.DiscoverInstances';
const body = JSON.stringify({ NamespaceName: 'bench', ServiceName: 'web', HealthStatus: 'HEALTHY' });

function signed(region: string): SignedRequest {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  const key = h(h(h(h(`AWS4${KEY.secretAccessKey}`, day), region), 'servicediscovery'), 'aws4_request');
  const names = 'content-type;host;x-amz-date;x-amz-target';
  const canonical = `POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:127.0.0.1:7700\nx-amz-date:${amzDate}\nx-amz-target:${TARGET}\n\n${names}\n${createHash('sha256').update(body).digest('hex')}`;
  const scope = `${day}/${region}/servicediscovery/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return {
    method: 'POST',
    url: '/',
    body: Buffer.from(body),
    rawHeaders: [
      'Host', '127.0.0.1:7700',
      'Content-Type', 'application/x-amz-json-1.1',
      'X-Amz-Target', TARGET,
      'X-Amz-Date', amzDate,
      'Authorization', `AWS4-HMAC-SHA256 Credential=${KEY.accessKeyId}/${scope}, SignedHeaders=${names}, Signature=${signature}`,
      'Content-Length', String(body.length),
    ],
  };
}

function perCallMicros(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(i);
  const start = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - start) * 1000) / n;
}

const verifier = new SigV4Verifier({ credentials: [KEY], clock: systemClock });
const warm = signed('us-east-1');
const cached = perCallMicros(iterations, () => verifier.verify(warm, 'servicediscovery'));
// Every request of a new region: the signing key is derived again (the cache is bounded and emptied when full).
const regions = Array.from({ length: 2000 }, (_, i) => signed(`xx-bench-${i}`));
const uncached = perCallMicros(Math.min(iterations, regions.length * 10), (i) => verifier.verify(regions[i % regions.length]!, 'servicediscovery'));
console.log(`SigV4 verify of a signed DiscoverInstances request, ${fmt(iterations)} iterations`);
console.log(`  signing key cached: ${fmt(cached, 2)} µs per request (${fmt(1e6 / cached)} per second on one core)`);
console.log(`  signing key derived each time: ${fmt(uncached, 2)} µs per request`);
