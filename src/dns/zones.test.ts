import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as packet from 'dns-packet';
import { createMetricsRegistry, silentLogger } from '../lib/index.ts';
import { DnsResponder } from './server.ts';
import { decode, openFixture, query, sectionText, type Fixture } from './testutil.ts';

/** One DNS case, CoreDNS-style: the sections as zone-file text, compared as sorted sets. */
interface Case {
  qname: string;
  qtype: packet.RecordType | 'ANY' | number;
  rcode: string;
  answer?: string[];
  ns?: string[];
  extra?: string[];
}

const SOA = 'local-1. 60 IN SOA ns.dns.local-1. hostmaster.local-1. 1 7200 900 1209600 60';

const cases: Case[] = [
  { qname: 'web.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['web.local-1. 60 IN A 198.18.0.1', 'web.local-1. 60 IN A 198.18.0.2'] },
  { qname: 'WeB.LoCaL-1', qtype: 'A', rcode: 'NOERROR', answer: ['web.local-1. 60 IN A 198.18.0.1', 'web.local-1. 60 IN A 198.18.0.2'] },
  { qname: 'web.local-1', qtype: 'AAAA', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'web.local-1', qtype: 'TXT', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'web.local-1', qtype: 'ANY', rcode: 'NOERROR', answer: ['web.local-1. 60 IN A 198.18.0.1', 'web.local-1. 60 IN A 198.18.0.2'] },
  { qname: 'nope.local-1', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'deep.nope.web.local-1', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'local-1', qtype: 'SOA', rcode: 'NOERROR', answer: [SOA] },
  { qname: 'local-1', qtype: 'NS', rcode: 'NOERROR', answer: ['local-1. 60 IN NS ns.dns.local-1.'] },
  { qname: 'local-1', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'ns.dns.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['ns.dns.local-1. 60 IN A 127.0.0.1'] },
  { qname: 'dns.local-1', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: 'api.local-1',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['api.local-1. 30 IN SRV 1 1 8080 a-1.api.local-1.', 'api.local-1. 30 IN SRV 1 1 8081 a-2.api.local-1.'],
    extra: ['a-1.api.local-1. 60 IN A 198.18.0.11', 'a-2.api.local-1. 60 IN A 198.18.0.12'],
  },
  { qname: 'api.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['api.local-1. 60 IN A 198.18.0.11', 'api.local-1. 60 IN A 198.18.0.12'] },
  { qname: 'a-1.api.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['a-1.api.local-1. 60 IN A 198.18.0.11'] },
  { qname: 'A-2.API.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['a-2.api.local-1. 60 IN A 198.18.0.12'] },
  { qname: 'a-1.api.local-1', qtype: 'AAAA', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'a-9.api.local-1', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'v6.local-1', qtype: 'AAAA', rcode: 'NOERROR', answer: ['v6.local-1. 60 IN AAAA 2001:db8::1'] },
  { qname: 'cname.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['cname.local-1. 300 IN CNAME backend.example.com.'] },
  { qname: 'cname.local-1', qtype: 'CNAME', rcode: 'NOERROR', answer: ['cname.local-1. 300 IN CNAME backend.example.com.'] },
  { qname: 'checked.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['checked.local-1. 60 IN A 198.18.1.1'] },
  // Every instance unhealthy: answer with all of them (fail open).
  { qname: 'down.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['down.local-1. 60 IN A 198.18.2.1', 'down.local-1. 60 IN A 198.18.2.2'] },
  { qname: 'probed.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['probed.local-1. 60 IN A 198.18.3.2'] },
  { qname: 'httponly.local-1', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'empty.local-1', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: '_tcp.local-1', qtype: 'SRV', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: '_grpc._tcp.local-1',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['_grpc._tcp.local-1. 10 IN SRV 1 1 9000 g-1._grpc._tcp.local-1.'],
    extra: ['g-1._grpc._tcp.local-1. 10 IN A 198.18.4.1'],
  },
  { qname: 'g-1._grpc._tcp.local-1', qtype: 'A', rcode: 'NOERROR', answer: ['g-1._grpc._tcp.local-1. 10 IN A 198.18.4.1'] },
  { qname: '11.0.18.198.in-addr.arpa', qtype: 'PTR', rcode: 'NOERROR', answer: ['11.0.18.198.in-addr.arpa. 60 IN PTR a-1.api.local-1.'] },
  { qname: '99.99.18.198.in-addr.arpa', qtype: 'PTR', rcode: 'REFUSED' },
  // Instance ids that make no DNS name (`.`, `x.`) get no host name, SRV record or PTR.
  {
    qname: 'dots.local-1',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['dots.local-1. 30 IN SRV 1 1 80 ok.dots.local-1.'],
    extra: ['ok.dots.local-1. 30 IN A 198.18.5.3'],
  },
  { qname: 'x.dots.local-1', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: '1.5.18.198.in-addr.arpa', qtype: 'PTR', rcode: 'REFUSED' },
  { qname: 'example.org', qtype: 'A', rcode: 'REFUSED' },
  { qname: 'web.http-ns', qtype: 'A', rcode: 'REFUSED' },
  { qname: 'local-1', qtype: 'AXFR', rcode: 'REFUSED' },
  {
    qname: 'svc.corp.example',
    qtype: 'A',
    rcode: 'NOERROR',
    ns: ['corp.example. 300 IN SOA ns.dns.corp.example. hostmaster.corp.example. 1 7200 900 1209600 300'],
  },
];

describe('registry zones (table)', () => {
  let fx: Fixture;
  let dns: DnsResponder;

  before(async () => {
    fx = await openFixture();
    const ns = await fx.namespace('local-1');
    const web = await fx.service(ns, 'web', [{ type: 'A', ttl: 60 }]);
    await fx.instance(web, 'i-1', { AWS_INSTANCE_IPV4: '198.18.0.1' });
    await fx.instance(web, 'i-2', { AWS_INSTANCE_IPV4: '198.18.0.2' });
    const api = await fx.service(ns, 'api', [
      { type: 'SRV', ttl: 30 },
      { type: 'A', ttl: 60 },
    ]);
    await fx.instance(api, 'a-1', { AWS_INSTANCE_IPV4: '198.18.0.11', AWS_INSTANCE_PORT: '8080' });
    await fx.instance(api, 'a-2', { AWS_INSTANCE_IPV4: '198.18.0.12', AWS_INSTANCE_PORT: '8081' });
    const v6 = await fx.service(ns, 'v6', [{ type: 'AAAA', ttl: 60 }]);
    await fx.instance(v6, 'x', { AWS_INSTANCE_IPV6: '2001:db8::1' });
    const cname = await fx.service(ns, 'cname', [{ type: 'CNAME', ttl: 300 }], { routing: 'WEIGHTED' });
    await fx.instance(cname, 'c-1', { AWS_INSTANCE_CNAME: 'backend.example.com' });
    const custom = { healthCheckCustomConfig: { failureThreshold: 1 } };
    const checked = await fx.service(ns, 'checked', [{ type: 'A', ttl: 60 }], custom);
    await fx.instance(checked, 'h-1', { AWS_INSTANCE_IPV4: '198.18.1.1' });
    await fx.instance(checked, 'h-2', { AWS_INSTANCE_IPV4: '198.18.1.2', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' });
    const down = await fx.service(ns, 'down', [{ type: 'A', ttl: 60 }], custom);
    await fx.instance(down, 'd-1', { AWS_INSTANCE_IPV4: '198.18.2.1' });
    await fx.instance(down, 'd-2', { AWS_INSTANCE_IPV4: '198.18.2.2' });
    await fx.health(down, 'd-1', 'UNHEALTHY');
    await fx.health(down, 'd-2', 'UNHEALTHY');
    // A probed service: UNKNOWN before the first result counts as not healthy.
    const probed = await fx.service(ns, 'probed', [{ type: 'A', ttl: 60 }], { healthCheckConfig: { type: 'TCP', failureThreshold: 1 } });
    await fx.instance(probed, 'p-1', { AWS_INSTANCE_IPV4: '198.18.3.1' });
    await fx.instance(probed, 'p-2', { AWS_INSTANCE_IPV4: '198.18.3.2' });
    await fx.health(probed, 'p-2', 'HEALTHY');
    const httponly = await fx.service(ns, 'httponly', [], { type: 'HTTP' });
    await fx.instance(httponly, 'h', { AWS_INSTANCE_IPV4: '198.18.0.99' });
    await fx.service(ns, 'empty', [{ type: 'A', ttl: 60 }]);
    const grpc = await fx.service(ns, '_grpc._tcp', [{ type: 'SRV', ttl: 10 }]);
    await fx.instance(grpc, 'g-1', { AWS_INSTANCE_IPV4: '198.18.4.1', AWS_INSTANCE_PORT: '9000' });
    const dots = await fx.service(ns, 'dots', [{ type: 'SRV', ttl: 30 }]);
    await fx.instance(dots, '.', { AWS_INSTANCE_IPV4: '198.18.5.1', AWS_INSTANCE_PORT: '80' });
    await fx.instance(dots, 'x.', { AWS_INSTANCE_IPV4: '198.18.5.2', AWS_INSTANCE_PORT: '80' });
    await fx.instance(dots, 'ok', { AWS_INSTANCE_IPV4: '198.18.5.3', AWS_INSTANCE_PORT: '80' });
    const httpNs = await fx.namespace('http-ns', { type: 'HTTP' });
    await fx.service(httpNs, 'web', []);
    const corp = await fx.namespace('corp.example', { soaTtl: 300 });
    await fx.service(corp, 'svc', [{ type: 'A', ttl: 60 }]);
    dns = new DnsResponder({ view: fx.view, logger: silentLogger(), metrics: createMetricsRegistry(), nsAddress: '127.0.0.1' });
  });

  after(async () => {
    await dns.close();
    dns.registry.close();
    await fx.close();
  });

  for (const c of cases) {
    test(`${c.qname} ${c.qtype} → ${c.rcode}`, async () => {
      // Twice: the second answer comes from the cache and must be the same.
      for (let round = 0; round < 2; round++) {
        const out = await dns.respond(query(c.qname, c.qtype), 'udp');
        assert.ok(out, 'no answer');
        const res = decode(out);
        assert.equal(res.rcode, c.rcode);
        assert.equal(res.id, 4242);
        assert.equal(res.questions?.[0]?.name, c.qname, 'question echoed as asked');
        assert.deepEqual(sectionText(res.answers), [...(c.answer ?? [])].sort(), 'answer');
        assert.deepEqual(sectionText(res.authorities), [...(c.ns ?? [])].sort(), 'authority');
        assert.deepEqual(sectionText(res.additionals), [...(c.extra ?? [])].sort(), 'additional');
        if (c.rcode !== 'REFUSED') assert.ok(res.flag_aa, 'authoritative');
      }
    });
  }
});
