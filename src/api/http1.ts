/**
 * A deliberately narrow HTTP/1.1 request-head reader for the API's fast path (fastpath.ts). It
 * recognises only the request every AWS SDK and CLI sends to a JSON 1.1 API:
 *
 *   POST / HTTP/1.1 CRLF, then `name: value` CRLF lines, each name once, a `Content-Length` of
 *   plain digits, no `Transfer-Encoding`, `Expect`, `Upgrade` or `Cookie`, `Connection` absent or
 *   exactly `keep-alive` / `close`, a `Host`, then CRLF.
 *
 * Anything else, however legal, is FOREIGN: the connection goes to node:http, which answers it as
 * it always did (or refuses it). So this reader never has to decide what an odd request means,
 * only whether it is the common one; request smuggling needs two readers to disagree on framing,
 * and for every request this one frames, the framing is one unambiguous Content-Length.
 * @see https://www.rfc-editor.org/rfc/rfc9112 (message syntax: request-line, field-line, framing)
 */

/** The parsed head of a request the fast path may answer. */
export interface RequestHead {
  /** The only request line the fast path answers: `POST / HTTP/1.1`. */
  readonly method: 'POST';
  readonly url: '/';
  /** Lower-case name → value (each name occurs once). */
  headers: Record<string, string>;
  /** [name, value, ...], names as sent (node's `rawHeaders`: SigV4 signs what arrived). */
  readonly rawHeaders: string[];
  /** Offset of the first body byte in the buffer. */
  bodyStart: number;
  bodyLength: number;
  /** False when the client sent `Connection: close`. */
  keepAlive: boolean;
}

/**
 * A head as parseHead returns it. The names as sent are decoded from the buffer only when
 * `rawHeaders` is read (SigV4 reads them; an unsigned request never does): one string less per header.
 */
class ParsedHead implements RequestHead {
  readonly method = 'POST';
  readonly url = '/';
  private raw?: string[];

  constructor(
    readonly headers: Record<string, string>,
    private readonly buf: Buffer,
    /** Per header: where its name starts and ends in `buf`. */
    private readonly nameBounds: number[],
    readonly bodyStart: number,
    readonly bodyLength: number,
    readonly keepAlive: boolean,
  ) {}

  get rawHeaders(): string[] {
    if (this.raw === undefined) {
      const raw: string[] = [];
      const b = this.nameBounds;
      for (let i = 0; i < b.length; i += 2) {
        const name = this.buf.toString('latin1', b[i], b[i + 1]);
        raw.push(name, this.headers[name.toLowerCase()]!);
      }
      this.raw = raw;
    }
    return this.raw;
  }
}

/** The head has not fully arrived yet (and is within the size limit). */
export const INCOMPLETE = 0;
/** Not the common request: hand the connection to node:http. */
export const FOREIGN = 1;

const REQUEST_LINE = Buffer.from('POST / HTTP/1.1\r\n', 'latin1');
const CR = 13;
const LF = 10;
const COLON = 58;
const SP = 32;
const HTAB = 9;
/** Headers that change framing or meaning in ways only node:http handles (or that carry a console session). */
const FOREIGN_HEADERS = new Set(['transfer-encoding', 'expect', 'upgrade', 'cookie', 'te', 'trailer', 'http2-settings']);
/** More header lines than any SDK sends (~10); node keeps 2,000. */
const MAX_HEADER_LINES = 64;
/** Digits of a Content-Length worth reading; the caller's body limit is far below 10^9. */
const MAX_LENGTH_DIGITS = 9;

/** RFC 9110 tchar: the bytes a field name may contain. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
/** Field value bytes accepted: visible ASCII, space and tab (obs-text and controls are foreign). */
const VCHAR = new Uint8Array(256);
for (let c = 0x20; c <= 0x7e; c++) VCHAR[c] = 1;
VCHAR[HTAB] = 1;

/**
 * Header names SDKs and the CLI send, lower case, by length. A name that matches one (in any case)
 * is read as that constant instead of a new string lower-cased: no allocation, and V8 keeps the
 * constant's hash for the lookups that follow.
 */
