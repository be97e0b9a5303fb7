import { isPharosError, newHostedZoneId, newNamespaceId, randomString } from '../../lib/index.ts';
import { MAX_CAS_ATTEMPTS, STORE_KEY_EXISTS } from '../../store/index.ts';
import type { OpPayload } from '../engine.ts';
import { duplicateRequest, invalidInput, namespaceAlreadyExists, resourceInUse, resourceLimitExceeded, tooManyTags } from '../errors.ts';
import { keys, namespaceClaims, type NamespaceClaim, type NamespaceRecord } from '../model.ts';
import { namespaceOut, namespaceSummaryOut } from '../output.ts';
import { byKey, page } from '../paging.ts';
import { isDnsName as encodableName } from '../rdata.ts';
import { pickSlot } from '../quota.ts';
import type { Registry } from '../registry.ts';
import { readTags } from '../rules.ts';
import { P1, P2, P3, checkEnum, type Input } from '../validate.ts';
import { fingerprint, oneValue, ownerFilter, readFilters, readPaging, type Out } from './common.ts';

/** The namespace operations: create (3 types, asynchronous), update (3 types, asynchronous), get, list, delete. */

type NamespaceKind = 'HTTP' | 'DNS_PRIVATE' | 'DNS_PUBLIC';

const NAMESPACE_FILTER_NAMES = ['TYPE', 'NAME', 'HTTP_NAME', 'RESOURCE_OWNER'] as const;
const NAMESPACE_TYPES = ['HTTP', 'DNS_PRIVATE', 'DNS_PUBLIC'] as const;

const norm = (dnsName: string): string => dnsName.toLowerCase().replace(/\.$/, '');

export const CreateHttpNamespace = (reg: Registry, r: Input): Promise<Out> => createNamespace(reg, 'HTTP', r);
export const CreatePrivateDnsNamespace = (reg: Registry, r: Input): Promise<Out> => createNamespace(reg, 'DNS_PRIVATE', r);
export const CreatePublicDnsNamespace = (reg: Registry, r: Input): Promise<Out> => createNamespace(reg, 'DNS_PUBLIC', r);

