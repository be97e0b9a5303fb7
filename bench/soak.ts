/**
 * kill -9 soak: `pharos server` (a child process) takes RegisterInstance at concurrency 32 and is
 * SIGKILLed after a random number of acknowledgements, restarted on the same data dir, killed
 * again, `rounds` times. After the last restart, every acknowledged registration must be listed:
 * the report's `lost` is the number that are not (must be 0).
 *
 *   node --import tsx bench/soak.ts [rounds=8] [seed]
 */
import { rmSync } from 'node:fs';
import { eventually } from '../src/lib/index.ts';
import { prng } from '../test/fuzzkit.ts';
import { httpNamespace, rawRequest, sdClient, spawnServer, tempDir } from '../test/helpers.ts';
import { burstUntilKilled, listInstanceIds } from '../test/killkit.ts';

const ROUNDS = Number(process.argv[2] ?? 8);
const SEED = Number(process.argv[3] ?? Date.now() % 1_000_000);
/** Acknowledgements before each kill: random in this range, so kills land at different points of the commit cycle. */
const KILL_AFTER = { min: 200, max: 8000 };
const QUOTA = '1000000';

const rand = prng(SEED);
const dataDir = tempDir('pharos-soak-');
const args = ['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', dataDir, '--max-instances-per-service', QUOTA, '--max-instances-per-namespace', QUOTA];
const acked = new Set<string>();
let serviceId: string | undefined;
let unanswered = 0;
const started = Date.now();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const victim = await spawnServer(args);
    const sd = sdClient(victim.apiUrl);
    if (serviceId === undefined) {
      const ns = await httpNamespace(sd, 'soak');
      serviceId = (await sd.createService({ Name: 'burst', NamespaceId: ns })).Service!.Id!;
    }
    const killAfter = KILL_AFTER.min + Math.floor(rand() * (KILL_AFTER.max - KILL_AFTER.min));
    const burst = await burstUntilKilled(sd, victim, serviceId, `r${round}`, killAfter);
    sd.destroy();
    for (const id of burst.acked.keys()) acked.add(id);
    unanswered += burst.unanswered;
    if ((await victim.exited) !== 'SIGKILL') throw new Error(`round ${round}: the server was not killed`);
    console.error(`round ${round + 1}/${ROUNDS}: killed after ${burst.acked.size} acknowledgements`);
  }
  const revived = await spawnServer(args);
  const sd = sdClient(revived.apiUrl);
  await eventually(async () => (await rawRequest(revived.apiUrl, 'GET', '/ping')).status === 200);
  // Operations acknowledged just before a kill are resumed at start: wait until every one is applied.
  let listed = new Set<string>();
  try {
    await eventually(async () => {
      listed = await listInstanceIds(sd, serviceId!);
      return [...acked].every((id) => listed.has(id));
    }, { timeoutMs: 30_000, intervalMs: 500 });
  } catch {
    // reported below as lost
  }
  sd.destroy();
  revived.child.kill('SIGTERM');
  await revived.exited;
  const lost = [...acked].filter((id) => !listed.has(id));
  console.log(JSON.stringify({ seed: SEED, rounds: ROUNDS, kills: ROUNDS, acknowledged: acked.size, lost: lost.length, lostExamples: lost.slice(0, 5), unansweredAtKills: unanswered, seconds: (Date.now() - started) / 1000 }, null, 1));
  if (lost.length > 0) process.exitCode = 1;
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
