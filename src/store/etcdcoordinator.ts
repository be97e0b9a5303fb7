import type { Lease } from 'etcd3';
import type { Logger } from '../lib/index.ts';
import {
  CLUSTER_KEYS,
  CoordinatorBase,
  LEADER_WORK,
  leaseTtlSeconds,
  newMemberId,
  type ClusterStatus,
  type Coordinator,
  type CoordinatorMetrics,
  type MemberInfo,
} from './coordinator.ts';
import type { EtcdKV } from './etcd.ts';
import { FencedError, StoreUnavailableError } from './errors.ts';
import type { TxnOp } from './kv.ts';

/** How often the leader checks that its lease is still renewed. */
const WATCHDOG_MS = 250;
/**
 * A leader steps down when its lease has not been renewed for this share of the TTL: etcd expires
 * the lease a full TTL after the last renewal it saw, so the old leader stops before another can win.
 */
const STEP_DOWN_SHARE = 0.7;
/**
 * The lease is renewed this often, as a share of the TTL (0.5 s at the default 3 s), not the etcd3
 * client's TTL/3: the step-down deadline then tolerates a stall of 70 % − 1/6 of the TTL (1.6 s at
 * the default) instead of 70 % − 1/3, so a short TTL (a quick takeover) does not make a healthy
 * leader flap on a GC pause or a slow etcd.
 */
const RENEW_SHARE = 1 / 6;
/** After a failed campaign round (etcd unreachable), wait this long before the next. */
const RETRY_MS = 500;
/** `storeLease()` looks for a granted lease this often, and gives up after the etcd call timeout. */
const LEASE_POLL_MS = 20;
const LEASE_WAIT_MS = 5000;

/**
 * Leader election on etcd (the etcd `concurrency` recipe, by hand): every server holds a lease
 * (`--lease-ttl`, kept alive by the client) with its member record on it; the leader is whoever
 * created `/cluster/leader` on its lease. A dead or partitioned leader's lease expires after the
 * TTL, etcd deletes the key, the followers watching it campaign again, one wins. The leader
 * record's revision is the term (fencing token). The leader steps down by itself when its lease
 * has gone unrenewed for 70 % of the TTL, before etcd could give the key to another server, and
 * at once when its record is deleted or replaced (it watches it).
 * @see https://etcd.io/docs/v3.4/dev-guide/api_concurrency_reference_v3/
 */
export class EtcdCoordinator extends CoordinatorBase implements Coordinator {
  readonly id = newMemberId();
  private readonly ttlSeconds: number;
  private running = false;
  private loop?: Promise<void>;
  private info?: MemberInfo;
  private lease?: Lease;
  private leaseId?: string;
  private lastRenewed = 0;
  private currentTerm?: number;
  private readonly sleepers = new Set<() => void>();
  private watchdog?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private renewal?: NodeJS.Timeout;
  private renewing = false;

  constructor(
    private readonly kv: EtcdKV,
    ttlMs: number,
    private readonly logger: Logger,
    private readonly metrics?: CoordinatorMetrics,
  ) {
    super();
    this.ttlSeconds = leaseTtlSeconds(ttlMs);
  }

  term(): number | undefined {
    return this.leading ? this.currentTerm : undefined;
  }

  /** The leader record must still be the one this server created: a new leader's record has another revision. */
  fence(): TxnOp[] {
    if (!this.leading || this.currentTerm === undefined) throw new FencedError(this.currentTerm);
    return [{ type: 'check', key: CLUSTER_KEYS.leader, prevRevision: this.currentTerm }];
  }