async function createNamespace(reg: Registry, type: NamespaceKind, r: Input): Promise<Out> {
  const name =
    type === 'HTTP'
      ? r.str('Name', { required: true, max: 1024, pattern: P1, patternHelp: 'printable ASCII, not starting with arn:' })
      : type === 'DNS_PRIVATE'
        ? r.str('Name', { required: true, max: 253, pattern: P2, patternHelp: 'printable ASCII, not starting with arn:' })
        : r.str('Name', { required: true, max: 253, pattern: P3, patternHelp: 'a DNS domain name (labels of letters, digits and hyphens)' });
  // The private pattern is any printable ASCII; the name must still make a zone DNS can serve.
  if (type === 'DNS_PRIVATE' && !encodableName(norm(name).split('.'))) {
    throw invalidInput(`Name: ${JSON.stringify(name)} is not a DNS name (labels of 1 to 63 characters, 255 bytes in all)`);
  }
  const creatorRequestId = r.str('CreatorRequestId', { max: 64 });
  const description = r.str('Description', { max: 1024 });
  const vpc = type === 'DNS_PRIVATE' ? r.str('Vpc', { required: true, max: 64 }) : undefined;
  const tags = readTags(r, 'Tags', false) ?? [];
  let soaTtl: number | undefined;
  if (type !== 'HTTP') {
    const props = r.obj('Properties');
    if (props) soaTtl = props.obj('DnsProperties', true).obj('SOA', true).long('TTL', true);
  }
  const print = fingerprint([type, name, vpc, description, soaTtl, tags]);
  const replayed = reg.operations.replay('CREATE_NAMESPACE', creatorRequestId, print);
  if (replayed) return replayed;

  const existing = [...reg.snapshot.namespaces(), ...reg.operations.pendingNamespaces()];
  for (const other of existing) {
    const clash =
      type === 'HTTP'
        ? other.httpName === name || (other.type === 'HTTP' && other.name === name)
        : other.type === type && norm(other.name) === norm(name) && (type === 'DNS_PUBLIC' || other.vpc === vpc);
    if (clash) throw namespaceAlreadyExists(other.id, other.creatorRequestId);
  }
  if (existing.length >= reg.quotas.namespacesPerRegion) {
    throw resourceLimitExceeded(`A region can have at most ${reg.quotas.namespacesPerRegion} namespaces`);
  }
  const id = newNamespaceId();
  const arn = reg.arn('namespace', id);
  if (tags.length > reg.quotas.tagsPerResource) throw tooManyTags(arn, reg.quotas.tagsPerResource);
  // A reused name gets a suffixed HttpName, as AWS does for the same private name in a second VPC.
  const httpName = existing.some((o) => o.httpName === name) ? `${name}-${randomString(8)}` : name;
  const ns: NamespaceRecord = { id, arn, name, type, httpName, createDate: reg.clock.now(), tags };
  if (description !== undefined) ns.description = description;
  if (type !== 'HTTP') ns.hostedZoneId = newHostedZoneId();
  if (soaTtl !== undefined) ns.soaTtl = soaTtl;
  if (vpc !== undefined) ns.vpc = vpc;
  if (creatorRequestId !== undefined) ns.creatorRequestId = creatorRequestId;
  // A shared store: the namespace also takes a quota slot with its names (../quota.ts).
  const refused = new Set<number>();
  for (let attempt = 0; ; attempt++) {
    if (reg.sharedStore) {
      const slot = pickSlot(reg.quotas.namespacesPerRegion, (n) => refused.has(n) || existing.some((o) => o.quotaSlot === n));
      if (slot === undefined || attempt >= MAX_CAS_ATTEMPTS) throw resourceLimitExceeded(`A region can have at most ${reg.quotas.namespacesPerRegion} namespaces`);
      ns.quotaSlot = slot;
    }
    try {
      return await submitNamespace(reg, ns, print);
    } catch (err) {
      // Another server took the slot a moment ago: draw another.
      if (ns.quotaSlot === undefined || !isPharosError(err, STORE_KEY_EXISTS) || err.fields['key'] !== keys.namespaceSlot(ns.quotaSlot)) throw err;
      refused.add(ns.quotaSlot);
    }
  }
}

async function submitNamespace(reg: Registry, ns: NamespaceRecord, print: string): Promise<Out> {
  const creatorRequestId = ns.creatorRequestId;
  const claims = namespaceClaims(ns);
  try {
    return await reg.operations.submit('CREATE_NAMESPACE', { NAMESPACE: ns.id }, { kind: 'createNamespace', namespace: ns }, creatorRequestId, print, claims);
  } catch (err) {
    // Another server took the name first (its record is not in our snapshot yet).
    const key = isPharosError(err, STORE_KEY_EXISTS) ? String(err.fields['key']) : '';
    if (!claims.includes(key) || key.startsWith(keys.quotaPrefix)) throw err;
    const cur = await reg.kv.get(key);
    const claim = cur && (JSON.parse(cur.value) as NamespaceClaim);
    if (claim && creatorRequestId !== undefined && claim.creatorRequestId === creatorRequestId && claim.fingerprint === print) {
      return { OperationId: claim.operationId }; // the same request, sent to two servers
    }
    throw namespaceAlreadyExists(claim?.namespaceId ?? '', claim?.creatorRequestId);
  }
}

export const UpdateHttpNamespace = (reg: Registry, r: Input): Promise<Out> => updateNamespace(reg, 'HTTP', r);
export const UpdatePrivateDnsNamespace = (reg: Registry, r: Input): Promise<Out> => updateNamespace(reg, 'DNS_PRIVATE', r);
export const UpdatePublicDnsNamespace = (reg: Registry, r: Input): Promise<Out> => updateNamespace(reg, 'DNS_PUBLIC', r);

