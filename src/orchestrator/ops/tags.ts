import { TAG_PATTERN, parseArn } from '../../lib/index.ts';
import type { EcsApi } from '../api.ts';
import { invalidParameter, resourceNotFound } from '../errors.ts';
import { ecsKeys, parseTaskDefinitionRef, type EcsTag } from '../model.ts';
import { str, strings, type Json } from '../validate.ts';
import { MAX_TAGS, TAG_KEY, parseTags } from './parse.ts';

/** Tags on clusters, services, task definitions and tasks. */

export async function TagResource(ecs: EcsApi, b: Json): Promise<unknown> {
  const arn = str(b, 'resourceArn', { required: true, max: 2048 })!;
  const tags = parseTags(b);
  if (tags.length === 0) throw invalidParameter('tags must contain at least one tag.');
  await mutateTags(ecs, arn, (current) => {
    const byKey = new Map(current.map((t) => [t.key, t]));
    for (const t of tags) byKey.set(t.key, t);
    if (byKey.size > MAX_TAGS) throw invalidParameter(`A resource can have at most ${MAX_TAGS} tags.`);
    return [...byKey.values()];
  });
  return {};
}

export async function UntagResource(ecs: EcsApi, b: Json): Promise<unknown> {
  const arn = str(b, 'resourceArn', { required: true, max: 2048 })!;
  const keys = strings(b, 'tagKeys', { required: true, itemMax: 128 })!;
  for (const [i, k] of keys.entries()) if (!TAG_PATTERN.test(k)) throw invalidParameter(`tagKeys[${i}] ${TAG_KEY.patternHelp}`);
  await mutateTags(ecs, arn, (current) => current.filter((t) => !keys.includes(t.key)));
  return {};
}

export async function ListTagsForResource(ecs: EcsApi, b: Json): Promise<unknown> {
  const arn = str(b, 'resourceArn', { required: true, max: 2048 })!;
  const key = await taggableKey(arn);
  const rec = (await ecs.store.get<{ tags: EcsTag[] }>(key))?.value;
  if (!rec) throw resourceNotFound();
  return { tags: rec.tags };
}

/** The store key of a taggable ECS resource: cluster, service, task definition or task ARN. */
async function taggableKey(arn: string): Promise<string> {
  const parts = parseArn(arn);
  if (!parts || parts.service !== 'ecs') throw invalidParameter(`${arn} is not an ECS resource ARN.`);
  const [type, ...rest] = parts.resource.split('/');
  if (type === 'cluster' && rest.length === 1) return ecsKeys.cluster(rest[0]!);
  if (type === 'service' && rest.length === 2) return ecsKeys.service(rest[0]!, rest[1]!);
  if (type === 'task' && rest.length === 2) return ecsKeys.task(rest[0]!, rest[1]!);
  if (type === 'task-definition' && rest.length === 1) {
    const ref = parseTaskDefinitionRef(rest[0]!);
    if (ref?.revision !== undefined) return ecsKeys.taskDefinition(ref.family, ref.revision);
  }
  throw invalidParameter(`${arn} is not a taggable ECS resource (cluster, service, task definition or task).`);
}

async function mutateTags(ecs: EcsApi, arn: string, fn: (current: EcsTag[]) => EcsTag[]): Promise<void> {
  const key = await taggableKey(arn);
  await ecs.store.mutate<{ tags: EcsTag[] }>(key, (cur) => {
    if (!cur) throw resourceNotFound();
    return { ...cur, tags: fn(cur.tags ?? []) };
  });
}
