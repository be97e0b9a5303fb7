import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isPharosError } from '../lib/index.ts';
import { CLOUD_MAP_ERROR_CODES } from './errors.ts';
import { REGISTRY_OPERATIONS, cloudMap } from './ops/index.ts';
import { httpNamespace, openHarness, privateNamespace, register, removeDir, service, type Harness } from './testkit.ts';

/**
 * Untrusted input never crashes an operation: random bodies built from the model's member names
 * and hostile values must either succeed or fail with a Cloud Map client error (never a TypeError
 * or a store fault).
 */

const MEMBERS = [
  'Name', 'Id', 'ServiceId', 'InstanceId', 'NamespaceId', 'CreatorRequestId', 'UpdaterRequestId', 'Description', 'Vpc',
  'Tags', 'TagKeys', 'ResourceARN', 'Properties', 'DnsConfig', 'HealthCheckConfig', 'HealthCheckCustomConfig', 'Type',
  'Attributes', 'Namespace', 'Service', 'NamespaceName', 'ServiceName', 'MaxResults', 'NextToken', 'Filters',
  'QueryParameters', 'OptionalParameters', 'HealthStatus', 'OwnerAccount', 'OperationId', 'Instances', 'Status',
];

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fuzz', () => {
  let h: Harness;
  const known: string[] = [];
  before(async () => {
    h = await openHarness();
    const ns = await privateNamespace(h.registry, 'fuzz.local');
    const httpNs = await httpNamespace(h.registry, 'fuzz-http');
    const svc = await service(h.registry, { Name: 'web', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] }, HealthCheckCustomConfig: {} });
    await register(h.registry, svc.Id, 'i1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
    known.push(ns, httpNs, svc.Id, svc.Arn, 'i1', 'fuzz.local', 'web', 'HTTP', 'A', 'EQ', 'IN', 'TYPE', 'NAME');
  });
  after(async () => {
    await h.close();
    removeDir(h.dir);
  });

  test('every operation answers random bodies with a Cloud Map error or a result', async () => {
    const random = rng(Number(process.env['FUZZ_SEED'] ?? 20261125));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const value = (depth: number): unknown => {
      switch (Math.floor(random() * 12)) {
        case 0: return null;
        case 1: return Math.floor(random() * 3000) - 1000;
        case 2: return random() < 0.5;
        case 3: return pick(known);
        case 4: return 'x'.repeat(Math.floor(random() * 1200));
        case 5: return pick(['', ' ', 'arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-x', '__proto__', 'constructor', '\u0000', 'é', '1e400']);
        case 6: return depth > 2 ? [] : Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
        case 7: return depth > 2 ? {} : body(depth + 1);
        case 8: return 1.5;
        case 9: return Number.MAX_SAFE_INTEGER;
        case 10: return depth > 2 ? {} : { Key: value(depth + 1), Value: value(depth + 1), Type: pick(['A', 'SRV', 'HTTP', 'TCP']), TTL: value(depth + 1) };
        default: return pick(known);
      }
    };
    const body = (depth: number): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      const n = Math.floor(random() * 6);
      for (let i = 0; i < n; i++) out[pick(MEMBERS)] = value(depth);
      return out;
    };
    let ok = 0;
    let failed = 0;
    for (let round = 0; round < 60; round++) {
      for (const op of REGISTRY_OPERATIONS) {
        const input = body(0);
        const method = cloudMap(h.registry)[op];
        try {
          await method(input);
          ok++;
        } catch (err) {
          if (!isPharosError(err) || !CLOUD_MAP_ERROR_CODES.has(err.code)) {
            assert.fail(`${op}(${JSON.stringify(input).slice(0, 300)}) threw ${String(err)}`);
          }
          failed++;
        }
      }
    }
    assert.ok(failed > 0 && ok + failed === 60 * REGISTRY_OPERATIONS.length);
  });
});
