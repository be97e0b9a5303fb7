import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../lib/index.ts';
import { BoundaryError, INCOMPLETE_SIGNATURE, INVALID_SIGNATURE, MISSING_AUTHENTICATION_TOKEN, UNRECOGNIZED_CLIENT } from './errors.ts';
import { CLOUD_MAP_SIGNING_NAME, ECS_SIGNING_NAME } from './targets.ts';

/**
 * AWS Signature Version 4, checked on the server side: rebuild the canonical request from what
 * arrived, sign it with the configured secret and compare. Only the `Authorization` header form
 * (what every SDK and CLI sends for JSON APIs); presigned query strings are not accepted.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 * @see docs/compatibility.md#wire-protocol (the signed request) and #the-data--host-prefix (the `data-` host prefix: the signature
 * covers the Host header exactly as it arrived)
 */

/** An access key pair the server accepts, as `--credentials <accessKeyId:secretAccessKey>` gives it. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Who signed a request that passed `verify`. */
export interface VerifiedCaller {
  accessKeyId: string;
  region: string;
  service: string;
}

/** What `verify` reads from a request: node's `IncomingMessage` fields and the whole body. */
export interface SignedRequest {
  method: string;
  /** The request target as it arrived: path and query string. */
  url: string;
  /** `IncomingMessage.rawHeaders`: [name, value, name, value, ...], names as sent. */
  rawHeaders: readonly string[];
  body: Buffer;
}

const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS rejects a request whose `X-Amz-Date` is more than 15 minutes away from its own clock, either way. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/**
 * Derived signing keys kept. A key is per (access key, day, region, service), so a handful are
 * live at any time; the bound only stops a caller who cycles through made-up regions from growing
 * the map (it is emptied when full).
 */
const SIGNING_KEY_CACHE_SIZE = 1024;
/** Signing names of the two APIs served (the `signingName` of each service model). */
export const SIGNING_SERVICES: readonly string[] = [CLOUD_MAP_SIGNING_NAME, ECS_SIGNING_NAME];

/** The message AWS gives for a signature that does not match; tools and people search for it. */
export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const X_AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SIGNED_HEADERS = /^[a-z0-9-]+(?:;[a-z0-9-]+)*$/;
const SIGNATURE = /^[0-9a-fA-F]{64}$/;
const WHITESPACE_RUN = /\s+/g;
/** Cheap test first: almost no header value has a whitespace run to collapse. */
const NEEDS_COLLAPSE = /\s\s|[\t\n\r\f\v]/;
/** What every SDK and CLI sends; anything else goes through the general parser. */
const AUTHORIZATION_USUAL = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request, ?SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), ?Signature=([^\s,]+)$/;

interface SigV4Options {
  /** Accepted key pairs; at least one (without credentials the server does not verify at all). */
  credentials: readonly Credentials[];
  /** `X-Amz-Date` is compared with this clock's time. */
  clock: Clock;
  /** Accepted credential-scope services when the caller does not name one. Default `SIGNING_SERVICES`. */
  services?: readonly string[];
}

interface Authorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  /** `date/region/service/aws4_request`. */
  scope: string;
  /** As sent: `content-type;host;x-amz-date;x-amz-target`. */
  signedHeaders: string;
  signature: string;
}

/** Checks SigV4 `Authorization` headers against a fixed set of access keys. */
export class SigV4Verifier {
  private readonly secrets = new Map<string, string>();
  private readonly keys = new Map<string, FixedKeyHmac>();
  private readonly clock: Clock;
  private readonly services: readonly string[];

  constructor(options: SigV4Options) {
    if (options.credentials.length === 0) throw new TypeError('SigV4Verifier needs at least one access key');
    for (const c of options.credentials) this.secrets.set(c.accessKeyId, c.secretAccessKey);
    this.clock = options.clock;
    this.services = options.services ?? SIGNING_SERVICES;
  }

