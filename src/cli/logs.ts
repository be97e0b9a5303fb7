/**
 * `pharos logs <task>`: prints a task's captured stdout/stderr, through the ECS target's Pharos
 * extension `GetTaskLogs` (see src/orchestrator/README.md). A plain HTTP client of the API.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SERVER, fetchClusterStatus, refusalHint, signedHeaders, type ClusterStatus } from './client.ts';
import type { MainIo } from './main.ts';

/** The ECS `X-Amz-Target` prefix; GetTaskLogs is served next to the ECS operations. */
const TARGET = 'AmazonEC2ContainerServiceV20141113.GetTaskLogs';
/** The SigV4 service of the ECS target (as the AWS CLI signs `aws ecs`). */
const SIGNING_SERVICE = 'ecs';
/** A logs request that takes longer than this means the server is not answering. */
const REQUEST_TIMEOUT_MS = 10_000;

const LOGS_USAGE = `Usage: pharos logs [flags] <task id or ARN>

Prints the captured stdout/stderr lines of a task (the last 1000 lines per task are kept, by the
server that ran it, also for a while after the task stopped).

Flags:
  --server URL       Pharos API (env PHAROS_SERVER, default ${DEFAULT_SERVER}); with several
                     servers, any of them: the logs are asked of the leader, which runs tasks
  --endpoint URL     The same as --server (its older name; env PHAROS_ENDPOINT)
  --cluster NAME     Cluster name or ARN (default: default)
  --container NAME   Only this container's lines
  --limit N          Last N lines (1-1000, default 200)
  -h, --help         Show this help
With AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) set, the request is signed
(SigV4, for AWS_REGION or AWS_DEFAULT_REGION, default us-east-1), as a server started with
--credentials requires.
`;

/** Runs `pharos logs`; resolves with the exit code (0 ok, 1 request failed, 2 usage). */
export async function runLogs(argv: readonly string[], io: MainIo): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: { server: { type: 'string' }, endpoint: { type: 'string' }, cluster: { type: 'string' }, container: { type: 'string' }, limit: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    }));
  } catch (err) {
    io.stderr.write(`pharos logs: ${(err as Error).message}\n\n${LOGS_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(LOGS_USAGE);
    return 0;
  }
  if (values.server !== undefined && values.endpoint !== undefined && values.server !== values.endpoint) {
    io.stderr.write(`pharos logs: --server and --endpoint name the same thing: give one\n`);
    return 2;
  }
  if (positionals.length !== 1) {
    io.stderr.write(positionals.length > 1 ? `pharos logs: one task at a time\n` : LOGS_USAGE);
    return 2;
  }
  const named = values.server ?? values.endpoint ?? (io.env['PHAROS_SERVER'] || io.env['PHAROS_ENDPOINT'] || DEFAULT_SERVER);
  const body = JSON.stringify({
    task: positionals[0],
    ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
    ...(values.container !== undefined ? { container: values.container } : {}),
    ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}),
  });
  // Logs are kept by the server that runs the task, the leader: a follower would answer with none.
  // A leader whose advertised address does not answer from here: the named server answers.
  const leader = await leaderOf(named, io.env);
  let res: Response;
  let text: string;
  try {
    ({ res, text } = await getTaskLogs(leader, body, io.env).catch((err: unknown) => (leader === named ? Promise.reject(err) : getTaskLogs(named, body, io.env))));
  } catch (err) {
    io.stderr.write(`pharos logs: cannot reach ${named}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  let out: { events?: { timestamp: number; container: string; stream: string; message: string }[]; message?: string; __type?: string } = {};
  try {
    out = JSON.parse(text) as typeof out;
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok) {
    io.stderr.write(`pharos logs: ${out.__type ?? res.status}: ${out.message ?? 'request failed'}${refusalHint(text, io.env)}\n`);
    return 1;
  }
  for (const e of out.events ?? []) {
    io.stdout.write(`${new Date(e.timestamp * 1000).toISOString()} ${e.container} ${e.stream === 'stderr' ? 'E' : 'O'} ${e.message}\n`);
  }
  return 0;
}

/** POSTs GetTaskLogs to `server`, signed when the environment holds AWS credentials. */
async function getTaskLogs(server: string, body: string, env: MainIo['env']): Promise<{ res: Response; text: string }> {
  const url = new URL(server);
  const headers = { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': TARGET };
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...headers, ...signedHeaders({ method: 'POST', url, headers, body }, SIGNING_SERVICE, env) },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { res, text: await res.text() };
}

/**
 * The API URL of the leader of `server`'s cluster (the server that runs tasks and keeps their
 * logs), or `server` itself: when it leads, runs alone (SQLite), or cannot tell (an older server,
 * no leader, a refused or failed request; the logs request then says what is wrong).
 */
async function leaderOf(server: string, env: MainIo['env']): Promise<string> {
  try {
    const res = await fetchClusterStatus(server, env);
    if (!res.ok) return server;
    const status = (await res.json()) as ClusterStatus;
    if (status.leader === undefined || status.leader.id === status.self) return server;
    return status.members.find((m) => m.id === status.leader!.id)?.apiUrl ?? server;
  } catch {
    return server;
  }
}
