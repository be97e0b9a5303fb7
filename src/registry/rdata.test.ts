import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ZoneRecordType } from './model.ts';
import { domainName, isDnsName, parseRdata } from './rdata.ts';

test('parseRdata: Route 53 text forms, table-driven', () => {
  const ok: [ZoneRecordType, string, unknown][] = [
    ['A', '198.18.0.1', { type: 'A', address: '198.18.0.1' }],
    ['AAAA', '2001:db8::1', { type: 'AAAA', address: '2001:db8::1' }],
    ['CNAME', 'Web.Example.com.', { type: 'CNAME', target: ['web', 'example', 'com'] }],
    ['PTR', 'host.example', { type: 'PTR', target: ['host', 'example'] }],
    ['MX', '10  mail.example.com', { type: 'MX', preference: 10, exchange: ['mail', 'example', 'com'] }],
    ['SRV', '1 2 443 _x.example', { type: 'SRV', priority: 1, weight: 2, port: 443, target: ['_x', 'example'] }],
    ['TXT', '"a b" "c\\"d" "\\065"', { type: 'TXT', strings: [Buffer.from('a b'), Buffer.from('c"d'), Buffer.from('A')] }],
    ['TXT', 'unquoted text', { type: 'TXT', strings: [Buffer.from('unquoted text')] }],
    ['CAA', '0 issue "ca.example"', { type: 'CAA', flags: 0, tag: 'issue', value: Buffer.from('ca.example') }],
  ];
  for (const [type, text, want] of ok) assert.deepEqual(parseRdata(type, text), want, `${type} ${text}`);
  const bad: [ZoneRecordType, string, RegExp][] = [
    ['A', '256.0.0.1', /not a valid IPv4/],
    ['A', '2001:db8::1', /not a valid IPv4/],
    ['AAAA', 'fe80::1%eth0', /not a valid IPv6/],
    ['CNAME', 'a..b', /not a domain name/],
    ['CNAME', 'a b', /not a domain name/],
    ['MX', '70000 mail.example', /MX value/],
    ['SRV', '1 2 x t.example', /SRV value/],
    ['TXT', '"a', /unterminated/],
    ['TXT', `"${'x'.repeat(256)}"`, /longer than 255 bytes/],
    ['TXT', '"a"b', /quoted strings separated/],
    ['TXT', '"\\999"', /not a byte/],
    ['CAA', '0 issue "a" "b"', /one quoted string/],
    ['CAA', 'x issue "a"', /CAA value/],
    ['A', 'x'.repeat(4001), /longer than 4000/],
  ];
  for (const [type, text, reason] of bad) {
    const r = parseRdata(type, text);
    assert.equal(typeof r, 'string', `${type} ${text.slice(0, 20)} is refused`);
    assert.match(r as string, reason);
  }
});

test('domainName and isDnsName: label and name lengths', () => {
  assert.deepEqual(domainName('A.b.'), ['a', 'b']);
  assert.match(domainName(`${'a'.repeat(64)}.b`) as string, /not a domain name/);
  assert.match(domainName(Array(130).fill('a').join('.')) as string, /longer than 255/);
  assert.equal(isDnsName(['a', 'b']), true);
  assert.equal(isDnsName(['a', '']), false);
  assert.equal(isDnsName([':x@y', 'b']), true);
});
