/**
 * The one shape every probe has (Consul agent/checks/check.go): a probe only observes. It returns a
 * result and never decides a status; `StatusHandler` applies thresholds.
 */

/** A bounded classification of a result, used as a metric label (the free-text reason is not). */
export type ProbeCause =
  | 'ok'
  | 'http_status'
  | 'refused'
  | 'reset'
  | 'timeout'
  | 'unreachable'
  | 'protocol'
  | 'tls'
  | 'exit'
  | 'invalid_target'
  | 'aborted'
  | 'error';

export interface ProbeResult {
  ok: boolean;
  /** Short, human-readable and stable enough to log and store: `HTTP 503`, `connect ECONNREFUSED`, `timeout after 2000ms`. */
  reason: string;
  cause: ProbeCause;
  /** Wall time the probe took, for the latency histogram. */
  latencyMs: number;
}

export interface Probe {
  /** `HTTP`, `HTTPS`, `TCP`, `CMD` … (metric label). */
  readonly type: string;
  /** What is probed, for logs (`198.18.0.2:8080/health`). */
  readonly target: string;
  /** Probes once. Never rejects: every failure is a result with `ok: false`. */
  check(signal?: AbortSignal): Promise<ProbeResult>;
}

/**
 * Default per-probe timeout. Route 53 gives an endpoint 4 s to connect and 2 s to answer; Pharos
 * checks every few seconds, so one 2 s budget for the whole probe keeps a probe inside its interval.
 */
export const DEFAULT_PROBE_TIMEOUT_MS = 2000;

/** Turns a socket / spawn error into a short reason and a cause. */
export function describeError(err: unknown, phase: 'connect' | 'io'): { ok: false; reason: string; cause: ProbeCause } {
  const e = err as NodeJS.ErrnoException & { library?: string; reason?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  switch (code) {
    case 'ECONNREFUSED':
      return { ok: false, reason: 'connect ECONNREFUSED', cause: 'refused' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { ok: false, reason: 'connection reset', cause: 'reset' };
    case 'ETIMEDOUT':
      return { ok: false, reason: `${phase} ETIMEDOUT`, cause: 'timeout' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
    case 'EADDRNOTAVAIL':
      return { ok: false, reason: `connect ${code}`, cause: 'unreachable' };
    default:
      break;
  }
  if ((code && code.startsWith('ERR_SSL')) || code?.startsWith('ERR_TLS') || e?.library !== undefined) {
    return { ok: false, reason: `tls: ${oneLine(e.reason ?? e.message ?? String(err))}`, cause: 'tls' };
  }
  const message = e instanceof Error ? e.message : String(err);
  return { ok: false, reason: `${code ?? 'error'}: ${oneLine(message)}`, cause: 'error' };
}

/** Longest reason kept; reasons are logged and stored with the health record. */
const MAX_REASON_LENGTH = 200;

/** A single printable line of at most MAX_REASON_LENGTH characters. */
export function oneLine(text: string): string {
  const flat = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return flat.length > MAX_REASON_LENGTH ? `${flat.slice(0, MAX_REASON_LENGTH - 1)}…` : flat;
}

/** A probe for an endpoint that cannot be probed (missing or malformed address): always unhealthy, says why. */
export class InvalidTargetProbe implements Probe {
  readonly type: string;
  readonly target: string;
  constructor(
    type: string,
    private readonly why: string,
  ) {
    this.type = type;
    this.target = 'invalid';
  }
  check(): Promise<ProbeResult> {
    return Promise.resolve({ ok: false, reason: `invalid target: ${this.why}`, cause: 'invalid_target', latencyMs: 0 });
  }
}
