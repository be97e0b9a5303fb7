import { createHash } from 'node:crypto';
import { jitter, randomString, silentLogger, systemClock, type Clock, type Logger, type Timer } from '../lib/index.ts';
import { MAX_TXN_OPS, deleteUnchanged, isConflict, type KV, type TxnOp } from '../store/index.ts';
import { isDnsName, keys, type Snapshot, type ZoneChangeRecord, type ZoneRecordSetRecord } from '../registry/index.ts';
import { MAX_SET_IDENTIFIER, MAX_VALUES_PER_BATCH, MAX_VALUE_CHARS_PER_BATCH, applyChanges, type ChangeInput } from './changes.ts';
import { invalidChangeBatch, invalidDomainName, invalidInput, noSuchChange, noSuchHostedZone, priorRequestNotComplete } from './errors.ts';
import { compareNames, parseName, presentName } from './names.ts';
import { CLOUD_MAP_PRINCIPAL, HostedZones, compareSets, type RecordSetView, type ZoneView } from './zones.ts';

/**
 * The Route 53 operations Pharos serves, on typed inputs (the REST-XML boundary in
 * api/route53.ts reads paths, query strings and XML into these) and returning the model's output
 * shapes as plain objects. Reads come from the snapshot; ChangeResourceRecordSets writes `/rrset/`
 * records in one store transaction and answers once the snapshot (and so DNS) has them.
 * @see docs/route53.md
 */

/** ListHostedZones / ListHostedZonesByName: Route 53's page limit. */
export const MAX_ZONES_PER_PAGE = 100;
/** ListResourceRecordSets: Route 53's page limit. */
export const MAX_RECORD_SETS_PER_PAGE = 300;
/** Changes in one batch (Route 53's limit). */
export const MAX_CHANGES_PER_BATCH = 1000;
/** A batch that keeps losing compare-and-swap races to concurrent batches gives up after this many tries. */
const MAX_BATCH_ATTEMPTS = 5;
/** Change records read per page while sweeping (they are small: an id, a time, a comment). */
const CHANGE_SWEEP_PAGE = 1000;
/**
 * How long GetChange answers for a change batch. Route 53 does not document it; a day covers every
 * client waiting for INSYNC (the same reasoning as Cloud Map operations' retention).
 */
export const CHANGE_RETENTION_MS = 24 * 60 * 60 * 1000;
/** How often change records older than the retention are deleted. */
export const CHANGE_SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** `C` + 20 upper-case alphanumerics, shaped like a Route 53 change id. */
const newChangeId = () => `C${randomString(20, UPPER_ALNUM)}`;
const ZONE_ID = /^Z[A-Z0-9]{1,31}$/;
const CHANGE_ID = /^C[A-Z0-9]{1,31}$/;

export interface Route53Options {
  kv: KV;
  snapshot: Snapshot;
  region: string;
  /** `ns.dns.<zone>`'s address as DNS serves it (see HostedZones). */
  nsAddress?: string;
  clock?: Clock;
  logger?: Logger;
  /** Default CHANGE_RETENTION_MS. */
  changeRetentionMs?: number;
  /** Default CHANGE_SWEEP_INTERVAL_MS; 0 = no sweep timer (tests call `sweepChanges`). */
  changeSweepIntervalMs?: number;
}

type Out = Record<string, unknown>;

/** Route 53's RRType enum (2013-04-01 model): a listing may start at any of them, served or not. */
const RR_TYPES: readonly string[] = ['SOA', 'A', 'TXT', 'NS', 'CNAME', 'MX', 'NAPTR', 'PTR', 'SRV', 'SPF', 'AAAA', 'CAA', 'DS', 'TLSA', 'SSHFP', 'SVCB', 'HTTPS'];

export class Route53 {
  readonly zones: HostedZones;
  private readonly kv: KV;
  private readonly snapshot: Snapshot;
  private readonly region: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly changeRetentionMs: number;
  private readonly changeSweepIntervalMs: number;
  private unsubscribe?: () => void;
  private sweepTimer?: Timer;
  private readonly cleanups = new Set<Promise<unknown>>();

