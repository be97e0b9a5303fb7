import { ZONE_RECORD_TYPES, domainName, keys, parseRdata, type ZoneRecordSetRecord, type ZoneRecordType } from '../registry/index.ts';
import { parseName, presentName } from './names.ts';
import type { HostedZones, ZoneView } from './zones.ts';

/**
 * ChangeResourceRecordSets' rules, applied to a copy of a zone's user record sets: every change
 * is checked, in order, against the state the changes before it left (as Route 53 does: a
 * DELETE then a CREATE of one set is a replacement), and every refusal is collected, so the
 * batch applies whole or not at all with one message per bad change.
 * @see docs/route53.md (changes)
 */

export const CHANGE_ACTIONS = ['CREATE', 'DELETE', 'UPSERT'] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

/** A record set as a request gives it (already read from XML; everything still unchecked). */
export interface RecordSetInput {
  Name: string;
  Type: string;
  SetIdentifier?: string;
  Weight?: number;
  MultiValueAnswer?: boolean;
  TTL?: number;
  ResourceRecords?: string[];
  /** Elements of the record set Pharos does not serve (AliasTarget, GeoLocation, HealthCheckId, ...). */
  unsupported: string[];
}

export interface ChangeInput {
  Action: string;
  ResourceRecordSet: RecordSetInput;
}

/** TTLs are 32-bit signed in Route 53's model. */
const MAX_TTL = 2147483647;
const MAX_WEIGHT = 255;
/** Values per record set (Route 53's limit). */
const MAX_VALUES = 400;
export const MAX_SET_IDENTIFIER = 128;
/**
 * Route 53's limits on one request: `ResourceRecord` elements, and characters of all `Value`s
 * together. They also keep every record set's DNS answer well under 64 KiB, the most a TCP answer holds.
 */
export const MAX_VALUES_PER_BATCH = 1000;
export const MAX_VALUE_CHARS_PER_BATCH = 32_000;
/** Users' record sets in one zone: Route 53's default quota per hosted zone (it also bounds a batch's checks). */
const MAX_RECORD_SETS_PER_ZONE = 10_000;

/** The user record sets of one zone, by store key, as the batch changes them. */
type ZoneState = Map<string, ZoneRecordSetRecord>;

/** Applies `changes` to `state` (mutated) or returns the messages of the changes refused. */
export function applyChanges(zones: HostedZones, zone: ZoneView, state: ZoneState, changes: readonly ChangeInput[]): string[] {
  const messages: string[] = [];
  const touched = new Set<string>();
  for (const change of changes) {
    const checked = checkChange(zones, zone, change);
    if (typeof checked === 'string') {
      messages.push(checked);
      continue;
    }
    const { action, set } = checked;
    const key = keys.recordSet(set);
    const current = state.get(key);
    const what = describe(set);
    touched.add(set.name);
    if (action === 'DELETE') {
      if (!current) messages.push(`Tried to delete resource record set ${what} but it was not found`);
      else if (!sameSet(current, set)) messages.push(`Tried to delete resource record set ${what} but the values provided do not match the current values`);
      else state.delete(key);
      continue;
    }
    if (action === 'CREATE' && current) {
      messages.push(`Tried to create resource record set ${what} but it already exists`);
      continue;
    }
    const mix = policyConflict(state, key, set);
    if (mix) {
      messages.push(mix);
      continue;
    }
    state.set(key, set);
  }
  if (state.size > MAX_RECORD_SETS_PER_ZONE) {
    messages.push(`The change would leave ${state.size} record sets of your own in zone ${presentName(zone.name)}, more than the limit of ${MAX_RECORD_SETS_PER_ZONE}`);
  }
  // A CNAME owns its name alone (RFC 1034 3.6.2): checked on the batch's result, name by name.
  for (const name of touched) {
    const types = new Set<string>();
    for (const r of state.values()) if (r.name === name) types.add(r.type);
    if (types.has('CNAME') && types.size > 1) {
      messages.push(`RRSet of type CNAME with DNS name ${presentName(name)} is not permitted as it conflicts with other records with the same DNS name in zone ${presentName(zone.name)}`);
    }
  }
  return messages;
}

