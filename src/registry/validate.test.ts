/**
 * Cloud Map's wording of every violation the shared readers (src/lib/input.ts) find: InvalidInput
 * with the member's path first, the exact messages Cloud Map clients have always seen.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEnum, checkStr, Input } from './validate.ts';

describe('Cloud Map input readers', () => {
  const r = (body: unknown) => Input.of(body);
  const cases: [string, () => unknown, string][] = [
    ['body not an object', () => r('x'), 'the request body must be a JSON object'],
    ['required', () => r({}).obj('DnsConfig', true), 'DnsConfig: is required'],
    ['nested path', () => r({ DnsConfig: { TTL: 'x' } }).obj('DnsConfig', true).long('TTL'), 'DnsConfig.TTL: must be an integer, got string'],
    ['not a string', () => r({ Name: [] }).str('Name'), 'Name: must be a string, got a list'],
    ['too short', () => r({ Name: '' }).str('Name', { min: 1 }), 'Name: must be at least 1 character(s) long'],
    ['too long', () => r({ Name: 'abc' }).str('Name', { max: 2 }), 'Name: must be at most 2 characters long'],
    ['pattern by name', () => r({ Id: '!' }).str('Id', { pattern: /^a$/, patternHelp: 'a' }), 'Id: must match a'],
    ['pattern by source', () => r({ Id: '!' }).str('Id', { pattern: /^a$/ }), 'Id: must match ^a$'],
    ['out of range', () => r({ N: 0 }).int('N', { min: 1, max: 9 }), 'N: must be between 1 and 9'],
    ['enum, not a string', () => r({ Type: 1 }).enumOf('Type', ['A', 'B']), 'Type: must be one of A, B'],
    ['not an object', () => r({ O: null, P: 'x' }).obj('P'), 'P: must be an object, got string'],
    ['not a list', () => r({ L: {} }).list('L', {}, (v) => v), 'L: must be a list, got an object'],
    ['too few items', () => r({ L: [] }).list('L', { min: 1 }, (v) => v), 'L: must have at least 1 item(s)'],
    ['too many items', () => r({ L: [1, 2] }).list('L', { max: 1 }, (v) => v), 'L: must have at most 1 items'],
    ['element', () => r({ L: [3] }).list('L', {}, (v, p) => Input.element(v, p)), 'L[0]: must be an object, got number'],
    ['map not an object', () => r({ M: [] }).map('M', { key: {}, value: {} }), 'M: must be an object (map), got a list'],
    ['map key', () => r({ M: { ab: 'x' } }).map('M', { key: { max: 1 }, value: {} }), 'M key: must be at most 1 characters long'],
    ['map value', () => r({ M: { a: 1 } }).map('M', { key: {}, value: {} }), 'M.a: must be a string, got number'],
    ['map too few', () => r({ M: {} }).map('M', { min: 1, key: {}, value: {} }), 'M: must have at least 1 entry'],
    ['map too many', () => r({ M: { a: 'x', b: 'y' } }).map('M', { max: 1, key: {}, value: {} }), 'M: must have at most 1 entries'],
    ['checkStr', () => checkStr('Tags[0].Key', null), 'Tags[0].Key: must be a string, got null'],
    ['checkEnum', () => checkEnum('Filters[0].Condition', 'X', ['EQ']), 'Filters[0].Condition: must be one of EQ'],
  ];
  for (const [name, read, message] of cases) {
    test(name, () => assert.throws(read, (err: unknown) => (err as { code?: string }).code === 'InvalidInput' && (err as Error).message === message));
  }
  test('a __proto__ key of a map is data', () => {
    const m = r(JSON.parse('{"M":{"__proto__":"x"}}')).map('M', { key: {}, value: {} })!;
    assert.equal(m['__proto__'], 'x');
    assert.equal(Object.getPrototypeOf(m), null);
  });
});
