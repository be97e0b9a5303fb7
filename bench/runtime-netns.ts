/**
 * How fast the netns runtime brings up N awsvpc tasks, each a small node HTTP server, until every
 * one answers HTTP from the host on its own IP; then how fast they stop and are cleaned up.
 * This bounds the orchestrator's figure "CreateService desired 20 → all 20 answering in DNS < 5 s".
 *
 *   node --import tsx bench/runtime-netns.ts [tasks=20] [rounds=3]
 *
 * Needs root + iproute2; uses bridge phbench0, 198.19.200.0/24.
 */
import { NetnsRuntime, type RunningTask } from '../src/runtime/index.ts';

const N = Number(process.argv[2] ?? 20);
const ROUNDS = Number(process.argv[3] ?? 3);
const SERVER = "require('http').createServer((q,s)=>s.end('ok')).listen(8080)";

async function answering(t: RunningTask): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`http://${t.ipv4}:8080/`, { signal: AbortSignal.timeout(500) });
      if ((await r.text()) === 'ok') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

const reason = await NetnsRuntime.unsupportedReason('phbench-');
if (reason !== undefined) {
  console.error(`skipped: ${reason}`);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}
const rt = new NetnsRuntime({ taskCidr: '198.19.200.0/24', bridge: 'phbench0', netnsPrefix: 'phbench-', vethPrefix: 'phbv' });
await rt.cleanup();
const rows: { round: number; startedMs: number; answeringMs: number; stoppedMs: number }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const t0 = performance.now();
  const tasks = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      rt.startTask({
        taskId: `b${round}x${i}`,
        networkMode: 'awsvpc',
        containers: [{ name: 'web', image: 'node', essential: true, command: ['node', '-e', SERVER], portMappings: [{ containerPort: 8080, protocol: 'tcp' }] }],
      }),
    ),
  );
  const started = performance.now();
  await Promise.all(tasks.map(answering));
  const answered = performance.now();
  await Promise.all(tasks.map((t) => t.stop({ timeoutMs: 2000 })));
  const stopped = performance.now();
  rows.push({ round, startedMs: Math.round(started - t0), answeringMs: Math.round(answered - t0), stoppedMs: Math.round(stopped - answered) });
}
await rt.close();
console.log(`netns runtime, ${N} tasks (node HTTP server each), ${ROUNDS} rounds`);
console.table(rows);