/** Checks one change on its own; a string is why it is refused. */
function checkChange(zones: HostedZones, zone: ZoneView, change: ChangeInput): { action: ChangeAction; set: ZoneRecordSetRecord } | string {
  const r = change.ResourceRecordSet;
  const action = change.Action as ChangeAction;
  if (!CHANGE_ACTIONS.includes(action)) return `Invalid Action ${JSON.stringify(change.Action)}: must be CREATE, DELETE or UPSERT`;
  const shown = `${r.Name} ${r.Type}`;
  const name = parseName(r.Name);
  if (name.includes('*')) return `RRSet with DNS name ${presentName(name)}: wildcard names are not served by Pharos`;
  const labels = domainName(name);
  if (typeof labels === 'string') return `RRSet with DNS name ${r.Name}: ${labels}`;
  if (name !== zone.name && !name.endsWith('.' + zone.name)) return `RRSet with DNS name ${presentName(name)} is not permitted in zone ${presentName(zone.name)}`;
  if (r.Type === 'SOA' || r.Type === 'NS') return `RRSet of type ${r.Type} with DNS name ${presentName(name)}: the zone's SOA and NS record sets are managed by Pharos`;
  if (!(ZONE_RECORD_TYPES as readonly string[]).includes(r.Type)) {
    return `RRSet with DNS name ${presentName(name)}: type ${JSON.stringify(r.Type)} is not supported (Pharos serves ${ZONE_RECORD_TYPES.join(', ')})`;
  }
  const type = r.Type as ZoneRecordType;
  if (r.unsupported.length > 0) return `RRSet ${shown}: ${r.unsupported.join(', ')} not supported by Pharos (simple, weighted and multivalue record sets only)`;
  if (type === 'CNAME' && name === zone.name) return `RRSet of type CNAME with DNS name ${presentName(name)} is not permitted at apex in zone ${presentName(zone.name)}`;
  const owner = managedBy(zones, zone, name, r.SetIdentifier);
  if (owner) return `RRSet with DNS name ${presentName(name)}, type ${type} is managed by AWS Cloud Map (${owner}); change it through the Cloud Map API`;

  const id = r.SetIdentifier;
  if (id !== undefined && (id.length < 1 || id.length > MAX_SET_IDENTIFIER)) return `RRSet ${shown}: SetIdentifier must have 1 to ${MAX_SET_IDENTIFIER} characters`;
  if (id === undefined && (r.Weight !== undefined || r.MultiValueAnswer !== undefined)) return `RRSet ${shown}: Weight and MultiValueAnswer need a SetIdentifier`;
  if (id !== undefined && (r.Weight === undefined) === (r.MultiValueAnswer === undefined)) return `RRSet ${shown}: a SetIdentifier needs exactly one of Weight or MultiValueAnswer`;
  if (r.Weight !== undefined && !(Number.isInteger(r.Weight) && r.Weight >= 0 && r.Weight <= MAX_WEIGHT)) return `RRSet ${shown}: Weight must be an integer from 0 to ${MAX_WEIGHT}`;
  if (r.MultiValueAnswer === false) return `RRSet ${shown}: MultiValueAnswer must be true when given`;
  if (r.TTL === undefined || r.ResourceRecords === undefined || r.ResourceRecords.length === 0) return `Invalid request: Expected TTL and ResourceRecords in Change with [Action=${action}, Name=${r.Name}, Type=${type}]`;
  if (!(Number.isInteger(r.TTL) && r.TTL >= 0 && r.TTL <= MAX_TTL)) return `RRSet ${shown}: TTL must be an integer from 0 to ${MAX_TTL}`;
  if (r.ResourceRecords.length > MAX_VALUES) return `RRSet ${shown}: at most ${MAX_VALUES} values`;
  if (type === 'CNAME' && r.ResourceRecords.length > 1) return `RRSet of type CNAME with DNS name ${presentName(name)} has more than one value`;
  for (const value of r.ResourceRecords) {
    const d = parseRdata(type, value);
    if (typeof d === 'string') return `Invalid Resource Record: FATAL problem: ${d} encountered with '${value}'`;
  }
  if (new Set(r.ResourceRecords).size !== r.ResourceRecords.length) return `RRSet ${shown}: duplicate values`;
  const set: ZoneRecordSetRecord = { namespaceId: zone.namespace.id, name, type, ttl: r.TTL, values: [...r.ResourceRecords] };
  if (id !== undefined) set.setIdentifier = id;
  if (r.Weight !== undefined) set.weight = r.Weight;
  if (r.MultiValueAnswer) set.multiValueAnswer = true;
  return { action, set };
}

