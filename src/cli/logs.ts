/**
 * `pharos logs <task>`: prints a task's captured stdout/stderr, through the ECS target's Pharos
 * extension `GetTaskLogs` (see src/orchestrator/README.md). A plain HTTP client of the API.
 */

/** The ECS `X-Amz-Target` prefix; GetTaskLogs is served next to the ECS operations. */
const TARGET = 'AmazonEC2ContainerServiceV20141113.GetTaskLogs';
const DEFAULT_ENDPOINT = 'http://127.0.0.1:7700';

const LOGS_USAGE = `Usage: pharos logs [flags] <task id or ARN>

Prints the captured stdout/stderr lines of a task (the last 1000 lines per task are kept, by the
server that ran it, also for a while after the task stopped).

Flags:
  --endpoint URL     Pharos API (env PHAROS_ENDPOINT, default ${DEFAULT_ENDPOINT})
  --cluster NAME     Cluster name or ARN (default: default)
  --container NAME   Only this container's lines
  --limit N          Last N lines (1-1000, default 200)
  -h, --help         Show this help
`;

interface LogsIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
}

/** Runs `pharos logs`; resolves with the exit code (0 ok, 1 request failed, 2 usage). */
export async function runLogs(argv: readonly string[], io: LogsIo): Promise<number> {
  const body: Record<string, unknown> = {};
  let endpoint = io.env['PHAROS_ENDPOINT'] ?? DEFAULT_ENDPOINT;
  const args = [...argv];
  while (args.length > 0) {
    const arg = args.shift()!;
    if (arg === '-h' || arg === '--help') {
      io.stdout.write(LOGS_USAGE);
      return 0;
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? args.shift();
    if (flag === '--endpoint') endpoint = value() ?? '';
    else if (flag === '--cluster') body['cluster'] = value();
    else if (flag === '--container') body['container'] = value();
    else if (flag === '--limit') body['limit'] = Number(value());
    else if (flag.startsWith('-')) {
      io.stderr.write(`pharos logs: unknown flag ${flag}\n\n${LOGS_USAGE}`);
      return 2;
    } else if (body['task'] === undefined) body['task'] = flag;
    else {
      io.stderr.write(`pharos logs: one task at a time\n`);
      return 2;
    }
  }
  if (body['task'] === undefined) {
    io.stderr.write(LOGS_USAGE);
    return 2;
  }
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': TARGET },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    io.stderr.write(`pharos logs: cannot reach ${endpoint}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const out = (await res.json().catch(() => ({}))) as { events?: { timestamp: number; container: string; stream: string; message: string }[]; message?: string; __type?: string };
  if (!res.ok) {
    io.stderr.write(`pharos logs: ${out.__type ?? res.status}: ${out.message ?? 'request failed'}\n`);
    return 1;
  }
  for (const e of out.events ?? []) {
    io.stdout.write(`${new Date(e.timestamp * 1000).toISOString()} ${e.container} ${e.stream === 'stderr' ? 'E' : 'O'} ${e.message}\n`);
  }
  return 0;
}
