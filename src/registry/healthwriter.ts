import type { Timer } from '../lib/index.ts';
import { retryOnConflict, type KV } from '../store/index.ts';
import { RegistryPart, type RegistryParts } from './background.ts';
import { registryConflict } from './errors.ts';
import { keys, type HealthRecord, type HealthStatus } from './model.ts';

interface HealthWriterOptions extends RegistryParts {
  /** Delay before a custom health change takes effect; 0 = at once. */
  customHealthDelayMs: number;
  /** Where the health checker's and the orchestrator's results are written: fenced by the leadership. */
  leaderKv: KV;
}

/**
 * The one write path of instance health (/health records): results from the health checker and
 * the orchestrator (`set`), custom health from UpdateInstanceCustomHealthStatus (`setCustom`,
 * optionally delayed as AWS does), each a compare-and-swap that writes only real changes. Results
 * (`set`) come from leader-only work and are written through the fenced store: a deposed leader's
 * late result is refused (`StoreFenced`) instead of overwriting the new leader's.
 */
export class HealthWriter extends RegistryPart {
  private readonly customHealthDelayMs: number;
  private readonly leaderKv: KV;
  private readonly timers = new Map<string, Timer>();

  constructor(options: HealthWriterOptions) {
    super(options);
    this.customHealthDelayMs = options.customHealthDelayMs;
    this.leaderKv = options.leaderKv;
  }

  /** Re-arms the delayed custom-health changes stored before a restart; returns how many. */
  rearm(): number {
    let rearmed = 0;
    for (const svc of this.snapshot.services()) {
      for (const instanceId of this.snapshot.instances(svc.id).keys()) {
        const h = this.snapshot.healthRecord(svc.id, instanceId);
        if (h?.pending) {
          this.arm(svc.id, instanceId, h.pending.effectiveAt);
          rearmed++;
        }
      }
    }
    return rearmed;
  }

