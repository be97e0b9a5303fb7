import { PharosError, type Clock } from '../lib/index.ts';
import { signRequest, type AwsCredentials } from './sign.ts';

/** The ECS JSON 1.1 target prefix and signing name (the agent speaks to the same endpoint as `aws ecs`). */
const ECS_PREFIX = 'AmazonEC2ContainerServiceV20141113';
const ECS_SIGNING_NAME = 'ecs';
/** Error code of a request no server answered (every URL refused or timed out). */
export const AGENT_UNREACHABLE = 'AgentServerUnreachable';

export interface AgentClientOptions {
  /** Server API URLs, tried in turn: any server of a cluster of servers answers. */
  servers: readonly string[];
  region: string;
  /** Signs every request (SigV4) when set; servers started with --credentials require it. */
  credentials?: AwsCredentials;
  clock: Clock;
}

/**
 * A minimal ECS JSON 1.1 client over fetch: signs like the AWS SDKs, maps `{__type, message}`
 * error bodies to PharosErrors with the same code, and fails over to the next server URL when one
 * cannot be reached.
 */
export class AgentClient {
  private current = 0;

  constructor(private readonly o: AgentClientOptions) {
    if (o.servers.length === 0) throw new PharosError(AGENT_UNREACHABLE, 'no server URL given');
  }

  /** Calls `operation`; `timeoutMs` bounds the whole request (long polls pass their wait plus a margin). */
  async call<T>(operation: string, body: object, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    const text = JSON.stringify(body);
    let lastError: unknown;
    for (let i = 0; i < this.o.servers.length; i++) {
      const index = (this.current + i) % this.o.servers.length;
      const url = new URL(this.o.servers[index]!);
      const headers: Record<string, string> = { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `${ECS_PREFIX}.${operation}` };
      if (this.o.credentials) Object.assign(headers, signRequest({ method: 'POST', url, headers, body: text }, this.o.credentials, this.o.region, ECS_SIGNING_NAME, this.o.clock.now()));
      let res: Response;
      try {
        const timeout = AbortSignal.timeout(timeoutMs);
        res = await fetch(url, { method: 'POST', headers, body: text, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      } catch (err) {
        if (signal?.aborted) throw err;
        lastError = err;
        continue;
      }
      this.current = index;
      const out = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok) {
        const code = typeof out['__type'] === 'string' ? (out['__type'] as string).split('#').at(-1)! : `Http${res.status}`;
        const message = typeof out['message'] === 'string' ? out['message'] : typeof out['Message'] === 'string' ? (out['Message'] as string) : `HTTP ${res.status}`;
        throw new PharosError(code, message);
      }
      return out as T;
    }
    const why = lastError instanceof Error ? (lastError.cause instanceof Error ? lastError.cause.message : lastError.message) : String(lastError);
    throw new PharosError(AGENT_UNREACHABLE, `no server answered (${this.o.servers.join(', ')}): ${why}`);
  }
}
