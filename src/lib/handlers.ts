/**
 * Binds a handler table (`{ Operation: (ctx, input) => … }`, checked by the compiler against the
 * operation list) to its context, once per context: each bound handler reads the untrusted input
 * with `read` (which throws the domain's input error) and always answers with a promise, so a
 * synchronous throw becomes a rejection.
 */
export function handlerBinder<C extends object, I, K extends string, O>(
  table: Readonly<Record<K, (ctx: C, input: I) => Promise<O>>>,
  read: (ctx: C, input: unknown) => I,
): (ctx: C) => { readonly [P in K]: (input: unknown) => Promise<O> } {
  const bound = new WeakMap<C, Record<K, (input: unknown) => Promise<O>>>();
  return (ctx) => {
    let out = bound.get(ctx);
    if (!out) {
      out = {} as Record<K, (input: unknown) => Promise<O>>;
      for (const op of Object.keys(table) as K[]) {
        const handler = table[op];
        out[op] = (input) => {
          try {
            return handler(ctx, read(ctx, input));
          } catch (err) {
            return Promise.reject(err);
          }
        };
      }
      bound.set(ctx, out);
    }
    return out;
  };
}
