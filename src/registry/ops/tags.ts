import { parseArn } from '../../lib/index.ts';
import { invalidInput, resourceNotFound, tooManyTags } from '../errors.ts';
import { keys, type Tag } from '../model.ts';
import { tagsOut } from '../output.ts';
import type { Registry } from '../registry.ts';
import { TAG_KEY, readTags } from '../rules.ts';
import { checkStr, type Input } from '../validate.ts';
import type { Out } from './common.ts';

/** Tags on namespaces and services (the only taggable resources, docs/compatibility.md#tags). */

/** The record key behind a taggable ARN. */
function taggable(reg: Registry, r: Input): { arn: string; key: string } {
  const arn = r.str('ResourceARN', { required: true, min: 1, max: 1011 });
  const parts = parseArn(arn);
  if (!parts) throw invalidInput('ResourceARN: must be an ARN');
  if (parts.service !== 'servicediscovery' || parts.region !== reg.region || parts.account !== reg.accountId) throw resourceNotFound(arn);
  const m = /^(namespace|service)\/(.+)$/.exec(parts.resource);
  if (!m) throw resourceNotFound(arn);
  const key = m[1] === 'namespace' ? keys.namespace(m[2]!) : keys.service(m[2]!);
  const exists = m[1] === 'namespace' ? reg.snapshot.namespace(m[2]!) : reg.snapshot.service(m[2]!);
  if (!exists) throw resourceNotFound(arn);
  return { arn, key };
}

export async function TagResource(reg: Registry, r: Input): Promise<Out> {
  const target = taggable(reg, r);
  const tags = readTags(r, 'Tags', true)!;
  const limit = reg.quotas.tagsPerResource;
  await reg.mutate<{ tags: Tag[] }>(target.key, () => resourceNotFound(target.arn), (rec) => {
    const merged = new Map((rec.tags ?? []).map((t) => [t.Key, t.Value]));
    for (const t of tags) merged.set(t.Key, t.Value);
    if (merged.size > limit) throw tooManyTags(target.arn, limit);
    return { ...rec, tags: [...merged].map(([Key, Value]) => ({ Key, Value })) };
  });
  return {};
}

export async function UntagResource(reg: Registry, r: Input): Promise<Out> {
  const target = taggable(reg, r);
  const tagKeys = r.list('TagKeys', { required: true, max: 200 }, (v, path) => checkStr(path, v, TAG_KEY))!;
  const remove = new Set(tagKeys);
  await reg.mutate<{ tags: Tag[] }>(target.key, () => resourceNotFound(target.arn), (rec) => ({
    ...rec,
    tags: (rec.tags ?? []).filter((t) => !remove.has(t.Key)),
  }));
  return {};
}

export async function ListTagsForResource(reg: Registry, r: Input): Promise<Out> {
  const target = taggable(reg, r);
  const rec = target.key.startsWith(keys.namespacePrefix)
    ? reg.snapshot.namespace(target.key.slice(keys.namespacePrefix.length))
    : reg.snapshot.service(target.key.slice(keys.servicePrefix.length));
  return { Tags: tagsOut(rec?.tags ?? []) };
}
