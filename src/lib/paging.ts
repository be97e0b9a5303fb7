/**
 * The one paging cut every list operation shares (Cloud Map and ECS): each API keeps its own
 * opaque token format and page-size rules, and asks this for the page after a key.
 */

/**
 * One page of `items` (already in `keyOf` order, compared by code unit): the items whose key is
 * greater than `after`, at most `max`, and the key of the last one when more remain (to put in
 * the next token).
 */
export function pageAfter<T>(items: readonly T[], keyOf: (item: T) => string, after: string | undefined, max: number): { items: T[]; lastKey?: string } {
  let start = 0;
  if (after !== undefined) {
    // Binary search for the first key > after: items are sorted by key.
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keyOf(items[mid]!) <= after) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const slice = items.slice(start, start + max);
  const more = start + max < items.length;
  return more && slice.length > 0 ? { items: slice, lastKey: keyOf(slice[slice.length - 1]!) } : { items: slice };
}
