import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { DNS_UPSTREAM_FAILED, dnsError } from './errors.ts';
import type { DnsHandler, DnsReply, DnsRequest } from './handler.ts';

/** An upstream that does not answer within this is reported as SERVFAIL (resolvers retry after ~1-2 s anyway). */
const FORWARD_TIMEOUT_MS = 2000;
/** Queries in flight to the upstream at once; beyond that, SERVFAIL at once rather than queueing without bound. */
const FORWARD_MAX_INFLIGHT = 4096;

interface ForwarderOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  maxInflight?: number;
}

interface Pending {
  clientId: number;
  resolve: (reply: DnsReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The optional second handler: queries outside every registry zone go to one upstream, over the
 * transport the client used. UDP queries share one socket; upstream ids are remapped so two
 * clients using the same id cannot get each other's answers.
 */
export class Forwarder implements DnsHandler {
  readonly name = 'forward';
  private readonly timeoutMs: number;
  private readonly maxInflight: number;
  private socket?: dgram.Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly tcpSockets = new Set<net.Socket>();

  constructor(private readonly options: ForwarderOptions) {
    this.timeoutMs = options.timeoutMs ?? FORWARD_TIMEOUT_MS;
    this.maxInflight = options.maxInflight ?? FORWARD_MAX_INFLIGHT;
  }

  serve(req: DnsRequest): Promise<DnsReply> {
    if (this.pending.size + this.tcpSockets.size >= this.maxInflight) {
      return Promise.reject(dnsError(DNS_UPSTREAM_FAILED, 'too many forwarded queries in flight'));
    }
    return req.transport === 'tcp' ? this.viaTcp(req) : this.viaUdp(req);
  }

  private udp(): dgram.Socket {
    if (this.socket) return this.socket;
    const socket = dgram.createSocket(isIPv6(this.options.host) ? 'udp6' : 'udp4');
    socket.on('message', (msg, rinfo) => {
      if (msg.length < 12 || rinfo.port !== this.options.port) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      if (!p) return;
      this.pending.delete(msg.readUInt16BE(0));
      clearTimeout(p.timer);
      const raw = Buffer.from(msg);
      raw.writeUInt16BE(p.clientId, 0);
      p.resolve({ raw });
    });
    socket.on('error', () => {
      /* per-send errors reject through the send callback; nothing to do for the socket */
    });
    socket.unref();
    this.socket = socket;
    return socket;
  }

  private viaUdp(req: DnsRequest): Promise<DnsReply> {
    return new Promise((resolve, reject) => {
      let id = (Math.random() * 0x10000) | 0;
      while (this.pending.has(id)) id = (id + 1) & 0xffff;
      const query = Buffer.from(req.msg);
      query.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(dnsError(DNS_UPSTREAM_FAILED, `upstream ${this.options.host}:${this.options.port} did not answer`));
      }, this.timeoutMs);
      this.pending.set(id, { clientId: req.id, resolve, reject, timer });
      this.udp().send(query, this.options.port, this.options.host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(dnsError(DNS_UPSTREAM_FAILED, 'sending to the upstream failed', err));
      });
    });
  }

  private viaTcp(req: DnsRequest): Promise<DnsReply> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.options.host, port: this.options.port });
      this.tcpSockets.add(socket);
      let buf = Buffer.alloc(0);
      let settled = false;
      const finish = (err?: Error, raw?: Buffer) => {
        if (settled) return;
        settled = true;
        this.tcpSockets.delete(socket);
        socket.destroy();
        if (raw) resolve({ raw });
        else reject(dnsError(DNS_UPSTREAM_FAILED, `upstream ${this.options.host}:${this.options.port} failed over TCP`, err));
      };
      socket.setTimeout(this.timeoutMs, () => finish(new Error('timeout')));
      socket.on('error', (err) => finish(err));
      socket.on('close', () => finish(new Error('closed before answering')));
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) return;
        finish(undefined, Buffer.from(buf.subarray(2, 2 + len)));
      });
      const frame = Buffer.allocUnsafe(2 + req.msg.length);
      frame.writeUInt16BE(req.msg.length, 0);
      req.msg.copy(frame, 2);
      socket.write(frame);
    });
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(dnsError(DNS_UPSTREAM_FAILED, 'server closing'));
    }
    this.pending.clear();
    for (const s of this.tcpSockets) s.destroy();
    this.tcpSockets.clear();
    this.socket?.close();
    this.socket = undefined;
  }
}