  /**
   * Verifies one request, or throws a `BoundaryError` with the AWS code: no `Authorization` →
   * `MissingAuthenticationTokenException`; unparseable → `IncompleteSignatureException`; unknown
   * access key → `UnrecognizedClientException`; wrong service, stale or future `X-Amz-Date`, or
   * a signature that does not match → `InvalidSignatureException`.
   * @param service the signing name the target requires (e.g. `ecs`); any of `services` when absent.
   */
  verify(req: SignedRequest, service?: string): VerifiedCaller {
    const headers = collectHeaders(req.rawHeaders);
    const header = headers.get('authorization');
    if (header === undefined) {
      throw new BoundaryError(
        MISSING_AUTHENTICATION_TOKEN,
        'Missing Authentication Token: this server checks AWS Signature Version 4; give the client an access key configured with --credentials.',
      );
    }
    const auth = parseAuthorization(header);
    const amzDate = headers.get('x-amz-date');
    if (amzDate === undefined) throw new BoundaryError(INCOMPLETE_SIGNATURE, "Authorization header requires existence of an 'X-Amz-Date' header.");
    const signedAt = parseAmzDate(amzDate);
    const signed = auth.signedHeaders.split(';');
    if (!signed.includes('host')) throw new BoundaryError(INCOMPLETE_SIGNATURE, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
    if (!signed.includes('x-amz-date')) throw new BoundaryError(INCOMPLETE_SIGNATURE, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
    // Dispatch reads X-Amz-Target alone: an unsigned one would let a captured request be replayed as another operation.
    if (headers.has('x-amz-target') && !signed.includes('x-amz-target')) {
      throw new BoundaryError(INCOMPLETE_SIGNATURE, "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.");
    }
    if (auth.date !== amzDate.slice(0, 8)) {
      throw new BoundaryError(
        INVALID_SIGNATURE,
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
      );
    }
    if (service !== undefined ? auth.service !== service : !this.services.includes(auth.service)) {
      const wanted = service !== undefined ? `'${service}'` : this.services.map((s) => `'${s}'`).join(' or ');
      throw new BoundaryError(INVALID_SIGNATURE, `Credential should be scoped to correct service: ${wanted}.`);
    }
    const secret = this.secrets.get(auth.accessKeyId);
    if (secret === undefined) throw new BoundaryError(UNRECOGNIZED_CLIENT, 'The security token included in the request is invalid.');
    const now = this.clock.now();
    if (signedAt < now - MAX_CLOCK_SKEW_MS) {
      throw new BoundaryError(INVALID_SIGNATURE, `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - MAX_CLOCK_SKEW_MS)} (${formatAmzDate(now)} - 15 min.)`);
    }
    if (signedAt > now + MAX_CLOCK_SKEW_MS) {
      throw new BoundaryError(INVALID_SIGNATURE, `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + MAX_CLOCK_SKEW_MS)} (${formatAmzDate(now)} + 15 min.)`);
    }

    // The payload hash is always computed from the body that arrived: a signed
    // X-Amz-Content-Sha256 equal to it changes nothing; one that differs (a tampered body,
    // UNSIGNED-PAYLOAD) makes the signature mismatch, as JSON APIs sign their payloads.
    const payloadHash = hash('sha256', req.body);
    const canonical = canonicalRequest(req.method, req.url, headers, signed, auth.signedHeaders, payloadHash);
    const toSign = stringToSign(amzDate, auth.scope, canonical);
    const expected = this.signingKey(auth, secret).digest(toSign);
    const given = SIGNATURE.test(auth.signature) ? Buffer.from(auth.signature, 'hex') : undefined;
    if (given === undefined || !timingSafeEqual(expected, given)) {
      // As AWS JSON services do: show what was signed on this side, so a client can find the difference (no secret in it).
      throw new BoundaryError(
        INVALID_SIGNATURE,
        `${SIGNATURE_MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${toSign}'\n`,
      );
    }
    return { accessKeyId: auth.accessKeyId, region: auth.region, service: auth.service };
  }

  private signingKey(auth: Authorization, secret: string): FixedKeyHmac {
    const cacheKey = `${auth.accessKeyId}/${auth.scope}`;
    let key = this.keys.get(cacheKey);
    if (key === undefined) {
      key = new FixedKeyHmac(deriveSigningKey(secret, auth.date, auth.region, auth.service));
      if (this.keys.size >= SIGNING_KEY_CACHE_SIZE) this.keys.clear();
      this.keys.set(cacheKey, key);
    }
    return key;
  }
}

/** SHA-256's block size, to which HMAC pads its key (RFC 2104). */
const SHA256_BLOCK_BYTES = 64;
const SHA256_BYTES = 32;

/**
 * HMAC-SHA256 under one fixed key, written out as RFC 2104 defines it,
 * `H((K ^ opad) || H((K ^ ipad) || m))`, with both padded keys computed once. Signing a request
 * then costs two one-shot hashes; `createHmac` would import the key again every time, which is
 * most of its cost for a 150-byte string to sign. Checked against `createHmac` in the tests.
 */
export class FixedKeyHmac {
  private readonly innerPad = Buffer.alloc(SHA256_BLOCK_BYTES, 0x36);
  private readonly outerPad = Buffer.alloc(SHA256_BLOCK_BYTES, 0x5c);

  constructor(key: Buffer) {
    // Signing keys are SHA-256 outputs (32 bytes); a longer key would first have to be hashed.
    if (key.length > SHA256_BLOCK_BYTES) throw new RangeError('FixedKeyHmac takes keys of at most 64 bytes');
    for (let i = 0; i < key.length; i++) {
      this.innerPad[i]! ^= key[i]!;
      this.outerPad[i]! ^= key[i]!;
    }
  }

  /** HMAC-SHA256 of `message` (UTF-8). */
  digest(message: string): Buffer {
    const inner = Buffer.allocUnsafe(SHA256_BLOCK_BYTES + Buffer.byteLength(message, 'utf8'));
    this.innerPad.copy(inner, 0);
    inner.write(message, SHA256_BLOCK_BYTES, 'utf8');
    const outer = Buffer.allocUnsafe(SHA256_BLOCK_BYTES + SHA256_BYTES);
    this.outerPad.copy(outer, 0);
    hash('sha256', inner, 'buffer').copy(outer, SHA256_BLOCK_BYTES);
    return hash('sha256', outer, 'buffer');
  }
}

/** `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`. */
export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secret}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/** The four lines that are signed: algorithm, request date, credential scope, hash of the canonical request. */
function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${hash('sha256', canonical)}`;
}

/**
 * The canonical request: method, URI, query, the signed headers (lower-case name, value trimmed
 * with inner whitespace runs collapsed, duplicates joined with commas) in the order the client
 * listed them, the list itself, and the payload hash.
 */
function canonicalRequest(
  method: string,
  url: string,
  headers: ReadonlyMap<string, string>,
  signed: readonly string[],
  signedHeaders: string,
  payloadHash: string,
): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  let lines = '';
  for (const name of signed) {
    const value = headers.get(name) ?? '';
    lines += `${name}:${NEEDS_COLLAPSE.test(value) ? value.replace(WHITESPACE_RUN, ' ') : value}\n`;
  }
  return `${method}\n${canonicalUri(path)}\n${canonicalQuery(query)}\n${lines}\n${signedHeaders}\n${payloadHash}`;
}

/**
 * Header names lower-cased, values trimmed, repeated headers joined with `,` (SigV4's rule), from
 * the raw list so that nothing node merges or drops changes what is signed. Inner whitespace is
 * collapsed later, for the signed headers only.
 */
function collectHeaders(rawHeaders: readonly string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!.trim();
    const seen = headers.get(name);
    headers.set(name, seen === undefined ? value : `${seen},${value}`);
  }
  return headers;
}

/** Percent-encoding of SigV4: everything but `A-Z a-z 0-9 - _ . ~`, upper-case hex. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The path as the client signed it: each segment decoded, then encoded once (`/` for the JSON APIs). */
function canonicalUri(path: string): string {
  if (path === '/' || path === '') return '/';
  return path
    .split('/')
    .map((segment) => uriEncode(safeDecode(segment)))
    .join('/');
}

/** Parameters encoded and sorted by name, then value; an empty query is the empty string. */
function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    pairs.push([uriEncode(safeDecode(name)), uriEncode(safeDecode(value))]);
  }
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseAuthorization(header: string): Authorization {
  const m = AUTHORIZATION_USUAL.exec(header);
  if (m) {
    const [, accessKeyId, date, region, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
    return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request`, signedHeaders, signature };
  }
  if (!header.startsWith(`${SIGV4_ALGORITHM} `)) {
    throw new BoundaryError(INCOMPLETE_SIGNATURE, `Unsupported Authorization header: only ${SIGV4_ALGORITHM} (AWS Signature Version 4) is accepted.`);
  }
  const params = new Map<string, string>();
  for (const part of header.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((p) => !params.get(p));
  if (missing.length > 0) {
    throw new BoundaryError(INCOMPLETE_SIGNATURE, missing.map((p) => `Authorization header requires '${p}' parameter.`).join(' '));
  }
  const credential = params.get('Credential')!;
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!) || parts.some((p) => p === '')) {
    throw new BoundaryError(INCOMPLETE_SIGNATURE, `Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request, not '${credential}'.`);
  }
  const signedHeaders = params.get('SignedHeaders')!;
  if (!SIGNED_HEADERS.test(signedHeaders)) {
    throw new BoundaryError(INCOMPLETE_SIGNATURE, `SignedHeaders must be lower-case header names separated by ';', not '${signedHeaders}'.`);
  }
  const [accessKeyId, date, region, service] = parts as [string, string, string, string, string];
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request`, signedHeaders, signature: params.get('Signature')! };
}

let lastAmzDate = '';
let lastAmzDateMs = 0;

/** `20261125T094351Z` → epoch milliseconds (the last one is remembered: requests of one second share it). */
function parseAmzDate(text: string): number {
  if (text === lastAmzDate) return lastAmzDateMs;
  const m = X_AMZ_DATE.exec(text);
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : NaN;
  if (Number.isNaN(ms) || formatAmzDate(ms) !== text) {
    throw new BoundaryError(INCOMPLETE_SIGNATURE, `X-Amz-Date must be an ISO 8601 basic date and time in UTC like 20261125T094351Z, not '${text}'.`);
  }
  lastAmzDate = text;
  lastAmzDateMs = ms;
  return ms;
}

/** Epoch milliseconds → `20261125T094351Z`. */
function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
