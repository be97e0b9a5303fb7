/**
 * An event-stream client that stops reading cannot make the server buffer one event per change
 * for it: while its connection has unsent bytes, changes are coalesced, and when it reads again
 * it gets the latest answer (every event is the whole answer, so nothing is lost but the
 * intermediate states). Before, every change's event (here ~110 KB each, 400 changes: ~44 MB)
 * piled up in the server's memory for a client that never read.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { httpNamespace, register, startTestServer, type TestServer } from './helpers.ts';

const BIG = 100;
const CHANGES = 400;

describe('event stream and a client that does not read', () => {
  let s: TestServer;
  let serviceId = '';

  before(async () => {
    s = await startTestServer();
    const ns = await httpNamespace(s.sd, 'slow');
    serviceId = (await s.sd.createService({ Name: 'web', NamespaceId: ns })).Service!.Id!;
    // ~1.1 KB per instance: every event carries ~110 KB.
    for (let i = 0; i < BIG; i++) await register(s.sd, serviceId, `big-${i}`, { blob: 'x'.repeat(1000) });
  });

  after(() => s?.destroy());

  test(`${CHANGES} changes while the client is not reading: far fewer events, the last one current`, async () => {
    const { port } = new URL(s.apiUrl);
    const sock = net.connect(Number(port), '127.0.0.1');
    let received = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (received += c));
    sock.write(`GET /v1/namespaces/slow/services/web/instances HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    await eventually(() => received.includes('event: instances'), { message: 'the first event' });
    sock.pause();
    try {
      for (let i = 0; i < CHANGES; i++) await s.sd.registerInstance({ ServiceId: serviceId, InstanceId: 'tick', Attributes: { n: String(i) } });
      await eventually(async () => {
        const { Instances } = await s.sd.discoverInstances({ NamespaceName: 'slow', ServiceName: 'web', QueryParameters: { n: String(CHANGES - 1) } });
        return Instances?.length === 1;
      });
      sock.resume();
      const last = `"n":"${CHANGES - 1}"`;
      await eventually(() => received.includes(last), { timeoutMs: 20_000, message: 'the latest answer arrives once the client reads' });
      const events = received.split("event: instances").length - 1;
      assert.ok(events < CHANGES / 2, `${events} events for ${CHANGES} changes: they were not coalesced`);
    } finally {
      sock.destroy();
    }
  });
});
