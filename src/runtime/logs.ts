import { StringDecoder } from 'node:string_decoder';
import type { LogLine } from './runtime.ts';

/** Lines kept per task, all containers together: enough to see why a task died, bounded memory (~1000 × 4 KiB worst case). */
export const TASK_LOG_LINES = 1000;
/** Longer lines are cut: one runaway line (a binary dump) must not eat the buffer. */
export const LOG_LINE_MAX_CHARS = 4096;

/** A fixed-size ring of log lines, oldest overwritten first. */
export class LogRing {
  readonly #lines: (LogLine | undefined)[];
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number = TASK_LOG_LINES) {
    this.#lines = new Array(capacity);
  }

  push(line: LogLine): void {
    this.#lines[this.#next] = line;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Oldest first; optionally only one container's lines. */
  lines(container?: string): LogLine[] {
    const out: LogLine[] = [];
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let i = 0; i < this.#size; i++) {
      const l = this.#lines[(start + i) % this.capacity]!;
      if (container === undefined || l.container === container) out.push(l);
    }
    return out;
  }
}

/**
 * Splits a byte stream into lines for a LogRing. Keeps the unfinished tail between chunks (at most
 * LOG_LINE_MAX_CHARS, so a stream without newlines cannot grow it) and flushes it at the end.
 */
export class LineSplitter {
  #tail = '';
  // A multi-byte character may be split across chunks: decode statefully.
  readonly #decoder = new StringDecoder('utf8');

  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer | string): void {
    const text = this.#tail + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    const parts = text.split('\n');
    this.#tail = parts.pop() ?? '';
    for (const p of parts) this.emit(cut(p.endsWith('\r') ? p.slice(0, -1) : p));
    // A line without a newline in sight is emitted in LOG_LINE_MAX_CHARS pieces.
    while (this.#tail.length > LOG_LINE_MAX_CHARS) {
      this.emit(this.#tail.slice(0, LOG_LINE_MAX_CHARS));
      this.#tail = this.#tail.slice(LOG_LINE_MAX_CHARS);
    }
  }

  end(): void {
    this.#tail += this.#decoder.end();
    if (this.#tail !== '') this.emit(cut(this.#tail));
    this.#tail = '';
  }
}

function cut(line: string): string {
  return line.length > LOG_LINE_MAX_CHARS ? `${line.slice(0, LOG_LINE_MAX_CHARS)}…` : line;
}