  /** Cancels every delayed change (they stay in the store, re-armed on the next start). */
  cancelAll(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /**
   * Records a health result from the health checker or the orchestrator. Writes only when the
   * status changes (compare-and-swap on the /health record, retried on conflict) and logs each
   * transition. Returns whether the status changed. Unknown services/instances are ignored.
   */
  async set(serviceId: string, instanceId: string, status: 'HEALTHY' | 'UNHEALTHY', reason: string): Promise<boolean> {
    // Fast path without a store read: most results repeat the current status.
    const rec = this.snapshot.healthRecord(serviceId, instanceId);
    if (!this.snapshot.instance(serviceId, instanceId)) return false;
    if (!rec?.pending && this.current(serviceId, instanceId, rec) === status) return false;
    return this.mutate(serviceId, instanceId, (cur, current) =>
      current === status && !cur?.pending ? undefined : { status, reason, updatedAt: this.clock.now() },
      this.leaderKv,
    );
  }

  /**
   * UpdateInstanceCustomHealthStatus. Without a delay the status changes at once. With one (AWS:
   * ~30 s) the change waits; the same value again does not hurry it, the opposite value inside the
   * window cancels it (docs/compatibility.md#custom-health).
   */
  async setCustom(serviceId: string, instanceId: string, status: 'HEALTHY' | 'UNHEALTHY'): Promise<void> {
    if (this.customHealthDelayMs <= 0) {
      await this.mutate(serviceId, instanceId, (rec, current) =>
        current === status && !rec?.pending ? undefined : { status, reason: 'custom', updatedAt: this.clock.now() },
      );
      return;
    }
    let armAt: number | undefined;
    await this.mutate(serviceId, instanceId, (rec, current) => {
      armAt = undefined;
      const base: HealthRecord = { status: current, updatedAt: rec?.updatedAt ?? this.clock.now() };
      if (rec?.reason !== undefined) base.reason = rec.reason;
      if (status === current) return rec?.pending ? base : undefined;
      if (rec?.pending?.status === status) return undefined;
      const effectiveAt = this.clock.now() + this.customHealthDelayMs;
      armAt = effectiveAt;
      return { ...base, pending: { status, effectiveAt } };
    });
    if (armAt !== undefined) this.arm(serviceId, instanceId, armAt);
    else if (!this.snapshot.healthRecord(serviceId, instanceId)?.pending) this.cancel(serviceId, instanceId);
  }

  /** Drops the delayed change of an instance (it was deregistered). */
  cancel(serviceId: string, instanceId: string): void {
    const k = `${serviceId}\n${instanceId}`;
    this.timers.get(k)?.cancel();
    this.timers.delete(k);
  }

  /** The stored status, or the starting one when no record exists yet (AWS_INIT_HEALTH_STATUS). */
  private current(serviceId: string, instanceId: string, rec: HealthRecord | undefined): HealthStatus {
    if (rec) return rec.status;
    const svc = this.snapshot.service(serviceId);
    if (svc?.healthCheckCustomConfig) {
      return this.snapshot.instance(serviceId, instanceId)?.attributes['AWS_INIT_HEALTH_STATUS'] === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY';
    }
    return 'UNKNOWN';
  }

  /**
   * Compare-and-swap on one /health record (written through `kv`): `fn` gets the stored record and
   * the status in effect, and returns the new record or undefined for "no change". Returns whether
   * the status changed.
   */
  private mutate(
    serviceId: string,
    instanceId: string,
    fn: (rec: HealthRecord | undefined, current: HealthStatus) => HealthRecord | undefined,
    kv: KV = this.kv,
  ): Promise<boolean> {
    const key = keys.health(serviceId, instanceId);
    return retryOnConflict(async () => {
      if (!this.snapshot.instance(serviceId, instanceId)) return false;
      const cur = await this.kv.get(key);
      const rec = cur ? (JSON.parse(cur.value) as HealthRecord) : undefined;
      const current = this.current(serviceId, instanceId, rec);
      const next = fn(rec, current);
      if (!next) return false;
      const rev = cur ? await kv.update(key, JSON.stringify(next), cur.modRevision) : await kv.create(key, JSON.stringify(next));
      await this.snapshot.waitForRevision(rev);
      if (!this.snapshot.instance(serviceId, instanceId)) {
        // Deregistered while we wrote: do not leave an orphan record behind.
        await this.kv.txn([{ type: 'delete', key }]).catch(() => undefined);
        return false;
      }
      const changed = next.status !== current;
      if (changed) {
        this.metrics?.healthTransitions.inc({ status: next.status });
        this.logger.info({ serviceId, instanceId, from: current, to: next.status, reason: next.reason }, 'instance health changed');
      }
      return changed;
    }, () => registryConflict(key));
  }

  private arm(serviceId: string, instanceId: string, effectiveAt: number): void {
    if (!this.bg.running) return;
    this.cancel(serviceId, instanceId);
    const k = `${serviceId}\n${instanceId}`;
    const timer = this.clock.setTimeout(() => {
      if (this.timers.get(k) === timer) this.timers.delete(k);
      if (this.bg.running) this.bg.track(this.applyPending(serviceId, instanceId));
    }, Math.max(0, effectiveAt - this.clock.now()));
    this.timers.set(k, timer);
  }

  /** A delayed custom health change falls due. */
  private async applyPending(serviceId: string, instanceId: string): Promise<void> {
    let rearm: number | undefined;
    await this.mutate(serviceId, instanceId, (rec) => {
      rearm = undefined;
      if (!rec?.pending) return undefined;
      if (rec.pending.effectiveAt > this.clock.now()) {
        rearm = rec.pending.effectiveAt;
        return undefined;
      }
      return { status: rec.pending.status, reason: 'custom', updatedAt: this.clock.now() };
    });
    if (rearm !== undefined) this.arm(serviceId, instanceId, rearm);
  }
}
