import { createHash } from 'node:crypto';
import { invalidInput } from '../errors.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../paging.ts';
import type { Registry } from '../registry.ts';
import { Input, checkEnum, checkStr } from '../validate.ts';

/** An operation's AWS output shape. */
export type Out = Record<string, unknown>;

/** A Cloud Map operation: the registry and the untrusted input (already an object reader) in, the AWS output shape out. */
export type CloudMapHandler = (reg: Registry, r: Input) => Promise<Out>;

/** Same-request fingerprints for `CreatorRequestId` idempotency. */
export const fingerprint = (parts: unknown): string => createHash('sha1').update(JSON.stringify(parts)).digest('base64url');

/** `NextToken` and `MaxResults` of the paged list operations. */
export function readPaging(r: Input): { token?: string; max: number } {
  const token = r.str('NextToken', { max: 4096 });
  const max = r.int('MaxResults', { min: 1, max: MAX_PAGE_SIZE }) ?? DEFAULT_PAGE_SIZE;
  return { token, max };
}

/** `OwnerAccount`: only this account owns anything here (no cross-account sharing). */
export function ownedHere(reg: Registry, r: Input): boolean {
  const owner = r.str('OwnerAccount', { min: 12, max: 12 });
  return owner === undefined || owner === reg.accountId;
}

// ---------------------------------------------------------------- list filters

const FILTER_CONDITIONS = ['EQ', 'IN', 'BETWEEN', 'BEGINS_WITH'] as const;
const RESOURCE_OWNERS = ['SELF', 'OTHER_ACCOUNTS'] as const;
type FilterCondition = (typeof FILTER_CONDITIONS)[number];

/** Reads `Filters` (ANDed): each has Name*, Values* (1..255 chars each), Condition (default EQ). */
export function readFilters<N extends string, T>(
  r: Input,
  names: readonly N[],
  build: (name: N, condition: FilterCondition, values: string[], path: string) => (item: T) => boolean,
): ((item: T) => boolean)[] {
  return (
    r.list('Filters', {}, (v, path) => {
      const f = Input.element(v, path);
      const name = f.enumOf('Name', names, true);
      const values = f.list('Values', { required: true, min: 1 }, (x, p) => checkStr(p, x, { min: 1, max: 255 }))!;
      const condition = f.enumOf('Condition', FILTER_CONDITIONS) ?? 'EQ';
      return build(name, condition, values, path);
    }) ?? []
  );
}

export function oneValue(values: string[], path: string): void {
  if (values.length !== 1) throw invalidInput(`${path}.Values: this condition takes exactly one value`);
}

/** RESOURCE_OWNER: SELF is everything here; OTHER_ACCOUNTS is nothing (no cross-account sharing). */
export function ownerFilter(condition: FilterCondition, values: string[], path: string): () => boolean {
  if (condition !== 'EQ') throw invalidInput(`${path}.Condition: RESOURCE_OWNER supports only EQ`);
  oneValue(values, path);
  const v = checkEnum(`${path}.Values[0]`, values[0], RESOURCE_OWNERS);
  return () => v === 'SELF';
}