  constructor(options: Route53Options) {
    this.kv = options.kv;
    this.snapshot = options.snapshot;
    this.region = options.region;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.changeRetentionMs = options.changeRetentionMs ?? CHANGE_RETENTION_MS;
    this.changeSweepIntervalMs = options.changeSweepIntervalMs ?? CHANGE_SWEEP_INTERVAL_MS;
    this.zones = new HostedZones({ view: options.snapshot, nsAddress: options.nsAddress });
  }

  /**
   * Follows namespace deletions: a deleted namespace's zone goes, and the record sets users put
   * in it with it (any node may do it; deleting what is already gone is harmless). Arms the sweep
   * of old change records (every node sweeps; a record another node deleted first is skipped).
   */
  start(): void {
    this.unsubscribe ??= this.snapshot.onChange((change) => {
      if (change.kind !== 'namespace' || !change.namespaceId || this.snapshot.namespace(change.namespaceId)) return;
      if (this.snapshot.recordSets(change.namespaceId).size === 0) return;
      this.track(this.dropRecordSets(change.namespaceId), 'could not delete the record sets of a deleted namespace', { namespaceId: change.namespaceId });
    });
    if (this.changeSweepIntervalMs > 0 && !this.sweepTimer) this.armSweep(jitter(this.changeSweepIntervalMs));
  }

  /** Stops following deletions and sweeping, and waits for cleanups in flight. Repeatable. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    await Promise.all(this.cleanups);
  }

  /** Deletes change records older than the retention (GetChange then answers NoSuchChange). Returns how many. */
  async sweepChanges(): Promise<number> {
    const cutoff = this.clock.now() - this.changeRetentionMs;
    const old: { key: string; modRevision: number }[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.kv.list(keys.zoneChangePrefix, { after, limit: CHANGE_SWEEP_PAGE });
      for (const kv of page.items) {
        if ((JSON.parse(kv.value) as ZoneChangeRecord).submittedAt < cutoff) old.push(kv);
      }
      if (page.items.length < CHANGE_SWEEP_PAGE) break;
      after = page.items.at(-1)!.key;
    }
    // Another node swept some of them first: their batch is skipped, the next sweep takes the rest.
    const deleted = await deleteUnchanged(this.kv, old, MAX_TXN_OPS);
    if (deleted > 0) this.logger.debug({ deleted }, 'route53: old change records swept');
    return deleted;
  }

  private armSweep(ms: number): void {
    this.sweepTimer = this.clock.setTimeout(() => {
      this.track(
        this.sweepChanges().finally(() => {
          if (this.unsubscribe) this.armSweep(this.changeSweepIntervalMs);
        }),
        'could not sweep old change records',
      );
    }, ms);
  }

  private track(p: Promise<unknown>, message: string, fields: Record<string, unknown> = {}): void {
    const tracked = p.catch((err: unknown) => this.logger.error({ err, ...fields }, message));
    this.cleanups.add(tracked);
    void tracked.finally(() => this.cleanups.delete(tracked));
  }

  // ---------------------------------------------------------------- hosted zones

  listHostedZones(input: { marker?: string; maxItems?: string; delegationSetId?: string; hostedZoneType?: string }): Out {
    const max = pageSize(input.maxItems, MAX_ZONES_PER_PAGE);
    if (input.delegationSetId !== undefined) throw invalidInput('Pharos zones have no reusable delegation sets: omit delegationsetid');
    if (input.hostedZoneType !== undefined && input.hostedZoneType !== 'PrivateHostedZone') throw invalidInput(`hostedzonetype must be PrivateHostedZone, not ${JSON.stringify(input.hostedZoneType)}`);
    let zones = this.zones.zones();
    if (input.hostedZoneType) zones = zones.filter((z) => z.private);
    const start = input.marker === undefined ? 0 : zones.findIndex((z) => z.id >= input.marker!);
    const from = start === -1 ? zones.length : start;
    const page = zones.slice(from, from + max);
    const next = zones[from + max];
    return {
      HostedZones: page.map((z) => this.hostedZone(z)),
      Marker: input.marker ?? '',
      IsTruncated: next !== undefined,
      ...(next ? { NextMarker: next.id } : {}),
      MaxItems: String(max),
    };
  }

