import type { EcsApi } from '../api.ts';
import { clientException, invalidParameter } from '../errors.ts';
import { ecsKeys, parseTaskDefinitionRef, type TaskDefinitionRecord } from '../model.ts';
import { taskDefinitionOut } from '../output.ts';
import { UNCHANGED } from '../state.ts';
import { parseTaskDefinition } from '../taskdef.ts';
import { str, type Json } from '../validate.ts';
import { includes, paginate, parseTags } from './parse.ts';

export async function RegisterTaskDefinition(ecs: EcsApi, b: Json): Promise<unknown> {
  const parsed = parseTaskDefinition(b);
  const tags = parseTags(b);
  const now = ecs.clock.now();
  // The next revision is one past the highest ever used; create() fails if a racing call took it.
  for (;;) {
    const existing = await ecs.store.kv.list(ecsKeys.family(parsed.family));
    const last = existing.items.at(-1);
    const revision = last ? Number(last.key.slice(last.key.lastIndexOf('/') + 1)) + 1 : 1;
    const record: TaskDefinitionRecord = {
      ...parsed,
      arn: ecs.arn(`task-definition/${parsed.family}:${revision}`),
      revision,
      status: 'ACTIVE',
      registeredAt: now,
      tags,
    };
    if (await ecs.store.create(ecsKeys.taskDefinition(parsed.family, revision), record)) {
      return { taskDefinition: taskDefinitionOut(record), tags };
    }
  }
}

export async function DescribeTaskDefinition(ecs: EcsApi, b: Json): Promise<unknown> {
  const ref = str(b, 'taskDefinition', { required: true, code: 'ClientException' })!;
  const td = await ecs.findTaskDefinition(ref);
  if (!td) throw clientException('Unable to describe task definition.');
  return { taskDefinition: taskDefinitionOut(td), tags: includes(b, 'TAGS') ? td.tags : undefined };
}

export async function ListTaskDefinitions(ecs: EcsApi, b: Json): Promise<unknown> {
  const familyPrefix = str(b, 'familyPrefix', { max: 255 });
  const status = str(b, 'status', { oneOf: ['ACTIVE', 'INACTIVE', 'DELETE_IN_PROGRESS'] }) ?? 'ACTIVE';
  const sort = str(b, 'sort', { oneOf: ['ASC', 'DESC'] }) ?? 'ASC';
  let all = (await ecs.store.list<TaskDefinitionRecord>(ecsKeys.taskDefinitionPrefix)).filter(
    (td) => td.status === status && (familyPrefix === undefined || td.family.startsWith(familyPrefix)),
  );
  all.sort((x, y) => (x.family < y.family ? -1 : x.family > y.family ? 1 : x.revision - y.revision));
  if (sort === 'DESC') all = all.reverse();
  const items = all.map((td, i) => ({ key: String(i).padStart(10, '0'), value: td.arn }));
  const page = paginate(items, b);
  return { taskDefinitionArns: page.items, nextToken: page.nextToken };
}

export async function DeregisterTaskDefinition(ecs: EcsApi, b: Json): Promise<unknown> {
  const ref = str(b, 'taskDefinition', { required: true })!;
  const parsed = parseTaskDefinitionRef(ref);
  if (!parsed || parsed.revision === undefined) {
    throw invalidParameter('A revision must be specified: family:revision or the full task definition ARN.');
  }
  const now = ecs.clock.now();
  const td = await ecs.store.mutate<TaskDefinitionRecord>(ecsKeys.taskDefinition(parsed.family, parsed.revision), (cur) => {
    if (!cur) throw clientException('The specified task definition does not exist.');
    if (cur.status === 'INACTIVE') return UNCHANGED;
    return { ...cur, status: 'INACTIVE', deregisteredAt: now };
  });
  return { taskDefinition: taskDefinitionOut(td!) };
}
