/**
 * Throws random and mutated packets at a running DNS server over UDP and TCP, then checks that it
 * still answers correctly: bad input may get FORMERR or silence, never a crash or a stuck socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type DnsServer } from '../src/dns/index.ts';
import { decode, openFixture, query, tcpAsk, udpAsk, udpIoPaths, type Fixture } from '../src/dns/testutil.ts';
import { FUZZ_ZONES, VALID_QUERIES, answerNames, prng, runDnsFuzz } from './fuzzkit.ts';
import { createMetricsRegistry, eventually, silentLogger } from '../src/lib/index.ts';

/** Enough packets to hit every parser branch many times while keeping the file to a few seconds. */
const UDP_PACKETS = 20_000;
const TCP_STREAMS = 40;

const SEED = Number(process.env.DNS_FUZZ_SEED ?? Date.now() % 1_000_000);

for (const { io, skip } of udpIoPaths()) {
  describe(`UDP: ${io}`, { skip }, () => {
    let fx: Fixture;
    let server: DnsServer;

    before(async () => {
      fx = await openFixture();
      const ns = await fx.namespace('local-1');
      const web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
      await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
      const api = await fx.service(ns, 'api', [{ type: 'SRV', ttl: 30 }, { type: 'A', ttl: 30 }]);
      await fx.instance(api, 'a-1', { AWS_INSTANCE_IPV4: '198.18.0.11', AWS_INSTANCE_PORT: '8080' });
      server = await startDnsServer({ view: fx.view, address: '127.0.0.1:0', logger: silentLogger(), metrics: createMetricsRegistry(), maxAnswers: 8, io });
    });

    after(async () => {
      await server.close();
      await fx.close();
    });

    test(`random and mutated packets, compression loops and bad TCP framing (seed ${SEED})`, async () => {
      const port = server.address.port;
      const r = await runDnsFuzz(port, prng(SEED), VALID_QUERIES, UDP_PACKETS, { tcpStreams: TCP_STREAMS, zones: FUZZ_ZONES, decodeNames: answerNames });
      assert.equal(r.badReplies, 0, 'every reply is a well-formed message');
      assert.equal(r.outsideZones, 0, 'no records for names outside the zones');
      assert.ok(r.replies > 0, 'some fuzz packets were answered (FORMERR and friends)');
      // The server still answers, correctly, on both transports.
      await eventually(async () => decode(await udpAsk(port, query('web.local-1', 'A', { id: 99 }), 500)).answers[0]?.data === '198.18.0.1');
      const [tcp] = await tcpAsk(port, [query('api.local-1', 'SRV', { id: 100 })]);
      assert.equal(decode(tcp!).answers[0]?.type, 'SRV');
    });
  });
}
