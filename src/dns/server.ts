import dgram from 'node:dgram';
import net from 'node:net';
import { PharosError, parseHostPort as parseAddress, systemClock, type Clock, type HostPort, type Logger, type Registry as MetricsRegistry } from '../lib/index.ts';
import type { RegistryView } from '../registry/index.ts';
import { randomSubset, type AnswerEntry } from './answer.ts';
import { DNS_BAD_ADDRESS, DNS_BAD_VERSION, DNS_IO_UNAVAILABLE, DNS_REFUSED, dnsError, rcodeFor } from './errors.ts';
import { Forwarder } from './forward.ts';
import type { DnsHandler, DnsReply, DnsRequest } from './handler.ts';
import { DnsMetrics } from './metrics.ts';
import { RegistryZones, DEFAULT_MAX_ANSWERS } from './zones.ts';
import { ResponseRateLimiter, truncated, type RrlOptions } from './rrl.ts';
import { serveBatched, udpBatchAddon, type BatchedUdp, type ReplyArena, type UdpIo, type UdpReply } from './udpbatch.ts';
import {
  CLASS_IN,
  FLAG,
  HEADER_LENGTH,
  OPT_LENGTH,
  RCODE,
  isParseFailure,
  parseQuery,
  replyFlags,
  writeHeader,
  writeOpt,
  type ParseFailure,
  type ParsedQuery,
} from './wire.ts';

/** Largest UDP answer we send even when a client offers more: the DNS Flag Day 2020 size, safe from fragmentation. */
export const MAX_UDP_PAYLOAD = 1232;
/** What a client without EDNS0 can receive over UDP (RFC 1035 §4.2.1). */
const CLASSIC_UDP_PAYLOAD = 512;
/**
 * Open DNS-over-TCP connections at once (RFC 7766 §6.2.2 asks for a limit). A connection past it
 * closes the least recently active one instead of being refused, so clients that open connections
 * and stay silent cannot lock everyone else out of TCP until their idle timeout.
 */
export const DEFAULT_MAX_TCP_CONNECTIONS = 256;
/** An idle TCP connection is closed after this (RFC 7766 §6.2.3 suggests seconds, not minutes). */
export const DEFAULT_TCP_IDLE_MS = 10_000;
/** Unprocessed (or unsent) bytes a TCP connection may hold: a 64 KiB message plus pipelined ones; more is a flood, closed. */
const MAX_TCP_PENDING_BYTES = 1 << 20;
/** Bigger socket buffers absorb bursts (dnsperf keeps 100 queries outstanding); the kernel caps them at rmem_max. */
const UDP_BUFFER_BYTES = 8 << 20;
/** At most one unexpected-error log line per this many ms: a flood of odd packets must not flood the log. */
const ERROR_LOG_INTERVAL_MS = 1000;

export interface DnsResponderOptions {
  view: RegistryView;
  /** `host:port` of an upstream for names outside every zone; none means REFUSED (no open recursion). */
  forward?: string | { host: string; port: number };
  /** How long the forwarder waits for the upstream before answering SERVFAIL. */
  forwardTimeoutMs?: number;
  maxAnswers?: number;
  logger: Logger;
  metrics: MetricsRegistry;
  clock?: Clock;
  /** The server's own address, for `ns.dns.<zone>` A/AAAA. */
  nsAddress?: string;
}

/**
 * The protocol core without sockets: parse, run the handler chain (registry zones → optional
 * forwarder → refuse), encode. `respond` is what the UDP and TCP servers call, and what the
 * table-driven tests call directly.
 */
export class DnsResponder {
  readonly registry: RegistryZones;
  private readonly handlers: DnsHandler[];
  readonly metrics: DnsMetrics;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private lastErrorLog = 0;

  constructor(options: DnsResponderOptions) {
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    let metrics: DnsMetrics | undefined;
    this.registry = new RegistryZones({
      view: options.view,
      maxAnswers: options.maxAnswers ?? DEFAULT_MAX_ANSWERS,
      nsAddress: options.nsAddress,
      now: () => this.clock.now(),
      onPropagated: (ms) => metrics?.propagated(ms),
    });
    metrics = this.metrics = new DnsMetrics(options.metrics, () => this.registry.size);
    this.handlers = [this.registry];
    if (options.forward) {
      const upstream = typeof options.forward === 'string' ? parseHostPort(options.forward, 53) : options.forward;
      this.handlers.push(new Forwarder({ host: upstream.host, port: upstream.port, timeoutMs: options.forwardTimeoutMs }));
    }
  }

