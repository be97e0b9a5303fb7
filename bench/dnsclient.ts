/**
 * A bare UDP DNS client for the propagation benchmarks: one socket, queries matched to answers by
 * id, no retries, so a figure is the time until the server answers what the test waits for.
 */
import dgram from 'node:dgram';
import * as packet from 'dns-packet';

/** How long one query waits for its answer before it counts as "no addresses". */
const QUERY_TIMEOUT_MS = 1000;

export interface DnsAsker {
  /** The A answers for `name` (none on a timeout). */
  ask(name: string): Promise<string[]>;
  close(): void;
}

/** A client of the DNS server on 127.0.0.1:`port`. */
export async function dnsAsker(port: number): Promise<DnsAsker> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let nextId = 1;
  const waiting = new Map<number, (m: Buffer) => void>();
  sock.on('message', (m) => {
    const cb = waiting.get(m.readUInt16BE(0));
    if (cb) {
      waiting.delete(m.readUInt16BE(0));
      cb(m);
    }
  });
  return {
    ask(name: string): Promise<string[]> {
      const id = (nextId = (nextId + 1) & 0xffff);
      const q = packet.encode({ type: 'query', id, questions: [{ name, type: 'A' }] });
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve([]);
        }, QUERY_TIMEOUT_MS);
        waiting.set(id, (m) => {
          clearTimeout(timer);
          resolve((packet.decode(m).answers ?? []).map((a) => String((a as { data?: unknown }).data)));
        });
        sock.send(q, port, '127.0.0.1');
      });
    },
    close: () => sock.close(),
  };
}
