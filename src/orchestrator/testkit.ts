/**
 * Test helpers for the orchestrator's unit tests: a real SQLite store in a temp dir, the ECS API
 * over it with a ManualClock, and fake Cloud Map services. Not exported from index.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, silentLogger } from '../lib/index.ts';
import type { ServiceRecord as CloudMapService } from '../registry/index.ts';
import { openStore, type KV } from '../store/index.ts';
import { EcsApi } from './api.ts';
import { ecsKeys, type TaskRecord } from './model.ts';
import { InstanceKeeper } from './liveness.ts';
import { ServiceScheduler } from './scheduler.ts';
import { EcsStore } from './state.ts';

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';

export interface Kit {
  kv: KV;
  store: EcsStore;
  clock: ManualClock;
  api: EcsApi;
  scheduler: ServiceScheduler;
  /** Keeps the built-in instance (node `local`) of every cluster; `keeper.ensure` is its heartbeat. */
  keeper: InstanceKeeper;
  cloudMap: Map<string, CloudMapService>;
  /** Adds a fake Cloud Map service with these record types; returns its ARN. */
  addCloudMapService(id: string, types: ('A' | 'AAAA' | 'SRV')[], ttl?: number): string;
  tasks(): Promise<TaskRecord[]>;
  /** Edits every task record matching `where`, as a task supervisor would. */
  editTasks(where: (t: TaskRecord) => boolean, edit: (t: TaskRecord) => void): Promise<number>;
  close(): Promise<void>;
}

export async function openKit(): Promise<Kit> {
  const dir = mkdtempSync(join(tmpdir(), 'pharos-orch-'));
  const kv = await openStore(`sqlite:${join(dir, 'pharos.db')}`);
  const store = new EcsStore(kv);
  const clock = new ManualClock();
  const cloudMap = new Map<string, CloudMapService>();
  // The built-in instance of a server (node `local`), created with each cluster as a server's keeper would.
  const keeper = new InstanceKeeper({ store, clock, logger: silentLogger(), node: 'local', availabilityZone: 'us-east-1a', agentTimeoutMs: 15_000 });
  const api = new EcsApi({ store, clock, region: REGION, accountId: ACCOUNT, cloudMapService: (id) => cloudMap.get(id), onClusterActive: (c) => keeper.ensure(c) });
  const scheduler = new ServiceScheduler({ store, clock, logger: silentLogger(), availabilityZone: 'us-east-1a' });
  const kit: Kit = {
    kv,
    store,
    clock,
    api,
    scheduler,
    keeper,
    cloudMap,
    addCloudMapService(id, types, ttl = 10) {
      const arn = `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:service/${id}`;
      cloudMap.set(id, {
        id,
        arn,
        name: id,
        namespaceId: 'ns-0000000000000000',
        type: 'DNS_HTTP',
        dnsConfig: { routingPolicy: 'MULTIVALUE', dnsRecords: types.map((type) => ({ type, ttl })) },
        createDate: 0,
        tags: [],
        attributes: {},
      });
      return arn;
    },
    async tasks() {
      return store.list<TaskRecord>(ecsKeys.taskPrefix);
    },
    async editTasks(where, edit) {
      let n = 0;
      for (const t of await kit.tasks()) {
        if (!where(t)) continue;
        await store.mutate<TaskRecord>(ecsKeys.task(t.clusterName, t.id), (cur) => {
          const next = structuredClone(cur!);
          edit(next);
          next.version++;
          return next;
        });
        n++;
      }
      return n;
    },
    async close() {
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return kit;
}

/** Supervisor stand-ins. */
export const sim = {
  /** PROVISIONING tasks that should run → RUNNING (registered when `registered`). */
  run: (kit: Kit, opts: { registered?: boolean; limit?: number } = {}) => {
    let left = opts.limit ?? Infinity;
    return kit.editTasks(
      (t) => t.lastStatus === 'PROVISIONING' && t.desiredStatus === 'RUNNING' && left-- > 0,
      (t) => {
        t.lastStatus = 'RUNNING';
        t.startedAt = kit.clock.now();
        t.privateIpv4Address = '198.18.0.10';
        for (const c of t.containers) c.lastStatus = 'RUNNING';
        if (opts.registered) t.registration = { serviceId: 'srv-registered' };
      },
    );
  },
  /** Tasks asked to stop → STOPPED. */
  finishStops: (kit: Kit) =>
    kit.editTasks(
      (t) => t.desiredStatus === 'STOPPED' && t.lastStatus !== 'STOPPED',
      (t) => {
        t.lastStatus = 'STOPPED';
        t.stoppedAt = kit.clock.now();
        for (const c of t.containers) c.lastStatus = 'STOPPED';
      },
    ),
  /** PROVISIONING tasks fail to start. */
  failStarts: (kit: Kit) =>
    kit.editTasks(
      (t) => t.lastStatus === 'PROVISIONING' && t.desiredStatus === 'RUNNING',
      (t) => {
        t.lastStatus = 'STOPPED';
        t.desiredStatus = 'STOPPED';
        t.stopCode = 'TaskFailedToStart';
        t.stoppedReason = 'CannotStartContainerError: executable "nope" not found';
        t.stoppedAt = kit.clock.now();
      },
    ),
};

/** A minimal awsvpc or host task definition body for RegisterTaskDefinition. */
export function taskDefinitionBody(overrides: Record<string, unknown> = {}, container: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    family: 'web',
    networkMode: 'awsvpc',
    containerDefinitions: [{ name: 'app', image: 'node:20', command: ['node', 'server.js'], portMappings: [{ containerPort: 8080 }], ...container }],
    ...overrides,
  };
}

export const NETWORK = { awsvpcConfiguration: { subnets: ['subnet-1'] } };