  /**
   * Answers one message. Returns undefined when it must not be answered (no header, or a
   * response), a Buffer, or a Promise of one when a handler is asynchronous (the forwarder).
   * Never throws. `msg` is read only until this returns: the batched UDP path reuses its bytes.
   * With an `arena`, a cached answer that fits is written into it instead, and its length returned.
   */
  respond(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | Promise<Buffer> | undefined;
  respond(msg: Buffer, transport: 'udp', arena: ReplyArena): Buffer | number | Promise<Buffer> | undefined;
  respond(msg: Buffer, transport: 'udp' | 'tcp', arena?: ReplyArena): Buffer | number | Promise<Buffer> | undefined {
    // A bug must cost one SERVFAIL, not the process: nothing below may throw past here.
    try {
      const out = this.answer(msg, transport, arena);
      if (!(out instanceof Promise)) return out;
      const header = Buffer.from(msg.subarray(0, HEADER_LENGTH)); // `msg` is the caller's only until we return
      return out.catch((err: unknown) => this.internalError(header, err));
    } catch (err) {
      return this.internalError(msg, err);
    }
  }

  private internalError(msg: Buffer, err: unknown): Buffer {
    this.logUnexpected(err);
    const out = Buffer.alloc(HEADER_LENGTH);
    writeHeader(out, msg.length >= 2 ? msg.readUInt16BE(0) : 0, replyFlags(msg.length >= 4 ? msg.readUInt16BE(2) : 0, 0, RCODE.SERVFAIL), 0, 0, 0, 0);
    return out;
  }

  private answer(msg: Buffer, transport: 'udp' | 'tcp', arena: ReplyArena | undefined): Buffer | number | Promise<Buffer> | undefined {
    const started = this.metrics.begin();
    const q = parseQuery(msg);
    if (isParseFailure(q)) return this.unparsable(q, started);
    const limit = transport === 'tcp' ? 0xffff : q.edns ? Math.min(Math.max(q.edns.udpSize, CLASSIC_UDP_PAYLOAD), MAX_UDP_PAYLOAD) : CLASSIC_UDP_PAYLOAD;
    // Hot path: the registry handler's cache holds the answer; no chain walk, no request object.
    const cached = q.qclass === CLASS_IN && (q.edns === undefined || q.edns.version === 0) ? this.registry.cached(q.key, q.qtype) : undefined;
    if (cached !== undefined) {
      const out = encodeEntry(cached, q, msg, limit, arena);
      this.metrics.query(q.qtype, cached.rcode, started);
      return out;
    }
    return this.viaChain(q, msg, transport, limit, started);
  }

  private unparsable(q: ParseFailure, started: number): Buffer | undefined {
    if (q.fail === 'drop') {
      this.metrics.dropped('malformed');
      return undefined;
    }
    const rcode = q.fail === 'notimp' ? RCODE.NOTIMP : RCODE.FORMERR;
    const out = Buffer.alloc(HEADER_LENGTH);
    writeHeader(out, q.id, replyFlags(q.flags, 0, rcode), 0, 0, 0, 0);
    this.metrics.query(0, rcode, started);
    return out;
  }

  /** The handler chain: registry zones → optional forwarder → refuse. */
  private viaChain(q: ParsedQuery, msg: Buffer, transport: 'udp' | 'tcp', limit: number, started: number): Buffer | Promise<Buffer> {
    let reply: DnsReply | Promise<DnsReply> | undefined;
    try {
      if (q.edns && q.edns.version > 0) throw dnsError(DNS_BAD_VERSION, `EDNS version ${q.edns.version}`);
      const req: DnsRequest = { ...q, msg, transport };
      for (const handler of this.handlers) {
        reply = handler.serve(req);
        if (reply) break;
      }
      if (!reply) throw dnsError(DNS_REFUSED, 'not in any zone');
    } catch (err) {
      return this.failed(q, msg, err, started);
    }
    if (reply instanceof Promise) {
      // Handlers copy what they need of `msg` before going asynchronous; the answer needs the question.
      const question = Buffer.from(msg.subarray(0, q.questionEnd));
      return reply.then(
        (r) => this.finish(q, question, r, limit, started),
        (err: unknown) => this.failed(q, question, err, started),
      );
    }
    return this.finish(q, msg, reply, limit, started);
  }

  private finish(q: ParsedQuery, msg: Buffer, reply: DnsReply, limit: number, started: number): Buffer {
    let out: Buffer;
    if ('raw' in reply) {
      out = reply.raw;
      if (out.length > limit) {
        // An upstream answer too big for this client's UDP size: keep the header and question, set TC.
        out = Buffer.from(out.subarray(0, q.questionEnd));
        out.writeUInt16BE(out.readUInt16BE(2) | FLAG.TC, 2);
        out.fill(0, 6, 12);
        out.writeUInt16BE(1, 4);
      }
    } else {
      out = encodeEntry(reply.entry, q, msg, limit);
    }
    this.metrics.query(q.qtype, out[3]! & 0xf, started);
    return out;
  }

  private failed(q: ParsedQuery, msg: Buffer, err: unknown, started: number): Buffer {
    const rcode = rcodeFor(err);
    if (!(err instanceof PharosError)) this.logUnexpected(err);
    const out = errorReply(q, msg, rcode);
    this.metrics.query(q.qtype, rcode, started);
    return out;
  }

  private logUnexpected(err: unknown): void {
    this.logRateLimited('error', err, 'dns: unexpected error answering a query');
  }

  /** Logs at most one line per second: a flood of odd packets or socket errors must not flood the log. */
  logRateLimited(level: 'error' | 'warn', err: unknown, message: string): void {
    const now = this.clock.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLog = now;
    this.logger[level]({ err }, message);
  }

  async close(): Promise<void> {
    for (const h of this.handlers) await h.close?.();
  }
}

/**
 * The hot path: pick a body (a pre-encoded variant, or a random subset for big pools), then header +
 * the client's own question bytes + body (+ OPT). Over-size UDP answers drop the additional section
 * first (RFC 2181 §9), and set TC with empty sections only when the answer itself does not fit.
 */
function encodeEntry(entry: AnswerEntry, q: ParsedQuery, msg: Buffer, limit: number): Buffer;
function encodeEntry(entry: AnswerEntry, q: ParsedQuery, msg: Buffer, limit: number, arena: ReplyArena | undefined): Buffer | number;
function encodeEntry(entry: AnswerEntry, q: ParsedQuery, msg: Buffer, limit: number, arena?: ReplyArena): Buffer | number {
  const variants = entry.variants;
  const body = entry.pool
    ? randomSubset(entry.pool)
    : variants.length === 1
      ? variants[0]!
      : variants[(Math.random() * variants.length) | 0]!;
  const qEnd = q.questionEnd;
  const opt = q.edns ? OPT_LENGTH : 0;
  let bodyLength = body.bytes.length;
  let an = body.an;
  let ns = body.ns;
  let ar = body.ar;
  let tc = 0;
  if (qEnd + bodyLength + opt > limit) {
    ar = 0;
    bodyLength = body.lengthWithoutAdditional;
    if (qEnd + bodyLength + opt > limit) {
      an = ns = bodyLength = 0;
      tc = FLAG.TC;
    }
  }
  const length = qEnd + bodyLength + opt;
  // Batched UDP: straight into the batch's reply buffer when it has room (no allocation, one copy less).
  const into = arena !== undefined && arena.at + length <= arena.buf.length;
  const out = into ? arena.buf : Buffer.allocUnsafe(length);
  const at = into ? arena.at : 0;
  writeHeader(out, q.id, replyFlags(q.flags, (entry.authoritative ? FLAG.AA : 0) | tc, entry.rcode), 1, an, ns, opt ? ar + 1 : ar, at);
  // The question is a few dozen bytes: a loop beats Buffer#copy, which allocates a view for a part.
  for (let i = HEADER_LENGTH; i < qEnd; i++) out[at + i] = msg[i]!;
  out.set(bodyLength === body.bytes.length ? body.bytes : body.bytes.subarray(0, bodyLength), at + qEnd);
  if (opt) writeOpt(out, at + qEnd + bodyLength, MAX_UDP_PAYLOAD);
  return into ? length : out;
}

/** A reply carrying only the question (and OPT when the query had one) with `rcode`. */
function errorReply(q: ParsedQuery, msg: Buffer, rcode: number): Buffer {
  const opt = q.edns ? OPT_LENGTH : 0;
  const out = Buffer.allocUnsafe(q.questionEnd + opt);
  writeHeader(out, q.id, replyFlags(q.flags, 0, rcode), 1, 0, 0, opt ? 1 : 0);
  msg.copy(out, HEADER_LENGTH, HEADER_LENGTH, q.questionEnd);
  if (opt) writeOpt(out, q.questionEnd, MAX_UDP_PAYLOAD, rcode);
  return out;
}

// ---- sockets ---------------------------------------------------------------------------------

export interface DnsServerOptions extends DnsResponderOptions {
  /** `host:port` (or its parts); port 0 picks a free port (the same one for UDP and TCP). */
  address: string | { host: string; port: number };
  maxTcpConnections?: number;
  tcpIdleMs?: number;
  /** Cluster workers share the primary's listeners instead of binding exclusively (workers.ts). */
  shared?: boolean;
  /** Response-rate limiting of UDP answers (rrl.ts); none when absent. */
  rrl?: RrlOptions;
  /**
   * UDP I/O: `batch` = recvmmsg/sendmmsg through the native addon (udpbatch.ts; start fails
   * without it), `dgram` = node's dgram, `auto` (default) = batch when the addon loads, else
   * dgram (logged once).
   */
  io?: UdpIo;
}

export interface DnsServer {
  /** Where UDP and TCP listen (one address for both, as resolvers expect): the first listener. */
  address: { host: string; port: number };
  responder: DnsResponder;
  /**
   * Serves the same zones (same handler chain, cache, metrics and TCP connection limit) on one
   * more address, UDP and TCP; e.g. the task bridge's gateway on port 53, which task network
   * namespaces can reach and 127.0.0.1 they cannot. Adding an address that is already served
   * resolves with it again. Rejects with `DnsBadAddress` when it cannot listen (nothing is left
   * bound then); rejects once the server is closing. Listeners close with the server.
   */
  addListener(address: string | { host: string; port: number }): Promise<{ host: string; port: number }>;
  /** Every address served, the first one first. */
  listeners(): { host: string; port: number }[];
  /** How UDP is read and written on every listener: `batch` or `dgram` (`auto` resolved). */
  io: 'batch' | 'dgram';
  close(): Promise<void>;
}

/** One UDP socket and one TCP listener on the same address. */
interface Listener {
  address: { host: string; port: number };
  udp: dgram.Socket;
  tcp: net.Server;
  /** The batched reader of `udp`, when it has one: closed before the socket. */
  batched?: BatchedUdp;
}

/** `auto` falls back to dgram once per process with one log line, not once per listener or worker. */
let fallbackLogged = false;

/** Resolves `auto`; `batch` without a usable addon is an error, since it was asked for by name. */
export function chooseUdpIo(io: UdpIo, logger: Logger): 'batch' | 'dgram' {
  if (io === 'dgram') return 'dgram';
  const addon = udpBatchAddon();
  if (!('error' in addon)) return 'batch';
  if (io === 'batch') throw dnsError(DNS_IO_UNAVAILABLE, `--dns-io batch: ${addon.error}`);
  if (!fallbackLogged) logger.warn({ reason: addon.error }, "dns: batched UDP I/O unavailable; answering through node's dgram (slower)");
  fallbackLogged = true;
  return 'dgram';
}

/** Starts the authoritative DNS server on UDP and TCP. */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const first = typeof options.address === 'string' ? parseHostPort(options.address, 53) : options.address;
  const io = chooseUdpIo(options.io ?? 'auto', options.logger);
  const responder = new DnsResponder({ ...options, nsAddress: options.nsAddress ?? first.host });
  const clock = options.clock ?? systemClock;
  const rrl = options.rrl === undefined ? undefined : new ResponseRateLimiter(options.rrl, () => clock.now(), options.metrics);
  const maxTcp = options.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS;
  const idleMs = options.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS;
  // One connection set for every listener: the limit protects this process, whichever address is hit.
  const connections = new Set<net.Socket>();
  const listeners: Listener[] = [];
  const adding = new Map<string, Promise<{ host: string; port: number }>>();
  let closing: Promise<void> | undefined;

