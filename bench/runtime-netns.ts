/**
 * How fast the netns runtime brings up N awsvpc tasks, each a small node HTTP server, until every
 * one answers HTTP from the host on its own IP; then how fast they stop and are cleaned up.
 * This bounds the orchestrator's figure "CreateService desired 20 → all 20 answering in DNS < 5 s".
 *
 *   node --import tsx bench/runtime-netns.ts [tasks=20] [rounds=3] [--dns]
 *
 * With --dns, Pharos DNS (over a registry fixture) also listens on the bridge gateway :53, every
 * task gets a resolv.conf pointing there, and each task's server resolves a Cloud Map name through
 * getaddrinfo before it listens: "answering" then includes a name resolved inside the task.
 *
 * Needs root + iproute2; uses bridge phbench0, 198.19.200.0/24.
 */
import { startDnsServer, type DnsServer } from '../src/dns/index.ts';
import { openFixture, type Fixture } from '../src/dns/testutil.ts';
import { createMetricsRegistry, silentLogger } from '../src/lib/index.ts';
import { NetnsRuntime, type RunningTask } from '../src/runtime/index.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const WITH_DNS = process.argv.includes('--dns');
const N = Number(args[0] ?? 20);
const ROUNDS = Number(args[1] ?? 3);
const PLAIN_SERVER = "require('http').createServer((q,s)=>s.end('ok')).listen(8080)";
/** Resolves peer.bench.local (must be 198.19.200.250) through the system resolver, then serves. */
const RESOLVING_SERVER =
  "require('dns').lookup('peer.bench.local',{family:4},(e,a)=>{if(e||a!=='198.19.200.250'){console.error(e||a);process.exit(3)}require('http').createServer((q,s)=>s.end('ok')).listen(8080)})";
const SERVER = WITH_DNS ? RESOLVING_SERVER : PLAIN_SERVER;

async function answering(t: RunningTask): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`http://${t.ipv4}:8080/`, { signal: AbortSignal.timeout(500) });
      if ((await r.text()) === 'ok') return;
    } catch {
      // not listening yet
    }
    if (t.containers()[0]!.state === 'STOPPED') throw new Error(`task ${t.taskId} exited: ${t.logs().map((l) => l.line).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const reason = await NetnsRuntime.unsupportedReason('phbench-');
if (reason !== undefined) {
  console.error(`skipped: ${reason}`);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}
let fixture: Fixture | undefined;
let dns: DnsServer | undefined;
if (WITH_DNS) {
  fixture = await openFixture();
  const ns = await fixture.namespace('bench.local');
  const peer = await fixture.service(ns, 'peer', [{ type: 'A', ttl: 60 }]);
  await fixture.instance(peer, 'p-1', { AWS_INSTANCE_IPV4: '198.19.200.250' });
  dns = await startDnsServer({ view: fixture.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry() });
}
const rt = new NetnsRuntime({
  taskCidr: '198.19.200.0/24',
  bridge: 'phbench0',
  netnsPrefix: 'phbench-',
  vethPrefix: 'phbv',
  ...(dns
    ? {
        taskDns: async (gateway: string) => {
          await dns!.addListener({ host: gateway, port: 53 });
          return { nameservers: [gateway] };
        },
      }
    : {}),
});
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
await dns?.close();
await fixture?.close();
console.log(`netns runtime, ${N} tasks (node HTTP server each${WITH_DNS ? ', resolving a name through Pharos DNS on the gateway first' : ''}), ${ROUNDS} rounds`);
console.table(rows);
