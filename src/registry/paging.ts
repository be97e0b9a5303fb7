import { pageAfter, randomString } from '../lib/index.ts';
import { invalidInput } from './errors.ts';

/** Page size when `MaxResults` is absent, for every paged list operation (docs/compatibility.md#pagination). */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest allowed `MaxResults` for the paged list operations. */
export const MAX_PAGE_SIZE = 100;

/**
 * Opaque `NextToken`s: base64url of `{k: list kind, a: sort key of the last item returned, n: nonce}`.
 * The nonce makes every token different, because botocore stops with an error when a server
 * returns the same token twice in a row (docs/compatibility.md#pagination). The kind keeps a token of one list from
 * being replayed against another.
 */
function encodeToken(kind: string, after: string): string {
  return Buffer.from(JSON.stringify({ k: kind, a: after, n: randomString(8) })).toString('base64url');
}

function decodeToken(kind: string, token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidInput('NextToken: is not a token this server issued');
  }
  const t = parsed as { k?: unknown; a?: unknown };
  if (!t || typeof t !== 'object' || t.k !== kind || typeof t.a !== 'string') {
    throw invalidInput('NextToken: is not a token this server issued for this operation');
  }
  return t.a;
}

/**
 * One page of `items` (already in key order): those whose key is greater than the token's, at most
 * `max`, plus the next token when more remain.
 */
export function page<T>(kind: string, items: T[], keyOf: (item: T) => string, token: string | undefined, max: number): { items: T[]; nextToken?: string } {
  const p = pageAfter(items, keyOf, decodeToken(kind, token), max);
  return p.lastKey !== undefined ? { items: p.items, nextToken: encodeToken(kind, p.lastKey) } : { items: p.items };
}

/** Compares strings by code unit, the order `page` expects. */
export const byKey = <T>(keyOf: (item: T) => string) => (a: T, b: T): number => {
  const ka = keyOf(a);
  const kb = keyOf(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