  let anyPort = 0;
  const add = (address: { host: string; port: number }) => {
    // Port 0 asks for a new port each time; a concrete address is served once.
    const key = address.port === 0 ? `${address.host}|0|${++anyPort}` : `${address.host}|${address.port}`;
    let p = adding.get(key);
    if (p === undefined) {
      p = (async () => {
        if (closing) throw dnsError(DNS_BAD_ADDRESS, `cannot listen on ${address.host}:${address.port}: the DNS server is closing`);
        const l = await listen(address.host, address.port, !options.shared);
        if (closing) {
          // close() ran while this listener was binding: it must not outlive the server.
          await closeListener(l);
          throw dnsError(DNS_BAD_ADDRESS, `cannot listen on ${address.host}:${address.port}: the DNS server is closing`);
        }
        if (io === 'batch') l.batched = serveUdpBatched(l.udp, responder, rrl);
        else serveUdp(l.udp, responder, rrl);
        serveTcp(l.tcp, responder, connections, maxTcp, idleMs);
        listeners.push(l);
        if (address.port === 0) adding.set(`${l.address.host}|${l.address.port}`, Promise.resolve(l.address));
        return l.address;
      })();
      adding.set(key, p);
      // A failed address may be retried (e.g. once an interface has its address).
      p.catch(() => adding.delete(key));
    }
    return p;
  };

