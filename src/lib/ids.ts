import { createHash, randomBytes, randomFillSync, randomUUID } from 'node:crypto';

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Random bytes are drawn from this pool, refilled from the CSPRNG when used up: one
 * `randomBytes` call per id cost ~10 µs of a ~300 µs RegisterInstance, ten times a pool draw.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;
const chars = Buffer.alloc(POOL_BYTES);

/** `n` random characters from `alphabet` (rejection-free: alphabets here are ≤ 36 symbols). */
export function randomString(n: number, alphabet = LOWER_ALNUM): string {
  if (n > POOL_BYTES) throw new RangeError(`randomString: at most ${POOL_BYTES} characters`);
  if (poolOffset + n > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  // Characters written into a buffer and decoded once: appending them one by one made a chain of
  // strings that V8 then flattens (~1 % of a registration's CPU for its operation id).
  for (let i = 0; i < n; i++) chars[i] = alphabet.charCodeAt(pool[poolOffset + i]! % alphabet.length);
  poolOffset += n;
  return chars.toString('latin1', 0, n);
}

/** `ns-` + 16 lower-case alphanumerics, as Cloud Map's documentation examples. */
export const newNamespaceId = (): string => `ns-${randomString(16)}`;
/** `srv-` + 16 lower-case alphanumerics. */
export const newServiceId = (): string => `srv-${randomString(16)}`;
/** Base-36 digits of the millisecond clock that lead an operation id (enough until the year 5188). */
const OP_ID_TIME_CHARS = 9;
/** The millisecond the last operation id was made in, and its digits. */
let idClockMs = -1;
let idClockDigits = '';

/**
 * 32 + `-` + 8 lower-case alphanumerics (docs/compatibility.md#identifiers). The first 9 are the
 * wall clock in base 36, the rest random (160 bits): ids made one after another sort together, so
 * a registration's operation record lands on the store index's newest page instead of a random
 * one (a random id dirtied one more 4 KiB page per registration in each group commit).
 */
export function newOperationId(): string {
  const now = Date.now();
  // The clock's digits are made once per millisecond: a base-36 conversion of a number this large
  // is a slow runtime call, and several registrations share each millisecond under load.
  if (now !== idClockMs) {
    idClockMs = now;
    idClockDigits = now.toString(36).padStart(OP_ID_TIME_CHARS, '0');
  }
  return `${idClockDigits}${randomString(32 - OP_ID_TIME_CHARS)}-${randomString(8)}`;
}
/**
 * An operation id of the same shape derived from `seed` (a request's idempotency token): two
 * servers given the same token pick the same id, so the store's create of the operation record
 * lets one of them win.
 */
export function operationIdFor(seed: string): string {
  const digest = createHash('sha512').update(seed).digest();
  let out = '';
  for (let i = 0; i < 40; i++) out += LOWER_ALNUM[digest[i]! % LOWER_ALNUM.length];
  return `${out.slice(0, 32)}-${out.slice(32)}`;
}
/** `Z` + 20 upper-case alphanumerics, like a Route 53 hosted zone id. */
export const newHostedZoneId = (): string => `Z${randomString(20, UPPER_ALNUM)}`;
/** 32 lower-case hex characters, the ECS task id format. */
export const newTaskId = (): string => randomBytes(16).toString('hex');
export const newRequestId = (): string => randomUUID();

export interface ArnParts {
  service: string;
  region: string;
  account: string;
  resource: string;
}

export function formatArn(p: ArnParts): string {
  return `arn:aws:${p.service}:${p.region}:${p.account}:${p.resource}`;
}

/** Parses `arn:aws:<service>:<region>:<account>:<resource>`; undefined when it is not an ARN. */
export function parseArn(arn: string): ArnParts | undefined {
  const m = /^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12}|):(.+)$/.exec(arn);
  if (!m) return undefined;
  return { service: m[1]!, region: m[2]!, account: m[3]!, resource: m[4]! };
}
