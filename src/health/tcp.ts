import type { Clock } from '../lib/index.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { probeSocket } from './socket.ts';

export interface TcpProbeOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  clock?: Clock;
}

/** Healthy when a TCP connection can be established (Route 53 TCP check). */
export class TcpProbe implements Probe {
  readonly type = 'TCP';
  readonly target: string;

  constructor(private readonly options: TcpProbeOptions) {
    this.target = `${options.host}:${options.port}`;
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    return probeSocket(
      this.options,
      {
        onConnect: () => ({ ok: true, reason: 'connected', cause: 'ok' }),
        onData: () => undefined,
        onEnd: () => ({ ok: true, reason: 'connected', cause: 'ok' }),
      },
      signal,
    );
  }
}