  const address = await add(first);
  return {
    address,
    responder,
    addListener: async (a) => add(typeof a === 'string' ? parseHostPort(a, 53) : a),
    listeners: () => listeners.map((l) => ({ ...l.address })),
    io,
    close() {
      closing ??= (async () => {
        await Promise.allSettled(adding.values());
        const all = listeners.splice(0);
        for (const l of all) l.batched?.close();
        await Promise.all(all.map((l) => new Promise<void>((resolve) => l.udp.close(() => resolve()))));
        for (const socket of connections) socket.destroy();
        await Promise.all(all.map((l) => new Promise<void>((resolve) => l.tcp.close(() => resolve()))));
        await responder.close(); // the handlers: registry (unsubscribes from the view), forwarder
      })();
      return closing;
    },
  };
}

/**
 * Binds UDP and TCP on one address. With port 0 the UDP port is chosen first and TCP must get the
 * same one; another process may hold it on TCP, so it tries a few times.
 */
async function listen(host: string, port: number, exclusive: boolean): Promise<Listener> {
  const family = net.isIPv6(host) ? 'udp6' : 'udp4';
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket({ type: family, recvBufferSize: UDP_BUFFER_BYTES, sendBufferSize: UDP_BUFFER_BYTES, lookup: literalLookup(family === 'udp6' ? 6 : 4) });
    try {
      await listenUdp(udp, host, port);
    } catch (err) {
      closeQuietly(udp);
      throw err;
    }
    const boundPort = udp.address().port;
    const tcp = net.createServer({ noDelay: true });
    try {
      await listenTcp(tcp, host, boundPort, exclusive);
    } catch (err) {
      udp.close();
      if (port === 0 && attempt < 10 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      throw dnsError(DNS_BAD_ADDRESS, `cannot listen on TCP ${host}:${boundPort}`, err);
    }
    return { address: { host, port: boundPort }, udp, tcp };
  }
}

