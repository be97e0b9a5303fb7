import { randomBytes } from 'node:crypto';
import { Counter, Gauge, type Registry as MetricsRegistry } from '../lib/index.ts';
import { FencedError } from './errors.ts';
import type { Fence } from './fence.ts';
import type { KV, TxnOp } from './kv.ts';

/**
 * `--lease-ttl` default. A dead leader's work moves to another server after its lease expires (at
 * most this long after its last renewal), plus up to 0.5 s until etcd's lessor notices (it checks
 * every 500 ms) and an election round: about 3–3.6 s, well inside the 5 s promised. A live leader
 * renews every 0.5 s and steps down only after 2.1 s without a renewal, so a GC pause or a slow
 * fsync shorter than about 1.5 s does not depose it (README "Running several servers").
 */
export const DEFAULT_LEASE_TTL_MS = 3000;
/** etcd leases are whole seconds, and etcd refuses TTLs below its election timeout. */
const MIN_LEASE_TTL_MS = 2000;
/** Keys of the coordination records, under the store's prefix like everything else. */
export const CLUSTER_KEYS = { leader: '/cluster/leader', memberPrefix: '/cluster/members/' } as const;

/** What a server says about itself in the cluster (its member record). */
export interface MemberInfo {
  id: string;
  apiUrl: string;
  dnsAddress?: string;
  version: string;
  startedAt: number;
  /** When this member last renewed its record (epoch ms, its own clock). */
  heartbeatAt: number;
}

/** What `GET /cluster` reports. */
export interface ClusterStatus {
  store: 'sqlite' | 'etcd';
  self: string;
  leader?: { id: string; term: number };
  /** Which server runs what: the leader runs every piece of work that must run once. */
  roles: Record<string, string | undefined>;
  members: MemberInfo[];
  revision: number;
}

/** The work that must run on one server at a time (started on the leader, stopped when it is not). */
export const LEADER_WORK = ['operations-adoption', 'health-checker', 'ecs-scheduler', 'ecs-supervisor'] as const;

/**
 * Who leads. The consumer (the CLI wiring) starts the leader-only work when `onLeadership(true)`
 * fires and stops it on `false`. `term` is the fencing token: the leader record's revision, and
 * `fence()` the guard that makes the leader work's writes conditional on it (`fencedKV`).
 */
export interface Coordinator extends Fence {
  readonly id: string;
  isLeader(): boolean;
  term(): number | undefined;
  /** Called with true when this server becomes leader, false when it stops being leader. */
  onLeadership(listener: (leading: boolean) => void): () => void;
  start(info: Omit<MemberInfo, 'id' | 'heartbeatAt' | 'startedAt'>): Promise<void>;
  stop(): Promise<void>;
  status(): Promise<ClusterStatus>;
  /**
   * The store lease (`TxnOp` put `lease`) this server's own keys live on, so they go when it dies:
   * waits for the first one to be granted; undefined on a store without leases.
   */
  storeLease(): Promise<string | undefined>;
}

/** A new member id: random, so a restarted server is a new member (its old record expires with its lease). */
export function newMemberId(): string {
  return `m-${randomBytes(6).toString('hex')}`;
}

/** Leadership listeners, shared by the coordinators. */
export abstract class CoordinatorBase {
  private readonly listeners = new Set<(leading: boolean) => void>();
  protected leading = false;

  onLeadership(listener: (leading: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isLeader(): boolean {
    return this.leading;
  }

  protected setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    for (const l of [...this.listeners]) l(leading);
  }
}

/** One server on SQLite: it is the whole cluster and always leads. */
export class SoloCoordinator extends CoordinatorBase implements Coordinator {
  readonly id = newMemberId();
  private info?: MemberInfo;

  constructor(private readonly kv: KV) {
    super();
  }

  term(): number | undefined {
    return this.leading ? 1 : undefined;
  }

  /** Nothing to check: the store's file lock already makes this process the only writer. */
  fence(): TxnOp[] {
    if (!this.leading) throw new FencedError(undefined);
    return [];
  }

  async start(info: Omit<MemberInfo, 'id' | 'heartbeatAt' | 'startedAt'>): Promise<void> {
    const now = Date.now();
    this.info = { id: this.id, ...info, startedAt: now, heartbeatAt: now };
    this.setLeading(true);
  }

  async stop(): Promise<void> {
    this.setLeading(false);
  }

  async storeLease(): Promise<undefined> {
    return undefined;
  }

  async status(): Promise<ClusterStatus> {
    const members = this.info ? [{ ...this.info, heartbeatAt: Date.now() }] : [];
    return {
      store: 'sqlite',
      self: this.id,
      leader: this.leading ? { id: this.id, term: 1 } : undefined,
      roles: Object.fromEntries(LEADER_WORK.map((w) => [w, this.leading ? this.id : undefined])),
      members,
      revision: await this.kv.revision(),
    };
  }
}

export interface CoordinatorMetrics {
  leaderChanges: Counter;
  leading: Gauge;
}

/** Metrics for leadership: how often it moved to or from this server, and whether it leads now. */
export function coordinatorMetrics(registry: MetricsRegistry): CoordinatorMetrics {
  return {
    leaderChanges: new Counter({ name: 'pharos_cluster_leadership_changes_total', help: 'Times this server gained or lost the leadership.', registers: [registry] }),
    leading: new Gauge({ name: 'pharos_cluster_leader', help: '1 while this server is the leader (runs health checks, the scheduler, operation takeover).', registers: [registry] }),
  };
}

/** Checks a `--lease-ttl` value: whole seconds for etcd, not below etcd's minimum. */
export function leaseTtlSeconds(ms: number): number {
  if (!Number.isFinite(ms) || ms < MIN_LEASE_TTL_MS) throw new RangeError(`lease TTL must be at least ${MIN_LEASE_TTL_MS} ms`);
  return Math.ceil(ms / 1000);
}
