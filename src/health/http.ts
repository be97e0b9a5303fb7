import { formatHostPort, type Clock } from '../lib/index.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { oneLine } from './probe.ts';
import { probeSocket, type Outcome } from './socket.ts';

export interface HttpProbeOptions {
  host: string;
  port: number;
  /** HTTPS: TLS without certificate verification, as Route 53 does. */
  tls?: boolean;
  /** `ResourcePath`; defaults to `/` (docs/compatibility.md#services). */
  path?: string;
  timeoutMs?: number;
  clock?: Clock;
}

/**
 * Most bytes read while looking for the end of the status line (and of 1xx interim heads). A real
 * server's status line is a few dozen bytes; anything longer is not HTTP.
 */
export const MAX_RESPONSE_HEAD_BYTES = 8192;

/** The user agent, so endpoint owners can tell probes from traffic (Route 53 sends its own). */
const PROBE_USER_AGENT = 'Pharos-Health-Check/1';

const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?:[ \t].*)?$/;

/**
 * HTTP/HTTPS check: healthy when the response status is 200–399 (Route 53). It writes one GET with
 * `Connection: close`, reads only up to the status line and hangs up: the body is never read, so a
 * huge or endless body costs nothing. A raw socket instead of `http.request` keeps a probe cheap
 * (no agent, no parser, no body stream) when thousands run every few seconds.
 */
export class HttpProbe implements Probe {
  readonly type: string;
  readonly target: string;
  private readonly request: Buffer;

  constructor(private readonly options: HttpProbeOptions) {
    this.type = options.tls ? 'HTTPS' : 'HTTP';
    const path = sanitizePath(options.path);
    this.target = `${options.host}:${options.port}${path}`;
    const hostHeader = formatHostPort(options);
    this.request = Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: ${PROBE_USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
      'latin1',
    );
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    let head = '';
    let closedBeforeStatus: Outcome = { ok: false, reason: 'connection closed before response', cause: 'protocol' };
    return probeSocket(
      this.options,
      {
        onConnect: (socket) => {
          socket.write(this.request);
          return undefined;
        },
        onData: (chunk) => {
          head += chunk.toString('latin1');
          for (;;) {
            const outcome = parseHead(head);
            if (outcome === 'more') {
              if (head.length > MAX_RESPONSE_HEAD_BYTES) return { ok: false, reason: 'invalid HTTP response: head too long', cause: 'protocol' };
              return undefined;
            }
            if (typeof outcome !== 'string') return outcome;
            // A 1xx interim response was consumed; look for the final status in what follows.
            head = outcome;
            closedBeforeStatus = { ok: false, reason: 'connection closed after interim response', cause: 'protocol' };
            if (head === '') return undefined;
          }
        },
        onEnd: () => closedBeforeStatus,
      },
      signal,
    );
  }
}

/** `more` = need more bytes; a string = the bytes after a complete 1xx head; else the final outcome. */
function parseHead(head: string): Outcome | 'more' | string {
  // Reject garbage as soon as the first bytes cannot start a status line.
  const prefix = head.slice(0, 5);
  if (!'HTTP/'.startsWith(prefix)) return { ok: false, reason: `invalid HTTP response: ${quote(head)}`, cause: 'protocol' };
  const eol = head.indexOf('\n');
  if (eol < 0) return 'more';
  const line = head.slice(0, eol).replace(/\r$/, '');
  const m = STATUS_LINE.exec(line);
  if (!m) return { ok: false, reason: `invalid HTTP response: ${quote(line)}`, cause: 'protocol' };
  const status = Number(m[1]);
  if (status >= 100 && status < 200) {
    const endOfHead = head.indexOf('\r\n\r\n');
    if (endOfHead < 0) return 'more';
    return head.slice(endOfHead + 4);
  }
  const ok = status >= 200 && status < 400;
  return { ok, reason: `HTTP ${status}`, cause: ok ? 'ok' : 'http_status' };
}

/** The first bytes of a bad response, printable, for the reason. */
function quote(text: string): string {
  return JSON.stringify(oneLine(text.slice(0, 40)));
}

/**
 * `ResourcePath` comes from API callers: it is made a safe request target (leading `/`, no spaces,
 * controls or CR/LF that could split the request) by percent-encoding anything outside visible ASCII.
 */
export function sanitizePath(path: string | undefined): string {
  let p = path === undefined || path === '' ? '/' : path;
  if (!p.startsWith('/')) p = `/${p}`;
  let out = '';
  for (const byte of Buffer.from(p, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
