import type { IncomingMessage } from 'node:http';

/**
 * Collects a request body of at most `maxBytes`: `onBody` with it at the end, or `onTooLarge`
 * once, as soon as it grows past the limit (the rest is ignored). A client that goes away
 * mid-body gets no answer.
 */
export function readBody(req: IncomingMessage, maxBytes: number, onBody: (body: Buffer) => void, onTooLarge: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let rejected = false;
  req.on('data', (chunk: Buffer) => {
    if (rejected) return;
    size += chunk.length;
    if (size > maxBytes) {
      rejected = true;
      onTooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!rejected) onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
  req.on('error', () => undefined);
}
