/**
 * A write load that is SIGKILLed mid-flight, and the check that nothing acknowledged was lost:
 * shared by test/crash.test.ts (3 rounds in npm test) and bench/soak.ts (the long soak).
 */
import type { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import assert from 'node:assert/strict';
import type { ChildServer } from './helpers.ts';

/** Concurrency of the registration burst (one client, 32 in flight). */
export const CONCURRENCY = 32;

/** A distinct, valid IPv4 per instance id (in 198.18.0.0/15), so GetInstance can check the attributes. */
export function ipFor(instanceId: string): string {
  const n = Number(instanceId.slice(instanceId.lastIndexOf('-') + 1));
  return `198.18.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

/**
 * Registers instances `<prefix>-<n>` with CONCURRENCY requests in flight and SIGKILLs the server
 * when the `killAfter`-th OperationId arrives. Responses that still arrive after the kill signal
 * are acknowledgements too (the server sent them), so they are counted.
 */
export async function burstUntilKilled(sd: ServiceDiscovery, server: ChildServer, serviceId: string, prefix: string, killAfter: number) {
  const acked = new Map<string, string>();
  let next = 0;
  let killed = false;
  let unanswered = 0;
  const worker = async (): Promise<void> => {
    while (!killed) {
      const id = `${prefix}-${next++}`;
      try {
        const { OperationId } = await sd.registerInstance({ ServiceId: serviceId, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: ipFor(id), AWS_INSTANCE_PORT: '80' } });
        assert.ok(OperationId, `RegisterInstance ${id} returned no OperationId`);
        acked.set(id, OperationId);
        if (acked.size >= killAfter && !killed) {
          killed = true;
          server.child.kill('SIGKILL');
        }
      } catch (err) {
        // After the kill, the requests in flight fail (reset, refused): neither acknowledged nor
        // refused, so they may or may not exist. Before it, any error fails the test.
        if (!killed) {
          killed = true; // stop the other workers and the server, then fail
          server.child.kill('SIGKILL');
          throw err;
        }
        unanswered++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { acked, unanswered };
}

/** Every instance id of a service, through ListInstances pages. */
export async function listInstanceIds(sd: ServiceDiscovery, serviceId: string): Promise<Set<string>> {
  const ids = new Set<string>();
  let NextToken: string | undefined;
  do {
    const page = await sd.listInstances({ ServiceId: serviceId, MaxResults: 100, NextToken });
    for (const i of page.Instances ?? []) ids.add(i.Id!);
    NextToken = page.NextToken;
  } while (NextToken);
  return ids;
}
