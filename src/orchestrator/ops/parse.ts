import { TAG_CHARACTERS, TAG_PATTERN, pageAfter } from '../../lib/index.ts';
import { invalidParameter } from '../errors.ts';
import { newDeploymentId } from '../factory.ts';
import type { ContainerOverride, DeploymentConfiguration, DeploymentRecord, EcsTag, LaunchType, NetworkConfiguration, ServiceRegistry, TaskDefinitionRecord } from '../model.ts';
import { execArgs, parsePairs } from '../taskdef.ts';
import { bool, int, obj, objects, str, strings, type Json } from '../validate.ts';

/** Request members several ECS operations share, read from the untrusted body. */

/** Page size limits of the List* operations: ECS's 1–100. */
const MAX_PAGE = 100;
/** Subnets per awsvpcConfiguration (the ECS model's). */
const MAX_SUBNETS = 16;
/** Tags per resource, as ECS. */
export const MAX_TAGS = 50;

export function includes(b: Json, what: string): boolean {
  return (strings(b, 'include') ?? []).includes(what);
}

/** A tag key as ECS's model has it: 1–128 of AWS's tag characters. */
export const TAG_KEY = { min: 1, max: 128, pattern: TAG_PATTERN, patternHelp: `may contain only ${TAG_CHARACTERS}.` };

/** `tags`: at most 50; key 1–128, value 0–256, each of AWS's tag characters (InvalidParameterException). */
export function parseTags(b: Json): EcsTag[] {
  const tags = (objects(b, 'tags', { max: MAX_TAGS }) ?? []).map((t, i) => ({
    key: str(t, `tags[${i}].key`, { required: true, ...TAG_KEY })!,
    value: str(t, `tags[${i}].value`, { max: 256, pattern: TAG_PATTERN, patternHelp: TAG_KEY.patternHelp }) ?? '',
  }));
  return tags;
}

/** A new PRIMARY deployment, rollout IN_PROGRESS. */
export function newDeployment(
  taskDefinitionArn: string,
  networkConfiguration: NetworkConfiguration | undefined,
  serviceRegistries: ServiceRegistry[],
  launchType: LaunchType,
  now: number,
): DeploymentRecord {
  const id = newDeploymentId();
  return {
    id,
    status: 'PRIMARY',
    taskDefinitionArn,
    networkConfiguration,
    serviceRegistries,
    launchType,
    rolloutState: 'IN_PROGRESS',
    rolloutStateReason: `ECS deployment ${id} in progress.`,
    failedTasks: 0,
    createdAt: now,
    updatedAt: now,
  };
}

export function parseNetworkConfiguration(b: Json, td: TaskDefinitionRecord): NetworkConfiguration | undefined {
  const nc = obj(b, 'networkConfiguration');
  let out: NetworkConfiguration | undefined;
  if (nc) {
    const vpc = obj(nc, 'networkConfiguration.awsvpcConfiguration', { required: true });
    const subnets = strings(vpc!, 'awsvpcConfiguration.subnets', { required: true, min: 1, max: MAX_SUBNETS, itemMax: 255 })!;
    const securityGroups = strings(vpc!, 'awsvpcConfiguration.securityGroups', { max: 5, itemMax: 255 });
    const assignPublicIp = str(vpc!, 'awsvpcConfiguration.assignPublicIp', { oneOf: ['ENABLED', 'DISABLED'] }) as 'ENABLED' | 'DISABLED' | undefined;
    out = { awsvpcConfiguration: { subnets } };
    if (securityGroups) out.awsvpcConfiguration.securityGroups = securityGroups;
    if (assignPublicIp) out.awsvpcConfiguration.assignPublicIp = assignPublicIp;
  }
  checkNetworkConfiguration(out, td);
  return out;
}

export function checkNetworkConfiguration(nc: NetworkConfiguration | undefined, td: TaskDefinitionRecord): void {
  if (td.networkMode === 'awsvpc' && !nc) {
    throw invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
  }
  if (td.networkMode !== 'awsvpc' && nc) {
    throw invalidParameter('Network Configuration is not valid for the given networkMode of this task definition.');
  }
}

export function parseDeploymentConfiguration(b: Json): DeploymentConfiguration {
  const dc = obj(b, 'deploymentConfiguration') ?? {};
  const maximumPercent = int(dc, 'deploymentConfiguration.maximumPercent', { min: 100, max: 2000 }) ?? 200;
  const minimumHealthyPercent = int(dc, 'deploymentConfiguration.minimumHealthyPercent', { min: 0, max: 100 }) ?? 100;
  const cb = obj(dc, 'deploymentConfiguration.deploymentCircuitBreaker');
  return {
    maximumPercent,
    minimumHealthyPercent,
    deploymentCircuitBreaker: {
      enable: (cb && bool(cb, 'deploymentCircuitBreaker.enable', { required: true })) ?? false,
      rollback: (cb && bool(cb, 'deploymentCircuitBreaker.rollback', { required: true })) ?? false,
    },
  };
}

export function parseOverrides(b: Json, td: TaskDefinitionRecord): ContainerOverride[] {
  const o = obj(b, 'overrides');
  if (!o) return [];
  return (objects(o, 'overrides.containerOverrides') ?? []).map((c, i) => {
    const p = `overrides.containerOverrides[${i}]`;
    const name = str(c, `${p}.name`, { required: true, max: 255 })!;
    if (!td.containerDefinitions.some((d) => d.name === name)) {
      throw invalidParameter(`Override for container named ${name} is not a container in the TaskDefinition.`);
    }
    const out: ContainerOverride = { name };
    const command = execArgs(c, `${p}.command`);
    if (command) out.command = command;
    if (c['environment'] !== undefined) out.environment = parsePairs(c, `${p}.environment`);
    return out;
  });
}

interface PageItem {
  key: string;
  value: string;
}

/** Key-ordered paging (`items` in key order) with opaque tokens (base64 of the last key), distinct on every page. */
export function paginate(items: PageItem[], b: Json): { items: string[]; nextToken?: string } {
  const maxResults = int(b, 'maxResults', { min: 1, max: MAX_PAGE }) ?? MAX_PAGE;
  const token = str(b, 'nextToken', { max: 4096 });
  let after: string | undefined;
  if (token !== undefined) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (!Array.isArray(parsed) || typeof parsed[0] !== 'string') throw new Error('bad token');
      after = parsed[0];
    } catch {
      throw invalidParameter('Invalid nextToken.');
    }
  }
  const page = pageAfter(items, (i) => i.key, after, maxResults);
  return {
    items: page.items.map((i) => i.value),
    nextToken: page.lastKey !== undefined ? Buffer.from(JSON.stringify([page.lastKey])).toString('base64url') : undefined,
  };
}
