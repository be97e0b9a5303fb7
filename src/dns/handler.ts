import type { AnswerEntry } from './answer.ts';
import type { ParsedQuery } from './wire.ts';

/** A query as handlers see it: the parsed question plus the raw message. */
export interface DnsRequest extends ParsedQuery {
  /** The message as received; valid only during `serve` (batched UDP reuses its bytes): copy what a later step needs. */
  msg: Buffer;
  transport: 'udp' | 'tcp';
}

/** A handler's answer: a (cached) entry the server encodes, or a complete raw reply (forwarded). */
export type DnsReply = { entry: AnswerEntry } | { raw: Buffer };

/**
 * One link of the handler chain (CoreDNS plugin.Handler): answer what is in your zones, return
 * undefined to hand the query on. Failures are thrown as the sentinel errors of errors.ts.
 */
export interface DnsHandler {
  readonly name: string;
  serve(req: DnsRequest): DnsReply | Promise<DnsReply> | undefined;
  close?(): void | Promise<void>;
}
