import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, type Registry as MetricsRegistry } from '../lib/index.ts';
import { FOREIGN, INCOMPLETE, parseHead, type RequestHead } from './http1.ts';
import { SERVER_TIMEOUT_OPTIONS, type ClientLimits } from './limits.ts';

/**
 * The API's fast path: AWS JSON 1.1 requests answered straight from the raw socket, without
 * node:http's per-request objects and streams (~60 µs of a ~185 µs registration went to them).
 *
 * Each connection starts here. A request is answered here only when http1.ts reads it as the
 * common one (POST /, one Content-Length, keep-alive or close) and the whole body has arrived;
 * the first request that is anything else, and everything after it, goes to node:http on the same
 * connection: the bytes read are put back (`unshift`) and node's own connection listener takes
 * the socket, once every answer given here is written (so answers stay in request order).
 * Timeouts and the connection's idle/busy state follow what node:http does for its connections
 * (limits.ts): headers within `headerTimeoutMs` of the request's first byte (of the connection
 * for the first one), the body within `requestTimeoutMs`, 408 otherwise; an idle keep-alive
 * connection is closed after `keepAliveTimeoutMs`.
 * @see src/api/README.md#the-fast-path
 */

/** What a connection's requests need from the server. */
interface FastPathHost {
  /** Whether the server answers this request itself here; false hands the connection to node:http. */
  takes(head: RequestHead): boolean;
  /** Answers one request; must call `answer.send` exactly once, now or later. */
  serve(head: RequestHead, body: Buffer, socket: Socket, answer: FastAnswer): void;
  /** node:http's own connection listener. */
  handOff(socket: Socket): void;
  /** A request too slow to arrive: answer 408 and close, as node:http does. */
  timedOut(socket: Socket): void;
  /** A request node:http would find malformed after the fact: answer 400 and close, as it does. */
  badRequest(socket: Socket): void;
  /** The connection has a request in progress / has none (eviction picks idle ones). */
  busy(socket: Socket): void;
  idle(socket: Socket): void;
}

interface FastPathOptions {
  maxHeadBytes: number;
  maxBodyBytes: number;
  headerTimeoutMs: number;
  /** Headers and body together. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** How often connections are checked against their deadlines (node's connectionsCheckingInterval). */
  checkIntervalMs: number;
}

/** Where one request's answer goes: written in request order on its connection. */
export interface FastAnswer {
  /** `close`: the server is closing, the connection ends after this answer. */
  send(status: number, contentType: string, payload: string | Buffer, requestId: string, errorType: string | undefined, close: boolean): void;
}

/** node:http's default `maxHeaderSize`: a longer head is node's to refuse (431/400), so the fast path hands it over. */
const MAX_HEAD_BYTES = 16 * 1024;
const LF = 10;

/**
 * Puts the fast path in front of node:http: node's own 'connection' listener is taken off the
 * server and called only for the connections the fast path hands over. The server still
 * listens, so its connection count, `close()` and timeouts work for both. `app` answers requests.
 */
export function installFastPath(server: Server, app: Pick<FastPathHost, 'takes' | 'serve'>, limits: ClientLimits, metrics: MetricsRegistry, maxBodyBytes: number): FastPath {
  const nodeListener = server.listeners('connection')[0] as (socket: Socket) => void;
  server.removeListener('connection', nodeListener);
  const handedOff = new Counter({
    name: 'pharos_api_http_handoffs_total',
    help: 'Connections the API fast path handed to node:http (a request it does not answer itself: Transfer-Encoding, the console, GETs, a malformed head...).',
    registers: [metrics],
  });
  const host: FastPathHost = {
    takes: app.takes,
    serve: app.serve,
    handOff: (socket) => {
      handedOff.inc();
      nodeListener.call(server, socket);
    },
    timedOut: (socket) => limits.timedOut(socket),
    badRequest: (socket) => limits.badRequest(socket),
    busy: (socket) => limits.busy(socket),
    idle: (socket) => limits.idle(socket),
  };
  const fast = new FastPath(host, {
    maxHeadBytes: MAX_HEAD_BYTES,
    maxBodyBytes,
    headerTimeoutMs: limits.headerTimeoutMs,
    requestTimeoutMs: limits.requestTimeoutMs,
    keepAliveTimeoutMs: server.keepAliveTimeout,
    checkIntervalMs: SERVER_TIMEOUT_OPTIONS.connectionsCheckingInterval,
  });
  // After the connection cap's listener (limits.ts), which may have closed the socket already.
  server.on('connection', (socket: Socket) => fast.accept(socket));
  return fast;
}

/**
 * Requests read ahead on one connection before their answers are written (pipelining). More
 * wait in the socket's buffer: a client that never reads cannot make the server queue without
 * bound (the per-client in-flight cap bounds them across connections).
 */
