import { parseArgs } from 'node:util';
import { DEFAULT_SERVER, fetchClusterStatus, refusalHint, type ClusterStatus } from './client.ts';
import type { MainIo } from './main.ts';

const CLUSTER_USAGE = `Usage: pharos cluster status [--server URL] [--json]

Prints the servers of a Pharos cluster (GET URL/cluster): each member's id, API and DNS addresses,
version and last heartbeat, who leads (and so runs the health checker, the ECS scheduler and the
takeover of dead servers' operations), and the store revision.
  --server URL   any server's API (env PHAROS_SERVER, default ${DEFAULT_SERVER})
  --json         print the JSON as the server sent it
With AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) set, the request is signed
(SigV4, for AWS_REGION or AWS_DEFAULT_REGION, default us-east-1), as a server started with
--credentials requires.
`;
/** `pharos cluster status`. Resolves with the exit code: 0, 1 when the server cannot be asked, 2 on usage errors. */
export async function runCluster(argv: readonly string[], io: MainIo): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: { server: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true }));
  } catch (err) {
    io.stderr.write(`pharos cluster: ${(err as Error).message}\n\n${CLUSTER_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(CLUSTER_USAGE);
    return 0;
  }
  const server = values.server ?? (io.env['PHAROS_SERVER'] || DEFAULT_SERVER);
  if (positionals[0] !== 'status' || positionals.length !== 1) {
    io.stderr.write(CLUSTER_USAGE);
    return 2;
  }
  let status: ClusterStatus;
  try {
    const res = await fetchClusterStatus(server, io.env);
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}${refusalHint(text, io.env)}`);
    if (values.json) {
      io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      return 0;
    }
    status = JSON.parse(text) as ClusterStatus;
  } catch (err) {
    io.stderr.write(`pharos cluster: cannot get the status from ${server}: ${(err as Error).message}\n`);
    return 1;
  }
  const now = Date.now();
  const lines = [
    `store: ${status.store}, revision ${status.revision}; leader: ${status.leader ? `${status.leader.id} (term ${status.leader.term})` : 'none'}`,
    '',
    ['MEMBER', 'API', 'DNS', 'VERSION', 'HEARTBEAT', 'ROLE'].join('\t'),
    ...status.members.map((m) =>
      [
        m.id + (m.id === status.self ? '*' : ''),
        m.apiUrl,
        m.dnsAddress ?? '-',
        m.version,
        `${((now - m.heartbeatAt) / 1000).toFixed(1)}s ago`,
        m.id === status.leader?.id ? `leader: ${Object.keys(status.roles).join(', ')}` : 'follower',
      ].join('\t'),
    ),
    '',
    '* = the server that answered',
  ];
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}
