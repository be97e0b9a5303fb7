import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../lib/index.ts';
import { DEFAULT_PROBE_TIMEOUT_MS, describeError, type ProbeCause, type ProbeResult } from './probe.ts';

interface SocketProbeOptions {
  host: string;
  port: number;
  /** Connect with TLS, certificates not verified (Route 53 does not verify either). */
  tls?: boolean;
  timeoutMs?: number;
  clock?: Clock;
}

/** What a protocol does on top of the connection. */
interface SocketSession {
  /** Called once connected (after the TLS handshake for TLS); may write. Return a result to finish now. */
  onConnect(socket: net.Socket): Outcome | undefined;
  /** Called per chunk; return a result to finish. */
  onData(chunk: Buffer): Outcome | undefined;
  /** The peer closed its side without the session finishing. */
  onEnd(): Outcome;
}

export type Outcome = { ok: boolean; reason: string; cause: ProbeCause };

/**
 * One connection attempt with a single deadline. Whatever happens (result, error, timeout, abort),
 * the socket is destroyed, the timer cancelled and the abort listener removed exactly once, so a
 * probe never leaks a handle.
 */
export function probeSocket(options: SocketProbeOptions, session: SocketSession, signal?: AbortSignal): Promise<ProbeResult> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const started = performance.now();
  if (signal?.aborted) return Promise.resolve({ ok: false, reason: 'aborted', cause: 'aborted', latencyMs: 0 });

  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    let connected = false;
    const socket = options.tls
      ? tls.connect({
          host: options.host,
          port: options.port,
          rejectUnauthorized: false,
          // SNI may not carry an IP address; endpoints are addressed by IP.
          servername: net.isIP(options.host) ? '' : options.host,
        })
      : net.connect({ host: options.host, port: options.port });

    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      timer.cancel();
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners();
      // A late error event after destroy must not become an uncaught exception.
      socket.on('error', () => {});
      socket.destroy();
      resolve({ ...outcome, latencyMs: performance.now() - started });
    };
    const onAbort = (): void => finish({ ok: false, reason: 'aborted', cause: 'aborted' });
    const timer = clock.setTimeout(() => finish({ ok: false, reason: `timeout after ${timeoutMs}ms`, cause: 'timeout' }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    socket.setNoDelay(true);
    socket.once(options.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      const outcome = session.onConnect(socket);
      if (outcome) finish(outcome);
    });
    socket.on('data', (chunk: Buffer) => {
      const outcome = session.onData(chunk);
      if (outcome) finish(outcome);
    });
    socket.on('end', () => finish(session.onEnd()));
    socket.on('error', (err) => finish(describeError(err, connected ? 'io' : 'connect')));
    socket.on('close', () => finish(connected ? session.onEnd() : { ok: false, reason: 'connection closed', cause: 'reset' }));
  });
}
