import { signRequest } from '../agent/index.ts';
import { credentialsFromEnv } from './agent.ts';

/**
 * What the client commands (`pharos logs`, `pharos cluster`) share: the server they ask
 * (`--server`, env `PHAROS_SERVER`) and SigV4 signatures from the AWS clients' variables.
 */
type Env = Readonly<Record<string, string | undefined>>;

/** The server a client command asks when neither `--server` nor `PHAROS_SERVER` names one: `pharos server`'s default API address. */
export const DEFAULT_SERVER = 'http://127.0.0.1:7700';

/** The SigV4 service `/cluster` requests are signed for (the API's own, as the CLI signs Cloud Map). */
const CLUSTER_SIGNING_SERVICE = 'servicediscovery';
/** A status request that takes longer than this means the server is not answering. */
const CLUSTER_REQUEST_TIMEOUT_MS = 5000;

/** `GET /cluster`, as the API serves it. */
export interface ClusterStatus {
  store: string;
  self: string;
  leader?: { id: string; term: number };
  roles: Record<string, string | undefined>;
  members: { id: string; apiUrl: string; dnsAddress?: string; version: string; heartbeatAt: number }[];
  revision: number;
}

/** `GET <server>/cluster`, signed when the environment holds AWS credentials. */
export function fetchClusterStatus(server: string, env: Env): Promise<Response> {
  const url = new URL('/cluster', server);
  return fetch(url, { headers: signedHeaders({ method: 'GET', url, headers: {}, body: '' }, CLUSTER_SIGNING_SERVICE, env), signal: AbortSignal.timeout(CLUSTER_REQUEST_TIMEOUT_MS) });
}

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