  getHostedZone(id: string): Out {
    const zone = this.zoneOrThrow(id);
    const ns = zone.namespace;
    return {
      HostedZone: this.hostedZone(zone),
      ...(zone.private
        ? { VPCs: [{ VPCRegion: this.region, VPCId: ns.vpc ?? '' }] }
        : { DelegationSet: { NameServers: [`ns.dns.${zone.name}`] } }),
    };
  }

  listHostedZonesByName(input: { dnsName?: string; hostedZoneId?: string; maxItems?: string }): Out {
    const max = pageSize(input.maxItems, MAX_ZONES_PER_PAGE);
    if (input.hostedZoneId !== undefined && input.dnsName === undefined) throw invalidInput('hostedzoneid needs dnsname');
    let start: string | undefined;
    if (input.dnsName !== undefined) {
      const name = parseName(input.dnsName);
      // Letters, digits, `-`, `_` and `\ooo` escapes, as NextDNSName writes a zone name with other characters.
      const written = /^(?:[A-Za-z0-9_*.-]|\\[0-7]{3})*$/.test(input.dnsName);
      if (name !== '' && (!written || !isDnsName(name.split('.')))) throw invalidDomainName(`${input.dnsName} is not a valid domain name`);
      start = presentName(name);
    }
    const zones = this.zones.zones().sort((a, b) => compareNames(presentName(a.name), presentName(b.name)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const from = start === undefined ? 0 : zones.findIndex((z) => {
      const c = compareNames(presentName(z.name), start!);
      return c > 0 || (c === 0 && (input.hostedZoneId === undefined || z.id >= input.hostedZoneId));
    });
    const at = from === -1 ? zones.length : from;
    const page = zones.slice(at, at + max);
    const next = zones[at + max];
    return {
      HostedZones: page.map((z) => this.hostedZone(z)),
      ...(input.dnsName !== undefined ? { DNSName: input.dnsName } : {}),
      ...(input.hostedZoneId !== undefined ? { HostedZoneId: input.hostedZoneId } : {}),
      IsTruncated: next !== undefined,
      ...(next ? { NextDNSName: presentName(next.name), NextHostedZoneId: next.id } : {}),
      MaxItems: String(max),
    };
  }

  getHostedZoneCount(): Out {
    return { HostedZoneCount: this.zones.zones().length };
  }

  // ---------------------------------------------------------------- record sets

  listResourceRecordSets(input: { hostedZoneId: string; name?: string; type?: string; identifier?: string; maxItems?: string }): Out {
    const zone = this.zoneOrThrow(input.hostedZoneId);
    const max = pageSize(input.maxItems, MAX_RECORD_SETS_PER_PAGE);
    if (input.type !== undefined && input.name === undefined) throw invalidInput('The input is not valid: you must specify a name (name) when you specify a type (type)');
    if (input.identifier !== undefined && input.type === undefined) throw invalidInput('The input is not valid: you must specify a name and a type when you specify an identifier (identifier)');
    if (input.type !== undefined && !RR_TYPES.includes(input.type)) {
      throw invalidInput(`1 validation error detected: Value ${JSON.stringify(input.type)} at 'type' failed to satisfy constraint: Member must satisfy enum value set: [${RR_TYPES.join(', ')}]`);
    }
    if (input.identifier !== undefined && (input.identifier.length < 1 || input.identifier.length > MAX_SET_IDENTIFIER)) {
      throw invalidInput(`1 validation error detected: Value at 'identifier' failed to satisfy constraint: Member must have length between 1 and ${MAX_SET_IDENTIFIER}`);
    }
    const sets = this.zones.recordSets(zone);
    let from = 0;
    if (input.name !== undefined) {
      const name = parseName(input.name);
      // Any name DNS can encode: the listing's own names (NextRecordName) hold `\ooo` escapes, e.g. of an instance id with `:`.
      if (name !== '' && !isDnsName(name.split('.'))) throw invalidInput(`Invalid name: ${JSON.stringify(input.name)}`);
      const startKey = { Name: presentName(name), Type: input.type ?? '', SetIdentifier: input.identifier };
      from = sets.findIndex((s) => compareSets(s, startKey) >= 0);
      if (from === -1) from = sets.length;
    }
    const page = sets.slice(from, from + max);
    const next = sets[from + max];
    return {
      ResourceRecordSets: page,
      IsTruncated: next !== undefined,
      ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type, ...(next.SetIdentifier !== undefined ? { NextRecordIdentifier: next.SetIdentifier } : {}) } : {}),
      MaxItems: String(max),
    };
  }