  async start(info: Omit<MemberInfo, 'id' | 'heartbeatAt' | 'startedAt'>): Promise<void> {
    if (this.running) return;
    const now = Date.now();
    this.info = { id: this.id, ...info, startedAt: now, heartbeatAt: now };
    this.running = true;
    this.watchdog = setInterval(() => this.checkLease(), WATCHDOG_MS);
    this.heartbeat = setInterval(() => void this.putMember().catch(() => undefined), (this.ttlSeconds * 1000) / 3);
    this.renewal = setInterval(() => this.renew(), this.ttlSeconds * 1000 * RENEW_SHARE);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.watchdog);
    clearInterval(this.heartbeat);
    clearInterval(this.renewal);
    this.wake();
    await this.loop;
    // Hand over at once instead of after the TTL: delete our leader record, revoke the lease.
    if (this.leading && this.currentTerm !== undefined) {
      await this.kv.etcd.kv
        .txn({
          compare: [{ key: this.kv.fullKey(CLUSTER_KEYS.leader), target: 'Mod', result: 'Equal', mod_revision: this.currentTerm }],
          success: [{ request_delete_range: { key: this.kv.fullKey(CLUSTER_KEYS.leader) } }],
        })
        .catch(() => undefined);
    }
    this.stepDown('stopping');
    await this.lease?.revoke().catch(() => undefined);
    this.lease = undefined;
  }

  async storeLease(): Promise<string> {
    const until = Date.now() + LEASE_WAIT_MS;
    for (;;) {
      // Before start(), or between a lost lease and the next grant: wait for one.
      if (this.lease && this.leaseId !== undefined) return this.leaseId;
      if (Date.now() > until) throw new StoreUnavailableError('etcd lease', new Error(`no lease granted within ${LEASE_WAIT_MS} ms`));
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    }
  }

  async status(): Promise<ClusterStatus> {
    const [members, leaderKv] = await Promise.all([this.kv.list(CLUSTER_KEYS.memberPrefix), this.kv.get(CLUSTER_KEYS.leader)]);
    const leaderId = leaderKv ? (JSON.parse(leaderKv.value) as { id: string }).id : undefined;
    return {
      store: 'etcd',
      self: this.id,
      leader: leaderKv && leaderId ? { id: leaderId, term: leaderKv.modRevision } : undefined,
      roles: Object.fromEntries(LEADER_WORK.map((w) => [w, leaderId])),
      members: members.items.map((m) => JSON.parse(m.value) as MemberInfo),
      revision: members.revision,
    };
  }

  // ---- the campaign loop ----

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!this.lease) await this.newLease();
        await this.campaign();
      } catch (err) {
        this.stepDown('etcd unreachable');
        if (this.running) this.logger.warn({ err }, 'cluster: campaign failed; retrying');
        await this.sleep(RETRY_MS);
      }
    }
  }

  private async newLease(): Promise<void> {
    // Renewed by `renew`, on our own schedule (RENEW_SHARE), not by the client's TTL/3 loop.
    const lease = this.kv.etcd.lease(this.ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', () => {
      if (this.lease === lease) this.dropLease('lease lost');
    });
    this.leaseId = await lease.grant();
    this.lastRenewed = Date.now();
    this.lease = lease;
    await this.putMember();
  }

  /**
   * One keep-alive of the current lease. A renewal counts from when it was sent: etcd restarts the
   * TTL when it receives it, never earlier, so the step-down deadline stays ahead of the expiry.
   */
  private renew(): void {
    const lease = this.lease;
    if (!lease || this.renewing) return;
    this.renewing = true;
    const sent = Date.now();
    // A deadline, so a renewal stuck on a vanished member does not hold up the ones after it.
    lease
      .keepaliveOnce({ deadline: sent + this.ttlSeconds * 1000 * STEP_DOWN_SHARE })
      .then(
        () => {
          if (this.lease === lease) this.lastRenewed = Math.max(this.lastRenewed, sent);
        },
        // Not renewed: the watchdog steps down in time; an expired lease is reported as 'lost'.
        () => undefined,
      )
      .finally(() => (this.renewing = false));
  }

  private async putMember(): Promise<void> {
    if (!this.info || !this.leaseId) return;
    this.info.heartbeatAt = Date.now();
    await this.kv.etcd.kv.put({ key: this.kv.fullKey(CLUSTER_KEYS.memberPrefix + this.id), value: Buffer.from(JSON.stringify(this.info)), lease: this.leaseId });
  }

  /** One round: win and hold the leadership until the lease fails, or wait for the leader to go. */
  private async campaign(): Promise<void> {
    const key = this.kv.fullKey(CLUSTER_KEYS.leader);
    const res = await this.kv.etcd.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key, value: Buffer.from(JSON.stringify({ id: this.id, since: Date.now() })), lease: this.leaseId } }],
      failure: [{ request_range: { key } }],
    });
    const lease = this.lease;
    const readAt = Number(res.header.revision);
    if (res.succeeded) {
      this.currentTerm = readAt;
      this.setLeading(true);
      this.metrics?.leaderChanges.inc();
      this.metrics?.leading.set(1);
      this.logger.info({ member: this.id, term: this.currentTerm }, 'cluster: this server is the leader');
      return this.hold(lease, readAt);
    }
    const current = res.responses[0]?.response_range?.kvs[0];
    if (current && current.lease === this.leaseId) {
      // Our own record from before a reconnect: we still lead.
      this.currentTerm = Number(current.mod_revision);
      this.setLeading(true);
      return this.hold(lease, readAt);
    }
    // Follow: wait until the leader record goes (lease expired, leader stopped), then campaign.
    const from = Number(res.header.revision);
    await new Promise<void>((resolve) => {
      const watch = this.kv.watch(
        CLUSTER_KEYS.leader,
        from,
        (events) => {
          if (events.some((e) => e.type === 'delete' && e.key === CLUSTER_KEYS.leader)) done();
        },
        () => done(),
      );
      // A watch can miss nothing, but a lost lease or a stop must also end the wait.
      const timer = setInterval(() => {
        if (!this.running || this.lease !== lease) done();
      }, WATCHDOG_MS);
      const done = () => {
        clearInterval(timer);
        watch.cancel();
        resolve();
      };
      if (!this.running) done();
    });
  }

  /**
   * Leads until the lease fails or the server stops, or until the leader record is deleted or
   * replaced behind this server's back (`etcdctl del`, a revoked lease): that is seen on a watch of
   * the record from `readAt` (when it was read as ours), and this server steps down at once. It
   * then waits a moment before campaigning again, so that a follower (which campaigns as soon as
   * it sees the delete) takes over: deleting the record is how an operator moves the leadership.
   */
  private async hold(lease: Lease | undefined, readAt: number): Promise<void> {
    const term = this.currentTerm;
    let deleted = false;
    let recheck = false;
    const watch = this.kv.watch(
      CLUSTER_KEYS.leader,
      readAt,
      (events) => {
        if (!events.some((e) => e.key === CLUSTER_KEYS.leader)) return;
        deleted = true;
        this.wake();
      },
      // A watch that failed (history compacted while disconnected) may have missed the change: read.
      () => {
        recheck = true;
        this.wake();
      },
    );
    try {
      while (this.running && this.leading && this.lease === lease && !deleted && !recheck) await this.sleep(this.ttlSeconds * 1000);
    } finally {
      watch.cancel();
    }
    if (!deleted && recheck && (await this.kv.get(CLUSTER_KEYS.leader))?.modRevision !== term) deleted = true;
    if (!deleted || !this.leading) return;
    this.stepDown('leader record deleted or replaced');
    await this.sleep(RETRY_MS);
  }

  private checkLease(): void {
    if (!this.lease) return;
    if (Date.now() - this.lastRenewed > this.ttlSeconds * 1000 * STEP_DOWN_SHARE) this.dropLease('lease not renewed in time');
  }

  private dropLease(why: string): void {
    const lease = this.lease;
    this.lease = undefined;
    this.leaseId = undefined;
    this.stepDown(why);
    void lease?.revoke().catch(() => undefined);
    this.wake();
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.logger.warn({ member: this.id, term: this.currentTerm, why }, 'cluster: this server is no longer the leader');
    this.currentTerm = undefined;
    this.setLeading(false);
    this.metrics?.leaderChanges.inc();
    this.metrics?.leading.set(0);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private wake(): void {
    for (const done of [...this.sleepers]) done();
  }
}