const KNOWN_NAMES: (string[] | undefined)[] = [];
for (const name of [
  'host',
  'accept',
  'origin',
  'connection',
  'user-agent',
  'x-amz-date',
  'content-type',
  'x-amz-target',
  'authorization',
  'content-length',
  'accept-encoding',
  'amz-sdk-request',
  'x-amz-user-agent',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'amz-sdk-invocation-id',
]) {
  (KNOWN_NAMES[name.length] ??= []).push(name);
}

/**
 * The lower-case name of the field name `buf[start, end)` (already checked to be tchar bytes).
 * `| 0x20` lower-cases an ASCII letter and leaves every other tchar byte as it is ('-', digits).
 */
function fieldName(buf: Buffer, start: number, end: number): string {
  const candidates = KNOWN_NAMES[end - start];
  if (candidates !== undefined) {
    for (const known of candidates) {
      let i = 0;
      while (i < known.length && (buf[start + i]! | 0x20) === known.charCodeAt(i)) i++;
      if (i === known.length) return known;
    }
  }
  return buf.toString('latin1', start, end).toLowerCase();
}

/**
 * Reads the request head starting at `start` in `buf`. Returns the head, INCOMPLETE when more
 * bytes are needed (and the head so far is no longer than `maxHeadBytes`), or FOREIGN.
 * `maxBodyBytes`: a longer declared body is foreign (node:http answers 413 as before).
 */
export function parseHead(buf: Buffer, start: number, maxHeadBytes: number, maxBodyBytes: number): RequestHead | typeof INCOMPLETE | typeof FOREIGN {
  const available = buf.length - start;
  // The request line first: a prefix of it is incomplete, anything else is foreign.
  const lineLength = REQUEST_LINE.length;
  const n = Math.min(available, lineLength);
  for (let i = 0; i < n; i++) if (buf[start + i] !== REQUEST_LINE[i]) return FOREIGN;
  if (available < lineLength) return INCOMPLETE;
  const end = Math.min(buf.length, start + maxHeadBytes);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const nameBounds: number[] = [];
  let contentLength = -1;
  let keepAlive = true;
  let host = false;
  let p = start + lineLength;
  const more = () => (end >= start + maxHeadBytes ? FOREIGN : INCOMPLETE);
  for (let lines = 0; ; lines++) {
    if (p >= end) return more();
    if (buf[p] === CR) {
      if (p + 1 >= end) return more();
      if (buf[p + 1] !== LF) return FOREIGN;
      if (contentLength < 0 || !host) return FOREIGN;
      return new ParsedHead(headers, buf, nameBounds, p + 2, contentLength, keepAlive);
    }
    if (lines >= MAX_HEADER_LINES) return FOREIGN;
    // field-name ":" OWS field-value OWS CRLF; no space before the colon, no obs-fold.
    const nameStart = p;
    while (p < end && TCHAR[buf[p]!] === 1) p++;
    if (p >= end) return more();
    if (buf[p] !== COLON || p === nameStart) return FOREIGN;
    const nameEnd = p++;
    while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
    const valueStart = p;
    while (p < end && VCHAR[buf[p]!] === 1) p++;
    if (p >= end) return more();
    if (buf[p] !== CR) return FOREIGN;
    if (p + 1 >= end) return more();
    if (buf[p + 1] !== LF) return FOREIGN;
    let valueEnd = p;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    p += 2;
    const name = fieldName(buf, nameStart, nameEnd);
    const value = buf.toString('latin1', valueStart, valueEnd);
    if (name in headers || FOREIGN_HEADERS.has(name)) return FOREIGN;
    if (name === 'content-length') {
      if (value.length === 0 || value.length > MAX_LENGTH_DIGITS || !/^[0-9]+$/.test(value)) return FOREIGN;
      contentLength = Number(value);
      if (contentLength > maxBodyBytes) return FOREIGN;
    } else if (name === 'connection') {
      const v = value.toLowerCase();
      if (v === 'close') keepAlive = false;
      else if (v !== 'keep-alive') return FOREIGN;
    } else if (name === 'host') {
      host = true;
    }
    headers[name] = value;
    nameBounds.push(nameStart, nameEnd);
  }
}