const MAX_PIPELINED = 16;

/** `Date` header value, rebuilt once a second as node:http does. */
let dateSecond = 0;
let dateValue = '';
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

const enum Phase {
  /** Between requests (or before the first): no bytes of the next one yet. */
  Idle,
  /** Part of a request has arrived. */
  Partial,
  /** Given to node:http, or closed. */
  Gone,
}

class Connection {
  buffered: Buffer | undefined;
  phase = Phase.Idle;
  /** When the current partial request (or the idle time) started; the connection's start before its first request. */
  since: number;
  /** Whether the partial request's head is complete (its body is being waited for). */
  headDone = false;
  served = 0;
  /** Answers not yet written, in request order. */
  readonly queue: Answer[] = [];
  /** The client sent `Connection: close`, or the server closes: nothing more is read. */
  ending = false;
  /** The next request is node's: hand the socket over once `queue` is empty. */
  handOffPending = false;
  /** The client half-closed. */
  eof = false;
  /** Head read, body incomplete: the bytes `buffered` must hold before the request is complete (0: reading a head). */
  bodyNeeds = 0;
  /** What arrived of that body after `buffered`, not joined yet. */
  pieces: Buffer[] = [];
  piecesLength = 0;
  parsing = false;
  parseAgain = false;
  /** Reading waits until the client has taken the answers written so far ('drain'). */
  awaitingDrain = false;
  readonly onData = (chunk: Buffer) => this.path.data(this, chunk);
  readonly onEnd = () => this.path.end(this);
  readonly onClose = () => this.path.closed(this);
  readonly onDrain = () => this.path.drained(this);

  constructor(
    readonly socket: Socket,
    private readonly path: FastPath,
    now: number,
  ) {
    this.since = now;
  }
}

class Answer implements FastAnswer {
  bytes: Buffer | string | undefined;
  payload: Buffer | undefined;
  close = false;

  constructor(
    private readonly conn: Connection,
    private readonly path: FastPath,
    private readonly keepAlive: boolean,
  ) {}

  send(status: number, contentType: string, payload: string | Buffer, requestId: string, errorType: string | undefined, close: boolean): void {
    // The header order node:http writes: the server's headers, Date, then its own Connection.
    const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\nx-amzn-RequestId: ${requestId}\r\n`;
    if (errorType !== undefined) head += `x-amzn-ErrorType: ${errorType}\r\n`;
    if (close) head += 'Connection: close\r\n';
    head += `Date: ${httpDate(Date.now())}\r\n`;
    if (!close) head += this.keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${this.path.keepAliveSeconds}\r\n\r\n` : 'Connection: close\r\n\r\n';
    else head += '\r\n';
    this.close = close || !this.keepAlive;
    if (typeof payload === 'string') this.bytes = head + payload;
    else {
      this.bytes = head;
      this.payload = payload;
    }
    this.path.flush(this.conn);
  }
}

