import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry, eventually, silentLogger } from '../lib/index.ts';
import { ApiServer, CLOUD_MAP_PREFIX, CLOUD_MAP_STYLE } from './index.ts';

/**
 * A client that pipelines requests and never reads the answers must not make the server hold them
 * all in memory: node:http stops reading a connection whose answers are not being taken (its
 * socket needs draining), and so must the fast path. Each answer here is 512 KiB, so 200 pipelined
 * requests answered without that would hold 100 MiB for one connection. And a slow reader of a
 * large answer must get all of it, however long it takes.
 */

const ANSWER_BYTES = 512 * 1024;
const PIPELINED = 200;
/**
 * Answers a non-reading client can have caused: those the kernel's socket buffers take on
 * loopback (a few MiB each way), the ones read ahead before the socket filled, and one more.
 */
const MAX_ANSWERED_UNREAD = 48;

/** More than the kernel's socket buffers take on loopback, so most of it waits in the server for the client. */
const HUGE_BYTES = 48 * 1024 * 1024;
/** node:http's default keep-alive timeout, which the fast path follows. */
const KEEP_ALIVE_MS = 5000;
/** Between a slow reader's 64 KiB reads: 48 MiB then take about 8 s, longer than the keep-alive timeout. */
const SLOW_READ_GAP_MS = 10;

function post(n: number, target = 'Big'): string {
  const body = JSON.stringify({ n });
  return `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ${CLOUD_MAP_PREFIX}.${target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

for (const fastPath of [true, false]) {
  describe(`a pipelining client that does not read (${fastPath ? 'fast path' : 'node:http'})`, () => {
    let answered = 0;
    const api = new ApiServer({ logger: silentLogger(), metrics: createMetricsRegistry(), fastPath });
    // Each answer its own string, as real answers are (one shared string would cost nothing to queue).
    api.addTarget({
      prefix: CLOUD_MAP_PREFIX,
      style: CLOUD_MAP_STYLE,
      operations: {
        Big: (input) => ({ N: (input as { n: number }).n, Data: String(answered++).padEnd(ANSWER_BYTES, 'x') }),
        Huge: () => ({ Data: 'y'.repeat(HUGE_BYTES) }),
      },
    });
    api.setReady(true);
    let port = 0;
    before(async () => {
      port = (await api.listen('127.0.0.1', 0)).port;
    });
    after(() => api.close());

    // node:http runs every request of a chunk it has read before it pauses (up to 64 KiB of
    // requests, here all 200), so only the fast path is held to this.
    if (fastPath) test('the server stops answering until the client reads, then answers every request in order', async () => {
      const socket: Socket = connect(port, '127.0.0.1');
      socket.pause();
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(Array.from({ length: PIPELINED }, (_, i) => post(i)).join(''));
      // The server answers what fits in the socket buffers, then must wait: the count stops moving.
      let seen = -1;
      await eventually(
        () => {
          const still = answered === seen && answered > 0;
          seen = answered;
          return still;
        },
        { timeoutMs: 20_000, intervalMs: 300, message: 'the server stops answering a client that does not read' },
      );
      assert.ok(answered <= MAX_ANSWERED_UNREAD, `${answered} of ${PIPELINED} requests answered while the client read nothing`);

      // Reading: every answer arrives, in request order.
      const order: number[] = [];
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        text += d;
        for (let m = /"N":(\d+),/.exec(text); m; m = /"N":(\d+),/.exec(text)) {
          order.push(Number(m[1]));
          text = text.slice(m.index + m[0].length + ANSWER_BYTES);
        }
      });
      socket.resume();
      await eventually(() => order.length === PIPELINED, { timeoutMs: 30_000, intervalMs: 50, message: `all ${PIPELINED} answers read (got ${order.length})` });
      assert.deepEqual(order, Array.from({ length: PIPELINED }, (_, i) => i));
      socket.destroy();
    });

    test('a slow reader of a large answer gets all of it: the keep-alive timeout counts from when the answer has gone out', async () => {
      const socket: Socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      // 64 KiB reads 10 ms apart: the answer takes longer to read than the keep-alive timeout.
      let got = 0;
      let closed = false;
      const started = Date.now();
      socket.on('data', (d: Buffer) => {
        got += d.length;
        socket.pause();
        setTimeout(() => socket.resume(), SLOW_READ_GAP_MS);
      });
      socket.on('close', () => (closed = true));
      socket.write(post(0, 'Huge'));
      await eventually(() => got >= HUGE_BYTES || closed, { timeoutMs: 60_000, intervalMs: 50, message: 'the answer read, or the connection closed' });
      assert.ok(got >= HUGE_BYTES, `${got} of more than ${HUGE_BYTES} bytes arrived before the server closed the connection`);
      assert.ok(Date.now() - started > KEEP_ALIVE_MS, 'the read took longer than the keep-alive timeout (else this proves nothing)');
      socket.destroy();
    });

  });
}
