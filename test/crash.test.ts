/**
 * Whole-system durability: `bin/pharos.js server` as a real child process is SIGKILLed in the
 * middle of a RegisterInstance burst (concurrency 32). After a restart on the same data dir, every
 * registration the server acknowledged (returned an OperationId for) must be there: GetOperation
 * finds the operation, it reaches SUCCESS (operations acknowledged but not yet applied are resumed
 * at start), the instance is listed, and the SQLite file passes `PRAGMA integrity_check`.
 *
 * The kill points run one after another on the same data dir, so each round also recovers from the
 * previous crash and re-checks every registration acknowledged in the earlier rounds.
 */
import type { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { httpNamespace, rawRequest, sdClient, spawnServer, tempDir, type ChildServer } from './helpers.ts';
import { CONCURRENCY, burstUntilKilled, ipFor, listInstanceIds } from './killkit.ts';

/** Quotas raised well above everything the rounds register together (AWS default 1,000 per service). */
const QUOTA = '100000';

interface Round {
  /** SIGKILL once this many registrations have been acknowledged. */
  killAfter: number;
  /** Extra flags for the server that is killed. */
  flags: string[];
  why: string;
}

const ROUNDS: Round[] = [
  { killAfter: 150, flags: [], why: 'operations applied right after the ack (default)' },
  // Every operation acknowledged in the last 400 ms before the kill is still SUBMITTED/PENDING:
  // the restart must resume them, not drop them.
  { killAfter: 400, flags: ['--op-delay', '400ms'], why: 'operations still pending at the kill' },
  { killAfter: 500, flags: [], why: 'a longer burst over the recovered store' },
];

describe('pharos server survives SIGKILL during a registration burst', () => {
  const dataDir = tempDir('pharos-crash-');
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const baseArgs = [
    '--api-addr', '127.0.0.1:0',
    '--dns-addr', '127.0.0.1:0',
    '--data-dir', dataDir,
    '--max-instances-per-service', QUOTA,
    '--max-instances-per-namespace', QUOTA,
  ];
  /** instance id → OperationId, for every acknowledged registration of every round so far. */
  const acked = new Map<string, string>();
  let serviceId: string | undefined;

  for (const [index, round] of ROUNDS.entries()) {
    test(`kill after ${round.killAfter} acknowledgements: ${round.why}`, async (t) => {
      const started = Date.now();
      const phase = (what: string) => t.diagnostic(`${what} at ${Date.now() - started} ms`);
      // ---- crash ------------------------------------------------------------------------
      let burst: Awaited<ReturnType<typeof burstUntilKilled>> | undefined;
      const victim = await spawnServer([...baseArgs, ...round.flags]);
      const sd = sdClient(victim.apiUrl);
      try {
        serviceId ??= await createService(sd);
        burst = await burstUntilKilled(sd, victim, serviceId, `r${index}`, round.killAfter);
        for (const [id, op] of burst.acked) acked.set(id, op);
        t.diagnostic(`acknowledged ${burst.acked.size} (kill after ${round.killAfter}), ${burst.unanswered} unanswered at the kill`);
      } finally {
        sd.destroy();
      }
      assert.equal(await victim.exited, 'SIGKILL');
      phase('killed');
      const svc = serviceId!;

      // ---- restart and check ------------------------------------------------------------
      const revived = await spawnServer(baseArgs);
      const sd2 = sdClient(revived.apiUrl);
      try {
        await eventually(async () => (await rawRequest(revived.apiUrl, 'GET', '/ping')).status === 200, { message: '/ping after restart' });
        phase('restarted');
        const resumed = resumedCount(revived);
        t.diagnostic(`restart resumed ${resumed} open operations`);
        if (round.flags.includes('--op-delay')) assert.ok(resumed > 0, 'operations pending at the kill are resumed');

        // This round's operations; the earlier rounds' were checked after their own restart, and
        // their instances are in the cumulative list check below.
        await allOperationsSucceed(sd2, burst!.acked);
        phase('operations checked');
        const listed = await listInstanceIds(sd2, svc);
        const missing = [...acked.keys()].filter((id) => !listed.has(id));
        assert.deepEqual(missing, [], `acknowledged registrations missing after restart (${missing.length} of ${acked.size})`);
        // Spot-check GetInstance on the newest acknowledgements (the ones most at risk).
        for (const id of [...acked.keys()].slice(-5)) {
          const { Instance } = await sd2.getInstance({ ServiceId: svc, InstanceId: id });
          assert.equal(Instance?.Id, id);
          assert.equal(Instance?.Attributes?.['AWS_INSTANCE_IPV4'], ipFor(id));
        }
      } finally {
        sd2.destroy();
        revived.child.kill('SIGTERM');
      }
      assert.equal(await revived.exited, 0, 'the restarted server stops cleanly');
      phase('stopped');

      // ---- the file itself ----------------------------------------------------------------
      const db = new Database(join(dataDir, 'pharos.db'));
      try {
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      } finally {
        db.close();
      }
    });
  }
});

async function createService(sd: ServiceDiscovery): Promise<string> {
  const ns = await httpNamespace(sd, 'crash');
  const { Service } = await sd.createService({ Name: 'burst', NamespaceId: ns });
  return Service!.Id!;
}

/** The `resumed` figure of the registry's start log line. */
function resumedCount(server: ChildServer): number {
  for (const line of server.logs) {
    try {
      const rec = JSON.parse(line) as { msg?: string; resumed?: number };
      if (rec.msg === 'registry started' && typeof rec.resumed === 'number') return rec.resumed;
    } catch {
      // not a JSON line
    }
  }
  throw new Error(`no "registry started" line in the server log:\n${server.logs.join('\n')}`);
}

/** Every acknowledged OperationId is found by GetOperation and reaches SUCCESS; a FAIL fails at once. */
async function allOperationsSucceed(sd: ServiceDiscovery, acked: Map<string, string>): Promise<void> {
  const open = new Map(acked);
  const failed: string[] = [];
  await eventually(
    async () => {
      const queue = [...open];
      const check = async (): Promise<void> => {
        for (let item = queue.pop(); item; item = queue.pop()) {
          const [instanceId, operationId] = item;
          const { Operation } = await sd.getOperation({ OperationId: operationId }); // OperationNotFound throws: retried, then reported
          assert.equal(Operation?.Targets?.['INSTANCE'], instanceId, `operation ${operationId} targets ${instanceId}`);
          if (Operation?.Status === 'SUCCESS') open.delete(instanceId);
          else if (Operation?.Status === 'FAIL') {
            failed.push(`${operationId} (${instanceId}): ${Operation.ErrorCode} ${Operation.ErrorMessage}`);
            open.delete(instanceId);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, check));
      if (open.size > 0) throw new Error(`${open.size} not SUCCESS yet, e.g. ${[...open.values()].slice(0, 5).join(', ')}`);
      return true;
    },
    { timeoutMs: 10_000, intervalMs: 50, message: 'every acknowledged operation reaches SUCCESS after restart' },
  );
  assert.deepEqual(failed, [], 'acknowledged registrations failed after restart');
}