/** The fast path's connections (see the file comment). */
export class FastPath {
  readonly keepAliveSeconds: number;
  private readonly conns = new Set<Connection>();
  private readonly timer: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly host: FastPathHost,
    private readonly options: FastPathOptions,
  ) {
    this.keepAliveSeconds = Math.floor(options.keepAliveTimeoutMs / 1000);
    this.timer = setInterval(() => this.check(Date.now()), options.checkIntervalMs);
    this.timer.unref();
  }

  /** A new connection (after the connection cap let it in). */
  accept(socket: Socket): void {
    if (socket.destroyed) return;
    if (this.closing) {
      this.host.handOff(socket);
      return;
    }
    const conn = new Connection(socket, this, Date.now());
    this.conns.add(conn);
    socket.on('data', conn.onData);
    socket.on('end', conn.onEnd);
    socket.on('close', conn.onClose);
    socket.on('error', noop);
  }

  /**
   * The server is closing: idle connections are closed now, the others after their answers
   * (which carry `Connection: close`). New connections go to node:http, which refuses them as it does.
   */
  closeIdle(): void {
    this.closing = true;
    for (const conn of this.conns) {
      if (conn.queue.length === 0 && conn.phase === Phase.Idle) conn.socket.destroy();
      else conn.ending = conn.ending || conn.queue.length > 0;
    }
  }

  /** Cuts every connection still open (the end of the close grace). */
  closeAll(): void {
    for (const conn of this.conns) conn.socket.destroy();
    this.stop();
  }

  /** Stops the deadline checks (the server has closed). */
  stop(): void {
    clearInterval(this.timer);
  }

  data(conn: Connection, chunk: Buffer): void {
    if (conn.ending && !conn.handOffPending) {
      // More after `Connection: close`: node:http refuses it with 400 before answering (the server's own close: ignored).
      if (!this.closing && conn.queue.length > 0) {
        this.forget(conn);
        this.host.badRequest(conn.socket);
      }
      return;
    }
    if (conn.buffered === undefined) {
      conn.buffered = chunk;
      if (conn.phase === Phase.Idle && !conn.handOffPending) {
        conn.phase = Phase.Partial;
        // The first request's headers are timed from the connection's start, later ones from their first byte.
        if (conn.served > 0 || conn.queue.length > 0) conn.since = Date.now();
        conn.headDone = false;
      }
    } else if (conn.bodyNeeds > 0) {
      // A body arriving in pieces is joined once, when complete: joining at every piece would copy
      // a slowly sent megabyte over and over.
      conn.pieces.push(chunk);
      conn.piecesLength += chunk.length;
      if (conn.buffered.length + conn.piecesLength < conn.bodyNeeds) return;
      conn.buffered = Buffer.concat([conn.buffered, ...conn.pieces]);
      conn.pieces = [];
      conn.piecesLength = 0;
    } else {
      // A head arriving in pieces is read again only when a piece ends a line (or it is too long):
      // reading it from the start at every byte would cost the square of its length; lines are at
      // most MAX_HEADER_LINES (http1.ts).
      conn.buffered = Buffer.concat([conn.buffered, chunk]);
      if (!conn.handOffPending && conn.buffered.length < this.options.maxHeadBytes && chunk.indexOf(LF) === -1) return;
    }
    if (!conn.handOffPending) this.parse(conn);
  }

  private parse(conn: Connection): void {
    // An answer given synchronously while serving can ask for more parsing (flush): done after, not inside.
    if (conn.parsing) {
      conn.parseAgain = true;
      return;
    }
    conn.parsing = true;
    try {
      do {
        conn.parseAgain = false;
        this.parseBuffered(conn);
      } while (conn.parseAgain && conn.buffered !== undefined && conn.phase !== Phase.Gone && !conn.handOffPending);
    } finally {
      conn.parsing = false;
    }
  }

  private parseBuffered(conn: Connection): void {
    const buf = conn.buffered!;
    conn.bodyNeeds = 0;
    // First every complete request in these bytes, served only if none is foreign: node:http, given
    // a chunk with a request it refuses, refuses the connection before answering the ones before it.
    const heads: RequestHead[] = [];
    const starts: number[] = [];
    let offset = 0;
    let foreign = false;
    while (offset < buf.length) {
      // A client that does not read its answers gets no more until it does (node:http pauses too):
      // otherwise pipelined requests would pile answers up in memory without bound.
      if (conn.queue.length + heads.length >= MAX_PIPELINED || conn.socket.writableNeedDrain) {
        conn.socket.pause();
        break;
      }
      const head = parseHead(buf, offset, this.options.maxHeadBytes, this.options.maxBodyBytes);
      if (head === INCOMPLETE) break;
      const bodyEnd = head === FOREIGN ? 0 : head.bodyStart + head.bodyLength;
      // Bytes after a `Connection: close` request: node:http refuses the connection (400); so it decides.
      if (head === FOREIGN || (!head.keepAlive && bodyEnd < buf.length) || !this.host.takes(head)) {
        foreign = true;
        break;
      }
      if (bodyEnd > buf.length) {
        conn.headDone = true;
        conn.bodyNeeds = bodyEnd - offset;
        break;
      }
      heads.push(head);
      starts.push(offset);
      offset = bodyEnd;
      if (!head.keepAlive) break;
    }
    if (foreign) {
      conn.handOffPending = true;
      // What follows (more bytes, the end of the stream) waits in the socket for node:http.
      conn.socket.pause();
      offset = 0;
    } else {
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i]!;
        if (i > 0 && conn.socket.writableNeedDrain) {
          // The answers so far fill the socket: the rest are read again once it drains.
          offset = starts[i]!;
          conn.socket.pause();
          break;
        }
        const answer = new Answer(conn, this, head.keepAlive);
        conn.queue.push(answer);
        if (conn.queue.length === 1) this.host.busy(conn.socket);
        conn.phase = Phase.Idle;
        this.host.serve(head, buf.subarray(head.bodyStart, head.bodyStart + head.bodyLength), conn.socket, answer);
        if ((conn.phase as Phase) === Phase.Gone) return;
        if (!head.keepAlive) conn.ending = true;
      }
    }
    if (offset >= buf.length) conn.buffered = undefined;
    else {
      conn.buffered = offset === 0 ? buf : buf.subarray(offset);
      if (conn.phase === Phase.Idle) {
        conn.phase = Phase.Partial;
        conn.since = Date.now();
        conn.headDone = false;
      }
    }
    if (conn.handOffPending && conn.queue.length === 0) this.handOff(conn);
    else if (conn.eof && conn.queue.length === 0) this.endAfterEof(conn);
    else if (conn.queue.length === 0 && conn.socket.isPaused() && !conn.ending) this.readOn(conn);
  }

  /** Writes the answers that are ready, in order; ends the connection or hands it over when due. */
  flush(conn: Connection): void {
    if (conn.phase === Phase.Gone) return;
    const socket = conn.socket;
    let corked = false;
    while (conn.queue.length > 0 && conn.queue[0]!.bytes !== undefined) {
      const answer = conn.queue.shift()!;
      conn.served++;
      if (socket.destroyed) continue;
      if (answer.payload !== undefined) {
        if (!corked) {
          socket.cork();
          corked = true;
        }
        socket.write(answer.bytes!, 'latin1');
        socket.write(answer.payload);
      } else socket.write(answer.bytes!);
      if (answer.close) {
        conn.ending = true;
        conn.handOffPending = false;
        conn.queue.length = 0;
        if (corked) socket.uncork();
        socket.end();
        this.forget(conn);
        return;
      }
    }
    if (corked) socket.uncork();
    if (conn.queue.length > 0) return;
    this.host.idle(socket);
    if (conn.phase === Phase.Idle) conn.since = Date.now();
    if (conn.handOffPending) this.handOff(conn);
    else if (conn.eof) this.endAfterEof(conn);
    else if (this.closing) {
      socket.end();
      this.forget(conn);
    } else if (socket.isPaused()) this.readOn(conn);
  }

  /** Reads on (after a pause), once the client has taken the answers written so far. */
  private readOn(conn: Connection): void {
    const socket = conn.socket;
    if (socket.writableNeedDrain) {
      if (!conn.awaitingDrain) {
        conn.awaitingDrain = true;
        socket.once('drain', conn.onDrain);
      }
      return;
    }
    socket.resume();
    if (conn.buffered !== undefined) this.parse(conn);
  }

  drained(conn: Connection): void {
    conn.awaitingDrain = false;
    if (conn.phase !== Phase.Gone && conn.queue.length === 0 && !conn.handOffPending && !conn.ending) this.readOn(conn);
  }

  end(conn: Connection): void {
    conn.eof = true;
    if (conn.queue.length === 0 && !conn.handOffPending) this.endAfterEof(conn);
  }

  closed(conn: Connection): void {
    this.forget(conn);
  }

  /** The client half-closed and every answer is written: a partial request is a bad one (node: 400). */
  private endAfterEof(conn: Connection): void {
    const socket = conn.socket;
    const partial = conn.phase === Phase.Partial;
    this.forget(conn);
    if (partial) this.host.badRequest(socket);
    else socket.end();
  }

  private handOff(conn: Connection): void {
    const socket = conn.socket;
    const buffered = conn.buffered;
    this.forget(conn);
    if (conn.eof) {
      // node:http never saw the end of this stream: it could not answer the request it holds in full.
      socket.destroy();
      return;
    }
    if (buffered !== undefined) socket.unshift(buffered);
    this.host.handOff(socket);
    socket.resume();
  }

  private forget(conn: Connection): void {
    if (conn.phase === Phase.Gone) return;
    conn.phase = Phase.Gone;
    conn.buffered = undefined;
    this.conns.delete(conn);
    const socket = conn.socket;
    socket.off('data', conn.onData);
    socket.off('end', conn.onEnd);
    socket.off('close', conn.onClose);
    socket.off('drain', conn.onDrain);
  }

  /** Deadlines, checked every `checkIntervalMs` like node:http's. */
  private check(now: number): void {
    const o = this.options;
    for (const conn of this.conns) {
      if (conn.queue.length > 0 || conn.handOffPending) continue;
      if (conn.awaitingDrain || conn.socket.writableLength > 0) {
        // Answers still going out to a slow reader: the connection is not idle until they have gone
        // (node:http starts its keep-alive timer when a response has finished, and has no timer on
        // a response being sent either). What a client that never reads can hold is bounded by the
        // backpressure above and the connection cap, which closes idle connections like this one first.
        conn.since = now;
        continue;
      }
      if (conn.phase === Phase.Partial || (conn.phase === Phase.Idle && conn.served === 0)) {
        if (now - conn.since > (conn.headDone ? o.requestTimeoutMs : o.headerTimeoutMs)) {
          this.forget(conn);
          this.host.timedOut(conn.socket);
        }
      } else if (conn.phase === Phase.Idle && now - conn.since > o.keepAliveTimeoutMs) {
        this.forget(conn);
        conn.socket.destroy();
      }
    }
  }
}

function noop(): void {}
