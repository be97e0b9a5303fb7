import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseHostPort } from './hostport.ts';

describe('parseHostPort / formatHostPort', () => {
  const ok: [string, number | undefined, { host: string; port: number }][] = [
    ['127.0.0.1:7700', undefined, { host: '127.0.0.1', port: 7700 }],
    ['localhost:0', undefined, { host: 'localhost', port: 0 }],
    ['[::1]:53', undefined, { host: '::1', port: 53 }],
    ['[::]', 53, { host: '::', port: 53 }],
    ['::1', 53, { host: '::1', port: 53 }],
    ['10.1.2.3', 53, { host: '10.1.2.3', port: 53 }],
    [':5353', undefined, { host: '', port: 5353 }],
    [' 127.0.0.1:1 ', undefined, { host: '127.0.0.1', port: 1 }],
  ];
  for (const [raw, def, want] of ok) {
    test(`${JSON.stringify(raw)} → ${want.host} ${want.port}`, () => assert.deepEqual(parseHostPort(raw, def), want));
  }
  const bad: [string, number | undefined, RegExp][] = [
    ['127.0.0.1', undefined, /has no port/],
    ['127.0.0.1:70000', undefined, /out of range/],
    ['a:b:c', 53, /is not host:port/],
    ['[::1]x', 53, /is not host:port/],
    ['host:port', 53, /is not host:port/],
  ];
  for (const [raw, def, why] of bad) {
    test(`${JSON.stringify(raw)} is refused`, () => assert.throws(() => parseHostPort(raw, def), why));
  }
  test('format puts IPv6 in brackets', () => {
    assert.equal(formatHostPort({ host: '::1', port: 53 }), '[::1]:53');
    assert.equal(formatHostPort({ host: '127.0.0.1', port: 53 }), '127.0.0.1:53');
    assert.equal(formatHostPort({ host: 'localhost', port: 1 }), 'localhost:1');
  });
});
