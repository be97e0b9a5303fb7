import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../lib/index.ts';
import type { RequestAuthenticator } from './server.ts';
import type { Credentials } from './sigv4.ts';

/**
 * Console sessions: a person signs in once with an access key id and secret (checked against
 * `--credentials`), and the browser then carries an HttpOnly, SameSite=Strict cookie instead of
 * signing each request. The token is stateless (`<key>.<expiry>.<nonce>.<mac>`, the MAC keyed by
 * a key derived from that access key's secret), so every server sharing the credentials accepts
 * it and changing the secret ends every session. Writes also need the CSRF token, which only a
 * same-origin script can read (`GET /console/session`), sent back in `X-Pharos-Csrf`.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html
 * (signed double-submit token, custom request header, SameSite)
 */

export const SESSION_COOKIE = 'pharos_session';
/** Header a console write carries its CSRF token in; a custom header also forces a CORS preflight cross-site. */
export const CSRF_HEADER = 'x-pharos-csrf';
/** A working day: long enough not to interrupt an incident, short enough that a forgotten browser stops working. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** Separates the session MAC key from any other use of the secret (SigV4 prefixes `AWS4`). */
const SESSION_KEY_LABEL = 'pharos-console-session-v1';
const NONCE_BYTES = 16;
/** Sign-outs remembered (until their token expires); bounds memory if a caller signs in and out in a loop. */
const MAX_REVOKED = 10_000;

/** A valid session: who signed in, until when, and the CSRF token that goes with it. */
export interface ConsoleSession {
  accessKeyId: string;
  expiresAt: number;
  csrf: string;
  token: string;
}

interface ConsoleSessionsOptions {
  credentials: readonly Credentials[];
  clock: Clock;
  ttlMs?: number;
}

/** Issues and checks console session tokens; as a `RequestAuthenticator` it admits API writes that carry a session and its CSRF token. */
export class ConsoleSessions implements RequestAuthenticator {
  private readonly keys = new Map<string, { secretHash: Buffer; macKey: Buffer }>();
  private readonly revoked = new Map<string, number>();
  private readonly clock: Clock;
  private readonly ttlMs: number;

  constructor(options: ConsoleSessionsOptions) {
    for (const c of options.credentials) {
      this.keys.set(c.accessKeyId, {
        secretHash: hash('sha256', c.secretAccessKey, 'buffer'),
        macKey: createHmac('sha256', c.secretAccessKey).update(SESSION_KEY_LABEL).digest(),
      });
    }
    this.clock = options.clock;
    this.ttlMs = options.ttlMs ?? SESSION_TTL_MS;
  }

  /** Checks the key pair (in constant time for a known key) and issues a session, or undefined. */
  signIn(accessKeyId: string, secretAccessKey: string): ConsoleSession | undefined {
    const key = this.keys.get(accessKeyId);
    // Hashing first makes the comparison length-independent; an unknown key costs the same hash.
    const given = hash('sha256', secretAccessKey, 'buffer');
    if (!key || !timingSafeEqual(given, key.secretHash)) return undefined;
    const expiresAt = this.clock.now() + this.ttlMs;
    const body = `${Buffer.from(accessKeyId).toString('base64url')}.${expiresAt}.${randomBytes(NONCE_BYTES).toString('base64url')}`;
    const token = `${body}.${mac(key.macKey, body)}`;
    return { accessKeyId, expiresAt, token, csrf: mac(key.macKey, `csrf.${token}`) };
  }

  /** The session a `Cookie` header carries, if its token is genuine, unexpired and not signed out. */
  fromCookie(cookieHeader: string | undefined): ConsoleSession | undefined {
    const token = readCookie(cookieHeader, SESSION_COOKIE);
    if (token === undefined) return undefined;
    const parts = token.split('.');
    if (parts.length !== 4) return undefined;
    const [encodedKey, expiry, , given] = parts as [string, string, string, string];
    const accessKeyId = Buffer.from(encodedKey, 'base64url').toString();
    const key = this.keys.get(accessKeyId);
    if (!key) return undefined;
    const expected = mac(key.macKey, token.slice(0, token.lastIndexOf('.')));
    if (!equalText(expected, given)) return undefined;
    const expiresAt = Number(expiry);
    if (!(expiresAt > this.clock.now()) || this.revoked.has(token)) return undefined;
    return { accessKeyId, expiresAt, token, csrf: mac(key.macKey, `csrf.${token}`) };
  }

  /** Ends a session before its expiry (on this server; others accept the token until it expires). */
  revoke(session: ConsoleSession): void {
    const now = this.clock.now();
    if (this.revoked.size >= MAX_REVOKED) {
      for (const [token, expiresAt] of this.revoked) if (expiresAt <= now) this.revoked.delete(token);
      if (this.revoked.size >= MAX_REVOKED) this.revoked.delete(this.revoked.keys().next().value!);
    }
    this.revoked.set(session.token, session.expiresAt);
  }

  /** A request with a valid session cookie and that session's CSRF token in `X-Pharos-Csrf`. */
  accepts(req: IncomingMessage): boolean {
    const session = this.fromCookie(req.headers.cookie);
    const csrf = req.headers[CSRF_HEADER];
    return session !== undefined && typeof csrf === 'string' && equalText(session.csrf, csrf);
  }

  /** `Set-Cookie` value for a new session (`Secure` when the request came over TLS). */
  cookie(session: ConsoleSession, secure: boolean): string {
    const maxAge = Math.max(0, Math.floor((session.expiresAt - this.clock.now()) / 1000));
    return `${SESSION_COOKIE}=${session.token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
  }

  /** `Set-Cookie` value that removes the session cookie. */
  clearCookie(secure: boolean): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
  }
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of one cookie in a `Cookie` header (RFC 6265 `name=value; name=value`). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
