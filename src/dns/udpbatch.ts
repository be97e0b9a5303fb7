/**
 * Batched UDP I/O for the DNS server: the native addon in `native/udpbatch` reads up to `BATCH`
 * datagrams per wake-up with one `recvmmsg`, calls JS once per batch, and sends the replies with
 * one `sendmmsg` — where node's `dgram` makes one `recvmsg`, one `sendmsg` and one C++ → JS call
 * per datagram, which were most of a query's cost (README.md, "Where a query's microseconds go").
 *
 * It takes over a socket node's `dgram` has bound (so binding, port 0, cluster workers' shared
 * sockets, buffer sizes and closing stay node's): node stops reading it, the addon reads and
 * writes a duplicate of its descriptor. When the addon was not built, does not load, or the
 * socket's descriptor cannot be reached, the caller keeps node's `dgram` path.
 */
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** How UDP is read and written: `batch` (the addon), `dgram` (node's), `auto` = batch when the addon loads. */
export type UdpIo = 'auto' | 'batch' | 'dgram';
export const UDP_IO_CHOICES: readonly UdpIo[] = ['auto', 'batch', 'dgram'];

/** Datagrams per recvmmsg/sendmmsg: dnsperf keeps 200 queries outstanding; 64 amortises a wake-up over many. */
const BATCH = 64;
/** Room per datagram: the most one UDP read returns, as libuv reads, so no query is cut short (and parsed differently). */
const SLOT_BYTES = 65_536;

interface NativeHandle {
  readonly __brand: 'udpbatch';
}

interface Native {
  open(fd: number, input: Buffer, addr: Buffer, out: Buffer, meta: Int32Array, slot: number, batch: number, onBatch: (count: number) => void): NativeHandle;
  sendTo(handle: NativeHandle, data: Buffer, addr: Buffer): boolean;
  peer(handle: NativeHandle, slot: number): string;
  stats(handle: NativeHandle): [received: number, sent: number, dropped: number, queuedBytes: number];
  close(handle: NativeHandle): void;
  readonly ADDR_BYTES: number;
  readonly META_INTS: number;
}

/**
 * Where `node-gyp rebuild` in native/udpbatch puts the addon (the same path from src/dns and
 * dist/dns); `PHAROS_UDPBATCH_ADDON` names another build (the tests point it nowhere to check the fallback).
 */
const ADDON = process.env.PHAROS_UDPBATCH_ADDON ?? fileURLToPath(new URL('../../native/udpbatch/build/Release/udpbatch.node', import.meta.url));

let loaded: { native: Native } | { error: string } | undefined;

/** The addon, loaded once; or why it cannot be used. */
export function udpBatchAddon(): { native: Native } | { error: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = { error: 'recvmmsg/sendmmsg are Linux system calls' });
  try {
    loaded = { native: createRequire(import.meta.url)(ADDON) as Native };
  } catch (err) {
    loaded = { error: `${ADDON} did not load (${(err as Error).message.split('\n')[0]}); build it with npm ci or npm run build` };
  }
  return loaded;
}

/** The answer to one datagram: bytes, nothing (dropped), or bytes later (an asynchronous handler). */
export type UdpReply = Buffer | Promise<Buffer | undefined> | undefined;

/** Where a batch's replies go: an answer that fits is written into `buf` at `at` (and its length returned). */
export interface ReplyArena {
  buf: Buffer;
  at: number;
}

export interface BatchedUdp {
  /** The sender of datagram `slot` of the batch being answered, as `dgram`'s `rinfo.address` writes it. */
  peer(slot: number): string;
  /** [datagrams received, replies sent, replies dropped, bytes queued behind a full send buffer]. */
  stats(): number[];
  /** Stops reading and writing; the caller then closes the dgram socket. Repeatable. */
  close(): void;
}

/** Node 20 keeps a dgram socket's UDP handle (with `fd` and `recvStop`) under this symbol; `_handle` warns DEP0112. */
const STATE_SYMBOL = 'state symbol';

interface UdpHandle {
  fd: number;
  recvStop(): number;
}

function udpHandle(socket: dgram.Socket): UdpHandle | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === STATE_SYMBOL);
  const handle = key && (socket as unknown as Record<symbol, { handle?: Partial<UdpHandle> } | undefined>)[key]?.handle;
  return handle && typeof handle.fd === 'number' && handle.fd >= 0 && typeof handle.recvStop === 'function' ? (handle as UdpHandle) : undefined;
}

/**
 * Answers the datagrams of a bound `socket` in batches: `answer(msg, slot)` for each, its reply
 * sent to the datagram's sender. `msg` is only valid during the call (its bytes are the next
 * batch's). Returns undefined, leaving the socket untouched, when batching is unavailable (`why`
 * says so).
 */
export function serveBatched(socket: dgram.Socket, answer: (msg: Buffer, slot: number, arena: ReplyArena) => UdpReply | number, maxReply: number): BatchedUdp | { why: string } {
  const addon = udpBatchAddon();
  if ('error' in addon) return { why: addon.error };
  const { native } = addon;
  const handle = udpHandle(socket);
  if (handle === undefined) return { why: `this Node.js (${process.version}) does not expose a dgram socket's descriptor` };
  const ADDR = native.ADDR_BYTES;
  const META = native.META_INTS;
  const input = Buffer.allocUnsafeSlow(BATCH * SLOT_BYTES);
  const addr = Buffer.allocUnsafeSlow(BATCH * ADDR);
  const out = Buffer.allocUnsafeSlow(BATCH * maxReply);
  const meta = new Int32Array(BATCH * META);
  let closed = false;
  const sendLater = (from: Buffer) => (reply: Buffer | undefined) => {
    if (reply !== undefined && !closed) native.sendTo(h, reply, from);
  };
  const arena: ReplyArena = { buf: out, at: 0 };
  const onBatch = (count: number) => {
    let used = 0;
    for (let i = 0; i < count; i++) {
      const m = i * META;
      const start = i * SLOT_BYTES;
      arena.at = used;
      const reply = answer(input.subarray(start, start + meta[m]!), i, arena);
      if (reply === undefined) continue;
      if (typeof reply === 'number') {
        // Written in place by the answer.
        meta[m + 1] = used;
        meta[m + 2] = reply;
        used += reply;
      } else if (reply instanceof Promise) {
        // Answered after this batch: keep the sender's address, its slot will hold another's.
        void reply.then(sendLater(Buffer.from(addr.subarray(i * ADDR, (i + 1) * ADDR))));
      } else if (used + reply.length > out.length) {
        native.sendTo(h, reply, addr.subarray(i * ADDR, (i + 1) * ADDR));
      } else {
        reply.copy(out, used);
        meta[m + 1] = used;
        meta[m + 2] = reply.length;
        used += reply.length;
      }
    }
  };
  const h = native.open(handle.fd, input, addr, out, meta, SLOT_BYTES, BATCH, onBatch);
  if (handle.recvStop() !== 0) {
    native.close(h);
    return { why: 'node would not stop reading the socket' };
  }
  return {
    peer: (slot) => native.peer(h, slot),
    stats: () => (closed ? [] : native.stats(h)),
    close() {
      if (closed) return;
      closed = true;
      native.close(h);
    },
  };
}