  /** Applies a change batch whole or not at all; answers INSYNC once DNS serves it. */
  async changeResourceRecordSets(hostedZoneId: string, batch: { comment?: string; changes: ChangeInput[] }): Promise<Out> {
    const zone = this.zoneOrThrow(hostedZoneId);
    if (batch.changes.length === 0) throw invalidInput('The input is not valid: ChangeBatch.Changes must hold at least one Change');
    if (batch.changes.length > MAX_CHANGES_PER_BATCH) throw invalidInput(`The input is not valid: at most ${MAX_CHANGES_PER_BATCH} changes in a batch`);
    if (batch.comment !== undefined && batch.comment.length > 256) throw invalidInput('The input is not valid: Comment has more than 256 characters');
    const values = batch.changes.flatMap((c) => c.ResourceRecordSet.ResourceRecords ?? []);
    if (values.length > MAX_VALUES_PER_BATCH) throw invalidChangeBatch([`Number of records limit of ${MAX_VALUES_PER_BATCH} exceeded: the batch has ${values.length} ResourceRecord elements`]);
    const chars = values.reduce((n, v) => n + v.length, 0);
    if (chars > MAX_VALUE_CHARS_PER_BATCH) throw invalidChangeBatch([`The batch's Value elements have ${chars} characters together, more than the limit of ${MAX_VALUE_CHARS_PER_BATCH}: split it`]);
    for (let attempt = 1; ; attempt++) {
      // The store, not the snapshot, is the base: its revisions guard the write against concurrent batches.
      const listed = await this.kv.list(keys.namespaceRecordSets(zone.namespace.id));
      const before = new Map<string, { rec: ZoneRecordSetRecord; modRevision: number }>();
      for (const kv of listed.items) before.set(kv.key, { rec: JSON.parse(kv.value) as ZoneRecordSetRecord, modRevision: kv.modRevision });
      const state = new Map([...before].map(([k, v]) => [k, v.rec]));
      const messages = applyChanges(this.zones, zone, state, batch.changes);
      if (messages.length > 0) throw invalidChangeBatch(messages);

      const writes: TxnOp[] = [];
      for (const [key, old] of before) {
        const now = state.get(key);
        if (!now) writes.push({ type: 'delete', key, prevRevision: old.modRevision });
        else if (now !== old.rec) writes.push({ type: 'put', key, value: JSON.stringify(now), prevRevision: old.modRevision });
      }
      for (const [key, rec] of state) if (!before.has(key)) writes.push({ type: 'put', key, value: JSON.stringify(rec), prevRevision: 0 });
      // One transaction holds the batch and its change record, within the store's limit (etcd's).
      if (writes.length + 1 > MAX_TXN_OPS) {
        throw invalidChangeBatch([`The batch changes ${writes.length} record sets; Pharos applies at most ${MAX_TXN_OPS - 1} in one batch (one store transaction): split it`]);
      }
      const change: ZoneChangeRecord = { id: newChangeId(), submittedAt: this.clock.now(), ...(batch.comment !== undefined ? { comment: batch.comment } : {}) };
      // A batch that undoes itself (CREATE then DELETE of one set) changes nothing DNS serves.
      if (writes.length === 0) change.noop = true;
      // The change record first: the txn's last revision is then a record set's, which the snapshot sees.
      const ops: TxnOp[] = [{ type: 'put', key: keys.zoneChange(change.id), value: JSON.stringify(change), prevRevision: 0 }, ...writes];
      let revision: number;
      try {
        revision = await this.kv.txn(ops);
      } catch (err) {
        if (!isConflict(err)) throw err;
        if (attempt < MAX_BATCH_ATTEMPTS) continue;
        throw priorRequestNotComplete();
      }
      // Served: DNS drops its cached answers in the snapshot's change callback, before this resolves.
      if (!change.noop) await this.snapshot.waitForRevision(revision);
      return { ChangeInfo: changeInfo(change, 'INSYNC') };
    }
  }

