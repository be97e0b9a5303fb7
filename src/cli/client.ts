import { signRequest } from '../agent/index.ts';
import { credentialsFromEnv } from './agent.ts';

/**
 * What the client commands (`pharos logs`, `pharos cluster`) share: the server they ask
 * (`--server`, env `PHAROS_SERVER`) and SigV4 signatures from the AWS clients' variables.
 */
type Env = Readonly<Record<string, string | undefined>>;

/** The server a client command asks when neither `--server` nor `PHAROS_SERVER` names one: `pharos server`'s default API address. */
export const DEFAULT_SERVER = 'http://127.0.0.1:7700';

/** The region a signature is scoped to when the environment names none; the server accepts any. */
const DEFAULT_SIGNING_REGION = 'us-east-1';

/** SigV4 headers for the request when the environment holds AWS credentials; none otherwise. */
export function signedHeaders(req: { method: string; url: URL; headers: Record<string, string>; body: string }, service: string, env: Env): Record<string, string> {
  const credentials = credentialsFromEnv(env);
  if (!credentials) return {};
  const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || DEFAULT_SIGNING_REGION;
  return signRequest(req, credentials, region, service, Date.now());
}

/** What to do about a refused request: the server wants a signature and none was sent. */
export function refusalHint(body: string, env: Env): string {
  if (!/MissingAuthenticationToken/.test(body) || credentialsFromEnv(env)) return '';
  return ` (the server authenticates requests: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to one of its --credentials)`;
}
