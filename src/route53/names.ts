/**
 * Names as Route 53 writes and orders them: absolute with the final dot, characters outside
 * `[a-z0-9-_.]` as `\ooo` octal escapes, sorted by their labels reversed (`local.demo.www`).
 */

const PLAIN = /^[a-z0-9_.-]*$/;

/** `www.demo.local` (or labels) → `www.demo.local.`, lowercase, escaped. */
export function presentName(name: string | readonly string[]): string {
  const text = (typeof name === 'string' ? name : name.join('.')).toLowerCase();
  const escaped = PLAIN.test(text) ? text : text.replace(/[^a-z0-9_.-]/g, (c) => '\\' + (c.charCodeAt(0) & 0xff).toString(8).padStart(3, '0'));
  return escaped.endsWith('.') ? escaped : escaped + '.';
}

/** Undoes `presentName`: `\052` → `*`, lowercase, without the final dot. */
export function parseName(text: string): string {
  const unescaped = text.replace(/\\(\d{3})/g, (_, d: string) => String.fromCharCode(parseInt(d, 8)));
  return unescaped.toLowerCase().replace(/\.$/, '');
}

/** Route 53's order: labels compared from the root down, then shorter first. */
export function compareNames(a: string, b: string): number {
  const la = a.split('.').reverse();
  const lb = b.split('.').reverse();
  for (let i = 0; i < Math.min(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return la[i]! < lb[i]! ? -1 : 1;
  }
  return la.length - lb.length;
}