function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}

async function closeListener(l: Listener): Promise<void> {
  await new Promise<void>((resolve) => l.udp.close(() => resolve()));
  await new Promise<void>((resolve) => l.tcp.close(() => resolve()));
}

/**
 * Replies go to the IP literal a query came from; node's default lookup defers each send by a tick
 * even for literals (dns.lookup), which costs measurably at 50k answers/s.
 */
function literalLookup(family: 4 | 6) {
  return (address: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void => {
    callback(null, address, family);
  };
}

function listenUdp(socket: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(dnsError(DNS_BAD_ADDRESS, `cannot listen on UDP ${host}:${port}`, err));
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(server: net.Server, host: string, port: number, exclusive: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * The UDP reply to one query from `from` (needed only for RRL): the answer, or what RRL lets out
 * of it. With an `arena` (batched UDP), a number: that many bytes written into it.
 */
function udpReply(responder: DnsResponder, rrl: ResponseRateLimiter | undefined, msg: Buffer, from: () => string): UdpReply;
function udpReply(responder: DnsResponder, rrl: ResponseRateLimiter | undefined, msg: Buffer, from: () => string, arena: ReplyArena): UdpReply | number;
function udpReply(responder: DnsResponder, rrl: ResponseRateLimiter | undefined, msg: Buffer, from: () => string, arena?: ReplyArena): UdpReply | number {
  const out = arena === undefined ? responder.respond(msg, 'udp') : responder.respond(msg, 'udp', arena);
  if (rrl === undefined || out === undefined) return out;
  if (typeof out === 'number') {
    // Written into the arena already: sent as it is, truncated over it, or dropped.
    const written = arena!.buf.subarray(arena!.at, arena!.at + out);
    const action = rrl.check(from(), written);
    return action === 'send' ? out : action === 'slip' ? truncated(written) : undefined;
  }
  if (!(out instanceof Promise)) return limited(rrl, from(), out);
  const address = from(); // now: a batched sender's slot is reused after this call
  return out.then((b) => limited(rrl, address, b));
}

/** `from` where no RRL will ask: no closure per datagram. */
const NO_PEER = () => '';

function limited(rrl: ResponseRateLimiter, address: string, b: Buffer): Buffer | undefined {
  const action = rrl.check(address, b);
  return action === 'send' ? b : action === 'slip' ? truncated(b) : undefined;
}

/** node's dgram: one 'message' event and one send per datagram. */
function serveUdp(socket: dgram.Socket, responder: DnsResponder, rrl?: ResponseRateLimiter): void {
  socket.on('error', (err) => responder.logRateLimited('warn', err, 'dns: UDP socket error'));
  const send = (b: Buffer | undefined, rinfo: dgram.RemoteInfo) => {
    if (b !== undefined) socket.send(b, rinfo.port, rinfo.address);
  };
  socket.on('message', (msg, rinfo) => {
    const out = udpReply(responder, rrl, msg, rrl ? () => rinfo.address : NO_PEER);
    if (out instanceof Promise) void out.then((b) => send(b, rinfo));
    else send(out, rinfo);
  });
}

/** recvmmsg/sendmmsg (udpbatch.ts); node's dgram when this socket cannot be taken over. */
function serveUdpBatched(socket: dgram.Socket, responder: DnsResponder, rrl?: ResponseRateLimiter): BatchedUdp | undefined {
  let batched: BatchedUdp | undefined;
  const peer = (slot: number) => () => batched!.peer(slot);
  const r = serveBatched(socket, (msg, slot, arena) => udpReply(responder, rrl, msg, rrl ? peer(slot) : NO_PEER, arena), MAX_UDP_PAYLOAD);
  if ('why' in r) {
    responder.logRateLimited('warn', new Error(r.why), "dns: cannot batch this UDP socket; answering it through node's dgram");
    serveUdp(socket, responder, rrl);
    return undefined;
  }
  socket.on('error', (err) => responder.logRateLimited('warn', err, 'dns: UDP socket error'));
  return (batched = r);
}

/** DNS over TCP (RFC 7766): length-prefixed messages, pipelined, bounded connections, idle timeout. */
function serveTcp(server: net.Server, responder: DnsResponder, connections: Set<net.Socket>, maxConnections: number, idleMs: number): void {
  server.on('error', () => {
    /* accept errors (EMFILE) are transient; the listener stays up */
  });
  server.on('connection', (socket) => {
    if (connections.size >= maxConnections) {
      // `connections` is in order of last activity (see 'data'): the first is the least recently active.
      const idlest = connections.values().next().value;
      if (idlest) {
        connections.delete(idlest);
        idlest.destroy();
      }
      responder.metrics.dropped('tcp_limit');
    }
    connections.add(socket);
    responder.metrics.tcpConnections.inc();
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      connections.delete(socket);
      responder.metrics.tcpConnections.dec();
    });
    let buf: Buffer = Buffer.alloc(0);
    const send = (out: Buffer) => {
      if (socket.destroyed) return;
      if (socket.writableLength > MAX_TCP_PENDING_BYTES) {
        // Pipelining without reading the answers: stop buffering for this client.
        responder.metrics.dropped('tcp_oversize');
        socket.destroy();
        return;
      }
      const frame = Buffer.allocUnsafe(2 + out.length);
      frame.writeUInt16BE(out.length, 0);
      out.copy(frame, 2);
      socket.write(frame);
    };
    socket.on('data', (chunk) => {
      if (!connections.delete(socket)) return; // evicted; its close is on the way
      connections.add(socket); // now the most recently active
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length > MAX_TCP_PENDING_BYTES) {
        responder.metrics.dropped('tcp_oversize');
        socket.destroy();
        return;
      }
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = responder.respond(msg, 'tcp');
        if (out === undefined) continue;
        if (out instanceof Promise) void out.then(send);
        else send(out);
      }
    });
  });
}

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces are not the default: an empty host means 127.0.0.1). */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  let hp: HostPort | undefined;
  try {
    hp = parseAddress(text, defaultPort);
  } catch {
    // reported below, in the DNS server's own words
  }
  if (hp && hp.host === '') hp.host = '127.0.0.1';
  if (!hp || !net.isIP(hp.host)) throw dnsError(DNS_BAD_ADDRESS, `bad DNS address ${JSON.stringify(text)}: use ip:port`);
  return hp;
}