  async getChange(id: string): Promise<Out> {
    if (!CHANGE_ID.test(id)) throw noSuchChange(id);
    const kv = await this.kv.get(keys.zoneChange(id));
    if (!kv) throw noSuchChange(id);
    const change = JSON.parse(kv.value) as ZoneChangeRecord;
    // INSYNC once this node's snapshot (and so its DNS) has the change.
    return { ChangeInfo: changeInfo(change, change.noop || this.snapshot.revision >= kv.modRevision ? 'INSYNC' : 'PENDING') };
  }

  // ---------------------------------------------------------------- helpers

  private zoneOrThrow(id: string): ZoneView {
    const zone = ZONE_ID.test(id) ? this.zones.zone(id) : undefined;
    if (!zone) throw noSuchHostedZone(id);
    return zone;
  }

  private hostedZone(zone: ZoneView): Out {
    const ns = zone.namespace;
    return {
      Id: `/hostedzone/${zone.id}`,
      Name: presentName(zone.name),
      CallerReference: callerReference(ns.id),
      Config: { Comment: `Created by AWS Cloud Map namespace with ARN ${ns.arn}`, PrivateZone: zone.private },
      ResourceRecordSetCount: this.zones.recordSets(zone).length,
      LinkedService: { ServicePrincipal: CLOUD_MAP_PRINCIPAL, Description: ns.arn },
    };
  }

  private async dropRecordSets(namespaceId: string): Promise<void> {
    const listed = await this.kv.list(keys.namespaceRecordSets(namespaceId));
    // The zone is gone already: no need for one transaction, only for each to fit the store's limit.
    for (let i = 0; i < listed.items.length; i += MAX_TXN_OPS) {
      await this.kv.txn(listed.items.slice(i, i + MAX_TXN_OPS).map((kv) => ({ type: 'delete', key: kv.key })));
    }
  }
}

/** `maxitems` as a page size: a positive number, cut to `limit` (Route 53 returns at most that many). */
function pageSize(text: string | undefined, limit: number): number {
  if (text === undefined) return limit;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw invalidInput(`maxitems must be a positive number, not ${JSON.stringify(text)}`);
  return Math.min(limit, Number(text));
}

function changeInfo(change: ZoneChangeRecord, status: 'PENDING' | 'INSYNC'): Out {
  return { Id: `/change/${change.id}`, Status: status, SubmittedAt: new Date(change.submittedAt), ...(change.comment !== undefined ? { Comment: change.comment } : {}) };
}

/** Cloud Map creates zones with an operation id as caller reference; Pharos derives one, stable per namespace. */
function callerReference(namespaceId: string): string {
  const h = createHash('sha256').update(namespaceId).digest('hex');
  return `${h.slice(0, 32)}-${h.slice(32, 40)}`;
}

export type { RecordSetView };
