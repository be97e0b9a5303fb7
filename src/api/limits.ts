import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, type Registry as MetricsRegistry } from '../lib/index.ts';

/** How much of the server one client, or all clients, may hold. */
export interface HttpLimits {
  /** From connecting to the end of the request headers; a slower client is disconnected. */
  headerTimeoutMs: number;
  /** After the headers, until the body has arrived. */
  bodyTimeoutMs: number;
  /**
   * Open connections at once, all clients together. A new one past it closes the oldest connection
   * with no request in progress (idle keep-alive, or still sending its headers), or itself when
   * every connection is busy: connections that never send a request cannot lock clients out.
   */
  maxConnections: number;
  /** Requests being processed at once for one client address; more get ThrottlingException. */
  maxInFlightPerClient: number;
}

/**
 * Defaults. Node's own (60 s for headers, 300 s for a request, no connection cap) let a few
 * hundred slow clients hold sockets for minutes. An SDK sends its headers in one write and a
 * Cloud Map body is under 100 KiB, so 5 s and 10 s are generous on any real link. 4096
 * connections stay well under the usual 1024*N file descriptor limits with room for DNS and
 * health probes; 256 requests in flight per address is five SDK connection pools (50 each) on one
 * host, while 16 such hosts are still needed to fill the connection cap.
 */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headerTimeoutMs: 5_000,
  bodyTimeoutMs: 10_000,
  maxConnections: 4096,
  maxInFlightPerClient: 256,
};
/**
 * How often Node looks for connections past their header or request timeout: a slow client is
 * closed at most this long after its deadline.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 250;


/**
 * Bounds what clients can hold of an HTTP(S) server: header and body timeouts, a connection cap
 * and a per-address cap on requests in flight, each refusal counted in
 * `pharos_api_refused_total{reason}`.
 */
export class ClientLimits {
  readonly #limits: HttpLimits;
  readonly #inFlight = new Map<string, number>();
  readonly #refused: Counter<'reason'>;
  /** Open connections (raw sockets), least recently active first. */
  readonly #open = new Set<Socket>();
  /** Requests in progress per raw socket; a socket absent here is idle. */
  readonly #busy = new Map<Socket, number>();

  constructor(limits: Partial<HttpLimits>, metrics: MetricsRegistry) {
    this.#limits = { ...DEFAULT_HTTP_LIMITS, ...limits };
    this.#refused = new Counter({
      name: 'pharos_api_refused_total',
      help: 'Connections and requests the API refused to bound its resources: max_connections, client_in_flight (per-address cap), timeout (headers or body too slow).',
      labelNames: ['reason'],
      registers: [metrics],
    });
    for (const r of ['max_connections', 'client_in_flight', 'timeout'] as const) this.#refused.inc({ reason: r }, 0);
  }

  /** Applies the timeouts and the connection cap to `server` (before it listens). */
  apply(server: Server): void {
    const l = this.#limits;
    server.headersTimeout = l.headerTimeoutMs;
    server.requestTimeout = l.headerTimeoutMs + l.bodyTimeoutMs;
    // Not `server.maxConnections`: Node refuses the newest connection, which lets idle ones win.
    server.on('connection', (socket: Socket) => this.#accept(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') this.timedOut(socket);
      else this.badRequest(socket);
    });
  }

  /** A request too slow to arrive: 408 and the connection closed (node:http's and the fast path's). */
  timedOut(socket: Socket): void {
    this.#refused.inc({ reason: 'timeout' });
    refuse(socket, REQUEST_TIMEOUT);
  }

  /** A malformed request: 400 and the connection closed. */
  badRequest(socket: Socket): void {
    refuse(socket, BAD_REQUEST);
  }

  /** The timeouts' values, for the API's fast path (fastpath.ts), which keeps its own connections' deadlines. */
  get headerTimeoutMs(): number {
    return this.#limits.headerTimeoutMs;
  }

  get requestTimeoutMs(): number {
    return this.#limits.headerTimeoutMs + this.#limits.bodyTimeoutMs;
  }

  /**
   * Counts a request against its client address until its response is done. False (and counted
   * as refused) when the address already has `maxInFlightPerClient` requests in flight.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const addr = req.socket.remoteAddress ?? '';
    if (!this.admitAddress(addr)) return false;
    // 'close' follows 'finish' and also comes when the client goes away first: one listener covers both.
    res.once('close', () => this.release(addr));
    return true;
  }

  /** `admit` without node's objects (the fast path): the caller calls `release(addr)` once answered. */
  admitAddress(addr: string): boolean {
    const n = this.#inFlight.get(addr) ?? 0;
    if (n >= this.#limits.maxInFlightPerClient) {
      this.#refused.inc({ reason: 'client_in_flight' });
      return false;
    }
    this.#inFlight.set(addr, n + 1);
    return true;
  }

  release(addr: string): void {
    const left = (this.#inFlight.get(addr) ?? 1) - 1;
    if (left <= 0) this.#inFlight.delete(addr);
    else this.#inFlight.set(addr, left);
  }

  /**
   * Marks the request's connection busy until its response is done, every request (watches and
   * the console's too): a busy connection is never closed to make room for a new one.
   */
  track(req: IncomingMessage, res: ServerResponse): void {
    const socket = rawSocket(req.socket);
    this.busy(socket);
    res.once('close', () => this.idle(socket));
  }

  /** One more request in progress on this connection (`track` without node's objects). */
  busy(socket: Socket): void {
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
  }

  /** One request on this connection is done. */
  idle(socket: Socket): void {
    const busy = (this.#busy.get(socket) ?? 1) - 1;
    if (busy > 0) this.#busy.set(socket, busy);
    else this.#busy.delete(socket);
    if (this.#open.delete(socket)) this.#open.add(socket); // now the most recently active
  }

  #accept(socket: Socket): void {
    if (this.#open.size >= this.#limits.maxConnections) {
      this.#refused.inc({ reason: 'max_connections' });
      let idle: Socket | undefined;
      for (const s of this.#open) {
        if (!this.#busy.has(s)) {
          idle = s;
          break;
        }
      }
      if (!idle) {
        socket.destroy();
        return;
      }
      this.#open.delete(idle);
      idle.destroy();
    }
    this.#open.add(socket);
    socket.once('close', () => {
      this.#open.delete(socket);
      this.#busy.delete(socket);
    });
  }
}

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/** Node answers 400/408 itself only when no 'clientError' listener is set; the same answers here. */
function refuse(socket: Socket, answer: string): void {
  if (socket.writable && !socket.destroyed) socket.end(answer);
  socket.destroy();
}

/** The server option Node reads at construction: how often connections are checked against the timeouts. */
export const SERVER_TIMEOUT_OPTIONS = { connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS } as const;

/** The TCP socket under a request: over HTTPS, `req.socket` is the TLS socket wrapping the one 'connection' saw. */
function rawSocket(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}
