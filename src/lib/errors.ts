/**
 * The base error of every Pharos module. `code` is stable and is what boundaries map
 * (API → `__type` + status, DNS → rcode); the message is for people.
 * @see undici lib/core/errors.js for the shape.
 */
export class PharosError extends Error {
  readonly code: string;
  /** Extra members that a boundary may copy onto its wire error (e.g. `NamespaceId`). */
  readonly fields: Record<string, unknown>;

  constructor(code: string, message: string, options: { cause?: unknown; fields?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.fields = options.fields ?? {};
  }
}

export function isPharosError(err: unknown, code?: string): err is PharosError {
  return err instanceof PharosError && (code === undefined || err.code === code);
}
