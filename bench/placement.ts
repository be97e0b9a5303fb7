/**
 * Task placement over several container instances (issue 11): a service of N tasks over K agents
 * placed by the real scheduler over a real SQLite store, and the pure placement decision alone.
 * Reports the spread (tasks per instance) and the time per decision (p50/p99/max).
 *
 *   node --import tsx bench/placement.ts [tasks=100] [instances=3] [rounds=20]
 */
import { ManualClock, silentLogger } from '../src/lib/index.ts';
import { openStore } from '../src/store/index.ts';
import { EcsApi, EcsStore, ServiceScheduler } from '../src/orchestrator/index.ts';
import { ecs } from '../src/orchestrator/ops/index.ts';
import { candidatesOf, compileConstraints, DEFAULT_SERVICE_STRATEGY, place, reserve, type TaskNeeds } from '../src/orchestrator/placement.ts';
import type { ContainerInstanceRecord, TaskRecord } from '../src/orchestrator/model.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [tasks = 100, instances = 3, rounds = 20] = process.argv.slice(2).map(Number);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (ms: number) => `${ms < 1 ? (ms * 1000).toFixed(0) + ' µs' : ms.toFixed(2) + ' ms'}`;

// 1. The pure decision: `tasks` decisions over `instances` candidates, `rounds` times.
const decision: number[] = [];
for (let r = 0; r < rounds; r++) {
  const recs: ContainerInstanceRecord[] = Array.from({ length: instances }, (_, i) => ({
    id: String(i).padStart(32, '0'), arn: `arn:${i}`, clusterName: 'c', node: `n${i}`, ec2InstanceId: `h${i}`, builtin: false, status: 'ACTIVE', agentConnected: true,
    lastHeartbeatAt: 0, registeredAt: 0, cpu: 8192, memory: 65_536, attributes: [{ name: 'ecs.availability-zone', value: 'z' }], version: 1,
  }));
  const cands = candidatesOf(recs, []);
  const needs: TaskNeeds = { cpu: 10, memory: 64, hostPorts: [], group: 'service:web' };
  const constraints = compileConstraints([]);
  for (let t = 0; t < tasks; t++) {
    const t0 = performance.now();
    const d = place(needs, cands, DEFAULT_SERVICE_STRATEGY, constraints);
    if (d.ok) reserve(d.candidate, needs);
    decision.push(performance.now() - t0);
  }
}

// 2. The scheduler: one pass that creates and places `tasks` tasks of a new service, `rounds` times.
const perTask: number[] = [];
let spread = '';
for (let r = 0; r < Math.min(rounds, 10); r++) {
  const dir = mkdtempSync(join(tmpdir(), 'pharos-bench-place-'));
  const kv = await openStore(`sqlite:${join(dir, 'p.db')}`);
  const store = new EcsStore(kv);
  const clock = new ManualClock();
  const api = new EcsApi({ store, clock, region: 'us-east-1', accountId: '000000000000', cloudMapService: () => undefined });
  const ops = ecs(api);
  await ops.CreateCluster({});
  for (let i = 0; i < instances; i++) {
    await ops.RegisterContainerInstance({ totalResources: [{ name: 'CPU', integerValue: 65_536 }, { name: 'MEMORY', integerValue: 1_000_000 }] });
  }
  await ops.RegisterTaskDefinition({ family: 'web', networkMode: 'awsvpc', memory: '64', containerDefinitions: [{ name: 'app', image: 'x', command: ['true'] }] });
  await ops.CreateService({ serviceName: 'web', taskDefinition: 'web', desiredCount: tasks, networkConfiguration: { awsvpcConfiguration: { subnets: ['s'] } }, deploymentConfiguration: { maximumPercent: 200 } });
  const scheduler = new ServiceScheduler({ store, clock, logger: silentLogger(), availabilityZone: 'us-east-1a' });
  const t0 = performance.now();
  await scheduler.reconcileOnce();
  perTask.push((performance.now() - t0) / tasks);
  const byInstance = new Map<string, number>();
  for (const t of await store.list<TaskRecord>('/ecs/task/')) byInstance.set(t.containerInstanceId ?? 'none', (byInstance.get(t.containerInstanceId ?? 'none') ?? 0) + 1);
  spread = [...byInstance.values()].sort((a, b) => a - b).join(' / ');
  await kv.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`placement: ${tasks} tasks over ${instances} instances`);
console.log(`  spread (tasks per instance, last scheduler round): ${spread}`);
console.log(`  decision alone (${decision.length} decisions): p50 ${fmt(pct(decision, 50))}, p99 ${fmt(pct(decision, 99))}, max ${fmt(Math.max(...decision))}`);
console.log(`  scheduler pass per task, creating + placing + storing (${perTask.length} passes): p50 ${fmt(pct(perTask, 50))}, p99 ${fmt(pct(perTask, 99))}, max ${fmt(Math.max(...perTask))}`);