/**
 * Names Cloud Map's records own: a service's name (any type) and everything below it (instance
 * host names). Undefined when the name is the user's to change; else who owns it, naming the
 * instance when there is one.
 */
function managedBy(zones: HostedZones, zone: ZoneView, name: string, setIdentifier: string | undefined): string | undefined {
  if (name === `ns.dns.${zone.name}`) return 'the zone\'s name server host name, managed by Pharos';
  for (const svc of zones.dnsServices(zone)) {
    const svcName = `${svc.name.toLowerCase()}.${zone.name}`;
    const instances = [...zones.instances(svc.id).keys()];
    if (name === svcName) {
      const owner = setIdentifier !== undefined && instances.includes(setIdentifier) ? [setIdentifier] : instances;
      if (owner.length === 0) return `the name of service ${svc.name} (${svc.id})`;
      const shown = owner.slice(0, 5).join(', ') + (owner.length > 5 ? `, and ${owner.length - 5} more` : '');
      return `record sets of service ${svc.name} (${svc.id}) owned by instance${owner.length > 1 ? 's' : ''} ${shown}`;
    }
    if (name.endsWith('.' + svcName)) {
      const host = name.slice(0, -svcName.length - 1);
      const inst = instances.find((i) => i.toLowerCase() === host);
      return inst ? `host name of instance ${inst} of service ${svc.name} (${svc.id})` : `instance host names of service ${svc.name} (${svc.id})`;
    }
  }
  return undefined;
}

/** Sets at (name, type) share one routing policy: one simple set, or weighted ones, or multivalue ones. */
function policyConflict(state: ZoneState, key: string, set: ZoneRecordSetRecord): string | undefined {
  const policy = policyOf(set);
  for (const [k, other] of state) {
    if (k === key || other.name !== set.name || other.type !== set.type) continue;
    const otherPolicy = policyOf(other);
    if (policy === 'simple' || otherPolicy === 'simple') {
      return `RRSet with DNS name ${presentName(set.name)}, type ${set.type}${set.setIdentifier !== undefined ? ` and SetIdentifier ${set.setIdentifier}` : ''} cannot be created because other RRSets exist with the same name and type`;
    }
    if (policy !== otherPolicy) {
      return `RRSet with DNS name ${presentName(set.name)}, type ${set.type} and SetIdentifier ${set.setIdentifier} cannot be created because a non-${policy} RRSet exists with the same name and type`;
    }
  }
  return undefined;
}

function policyOf(set: ZoneRecordSetRecord): 'simple' | 'weighted' | 'multivalue' {
  return set.weight !== undefined ? 'weighted' : set.multiValueAnswer ? 'multivalue' : 'simple';
}

function sameSet(a: ZoneRecordSetRecord, b: ZoneRecordSetRecord): boolean {
  return (
    a.ttl === b.ttl &&
    a.weight === b.weight &&
    (a.multiValueAnswer ?? false) === (b.multiValueAnswer ?? false) &&
    a.values.length === b.values.length &&
    [...a.values].sort().join('\n') === [...b.values].sort().join('\n')
  );
}

function describe(set: ZoneRecordSetRecord): string {
  return `[name='${presentName(set.name)}', type='${set.type}'${set.setIdentifier !== undefined ? `, set-identifier='${set.setIdentifier}'` : ''}]`;
}