async function updateNamespace(reg: Registry, type: NamespaceKind, r: Input): Promise<Out> {
  const rawId = r.str('Id', { required: true, max: 255 });
  const updaterRequestId = r.str('UpdaterRequestId', { max: 64 });
  const change = r.obj('Namespace', true);
  let description: string | undefined;
  let soaTtl: number | undefined;
  if (type === 'HTTP') {
    description = change.str('Description', { required: true, max: 1024 });
  } else {
    description = change.str('Description', { max: 1024 });
    const props = change.obj('Properties');
    if (props) soaTtl = props.obj('DnsProperties', true).obj('SOA', true).long('TTL', true);
  }
  const ns = reg.requireNamespace('Id', rawId);
  if (ns.type !== type) throw invalidInput(`Id: namespace ${ns.id} is of type ${ns.type}, not ${type}`);
  const print = fingerprint([ns.id, description, soaTtl]);
  const replayed = reg.operations.replay('UPDATE_NAMESPACE', updaterRequestId, print);
  if (replayed) return replayed;
  const open = reg.operations.openOp(`ns:${ns.id}`);
  if (open) throw resourceInUse(`Another operation on namespace ${ns.id} is in progress: ${open.id}`);
  const payload: OpPayload = { kind: 'updateNamespace', namespaceId: ns.id };
  if (description !== undefined) payload.description = description;
  if (soaTtl !== undefined) payload.soaTtl = soaTtl;
  return reg.operations.submit('UPDATE_NAMESPACE', { NAMESPACE: ns.id }, payload, updaterRequestId, print);
}

export async function GetNamespace(reg: Registry, r: Input): Promise<Out> {
  const ns = reg.requireNamespace('Id', r.str('Id', { required: true, max: 255 }));
  return { Namespace: namespaceOut(ns, reg.out) };
}

export async function ListNamespaces(reg: Registry, r: Input): Promise<Out> {
  const { token, max } = readPaging(r);
  const filters = readFilters(r, NAMESPACE_FILTER_NAMES, (name, condition, values, path) => {
    switch (name) {
      case 'TYPE':
        if (condition !== 'EQ' && condition !== 'IN') throw invalidInput(`${path}.Condition: TYPE supports EQ and IN`);
        values.forEach((v, i) => checkEnum(`${path}.Values[${i}]`, v, NAMESPACE_TYPES));
        return (ns: NamespaceRecord) => values.includes(ns.type);
      case 'NAME':
      case 'HTTP_NAME': {
        if (condition !== 'EQ' && condition !== 'BEGINS_WITH') throw invalidInput(`${path}.Condition: ${name} supports EQ and BEGINS_WITH`);
        oneValue(values, path);
        const v = values[0]!;
        const field = (ns: NamespaceRecord) => (name === 'NAME' ? ns.name : ns.httpName);
        return condition === 'EQ' ? (ns: NamespaceRecord) => field(ns) === v : (ns: NamespaceRecord) => field(ns).startsWith(v);
      }
      case 'RESOURCE_OWNER':
        return ownerFilter(condition, values, path);
    }
  });
  const all = [...reg.snapshot.namespaces()].filter((ns) => filters.every((f) => f(ns))).sort(byKey((ns: NamespaceRecord) => ns.id));
  const p = page('ns', all, (ns) => ns.id, token, max);
  const out: Out = { Namespaces: p.items.map((ns) => namespaceSummaryOut(ns, reg.out)) };
  if (p.nextToken) out['NextToken'] = p.nextToken;
  return out;
}

export async function DeleteNamespace(reg: Registry, r: Input): Promise<Out> {
  const ns = reg.requireNamespace('Id', r.str('Id', { required: true, max: 255 }));
  const open = reg.operations.openOp(`ns:${ns.id}`);
  if (open?.type === 'DELETE_NAMESPACE') throw duplicateRequest(open.id, `Namespace ${ns.id} is already being deleted`);
  if (open) throw resourceInUse(`Another operation on namespace ${ns.id} is in progress: ${open.id}`);
  const count = reg.out.serviceCount(ns.id);
  if (count > 0) throw resourceInUse(`Namespace ${ns.id} still contains ${count} service(s)`);
  return reg.operations.submit('DELETE_NAMESPACE', { NAMESPACE: ns.id }, { kind: 'deleteNamespace', namespaceId: ns.id });
}
