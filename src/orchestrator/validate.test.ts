/**
 * ECS's wording of every violation the shared readers (src/lib/input.ts) find, with its code:
 * the exact messages ECS clients have always seen.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PharosError } from '../lib/index.ts';
import { arr, body, bool, int, obj, objects, str, strings } from './validate.ts';

describe('ECS input readers', () => {
  const cases: [string, () => unknown, string, string?][] = [
    ['body not an object', () => body([1]), 'The request body must be a JSON object.'],
    ['required', () => str({}, 'a.cluster', { required: true }), 'a.cluster must be provided.'],
    ['not a string', () => str({ name: 1 }, 'name'), 'name must be a string.'],
    ['too short', () => str({ name: '' }, 'name', { min: 1 }), 'name must be at least 1 characters long.'],
    ['too long', () => str({ name: 'abc' }, 'name', { max: 2 }), 'name must be at most 2 characters long.'],
    ['pattern, own help', () => str({ name: '!' }, 'name', { pattern: /^a$/, patternHelp: 'must be a.' }), 'name must be a.'],
    ['pattern, no help', () => str({ name: '!' }, 'name', { pattern: /^a$/ }), 'name has an invalid format.'],
    ['one of', () => str({ mode: 'x' }, 'mode', { oneOf: ['a', 'b'] }), 'mode must be one of a, b.'],
    ['code of the rule', () => str({ cpu: 1 }, 'cpu', { code: 'ClientException' }), 'cpu must be a string.', 'ClientException'],
    ['not an integer', () => int({ n: 1.5 }, 'n'), 'n must be an integer.'],
    ['below min', () => int({ n: 0 }, 'n', { min: 1, max: 9 }), 'n must be at least 1.'],
    ['above max', () => int({ n: 10 }, 'n', { min: 1, max: 9 }), 'n must be at most 9.'],
    ['not a boolean', () => bool({ b: 'true' }, 'b'), 'b must be a boolean.'],
    ['not an object', () => obj({ o: [] }, 'o'), 'o must be an object.'],
    ['not a list', () => arr({ l: {} }, 'l'), 'l must be a list.'],
    ['too few items', () => arr({ l: [] }, 'l', { min: 1 }), 'l must contain at least 1 item(s).'],
    ['too many items', () => arr({ l: [1, 2] }, 'l', { max: 1 }), 'l must contain at most 1 item(s).'],
    ['item not an object', () => objects({ l: [{}, 2] }, 'l'), 'l[1] must be an object.'],
    ['item not a string', () => strings({ l: ['a', 2] }, 'l'), 'l[1] must be a string.'],
    ['item too long', () => strings({ l: ['abc'] }, 'l', { itemMax: 2 }), 'l[0] must be at most 2 characters long.'],
  ];
  for (const [name, read, message, code = 'InvalidParameterException'] of cases) {
    test(name, () => assert.throws(read, (err: unknown) => err instanceof PharosError && err.code === code && err.message === message));
  }
  test('absent and null read as undefined; values come back typed', () => {
    assert.equal(str({ a: null }, 'a'), undefined);
    assert.equal(int({}, 'x.n'), undefined);
    assert.deepEqual(strings({ l: ['a'] }, 'l'), ['a']);
    assert.equal(int({ n: 3 }, 'q.n', { min: 1 }), 3);
    assert.deepEqual(body(undefined), {});
  });
});
