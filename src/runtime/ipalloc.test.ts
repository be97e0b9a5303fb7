import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPharosError } from '../lib/index.ts';
import { IpAllocator, RUNTIME_BAD_CONFIG, RUNTIME_TASK_CIDR_EXHAUSTED } from './index.ts';
import { parseCidr } from './ipalloc.ts';

describe('IpAllocator', () => {
  test('skips network, gateway and broadcast; next-fit does not reuse a released address at once', () => {
    const a = new IpAllocator('198.19.7.0/29');
    assert.equal(a.gateway, '198.19.7.1');
    assert.equal(a.capacity, 5);
    const got = [a.allocate(), a.allocate(), a.allocate()];
    assert.deepEqual(got, ['198.19.7.2', '198.19.7.3', '198.19.7.4']);
    a.release('198.19.7.2');
    assert.equal(a.allocate(), '198.19.7.5');
    assert.equal(a.allocate(), '198.19.7.6');
    assert.equal(a.allocate(), '198.19.7.2', 'wraps around to the freed address');
    assert.throws(() => a.allocate(), (err) => isPharosError(err, RUNTIME_TASK_CIDR_EXHAUSTED));
    assert.equal(a.inUse, 5);
  });

  test('reserve marks addresses in use after a restart', () => {
    const a = new IpAllocator('198.19.8.0/30');
    assert.equal(a.reserve('198.19.8.2'), true);
    assert.equal(a.reserve('198.19.8.2'), false, 'already taken');
    assert.equal(a.reserve('198.19.8.1'), false, 'the gateway is never a task address');
    assert.equal(a.reserve('198.18.0.9'), false, 'outside the CIDR');
    assert.throws(() => a.allocate(), (err) => isPharosError(err, RUNTIME_TASK_CIDR_EXHAUSTED));
    a.release('198.19.8.2');
    assert.equal(a.allocate(), '198.19.8.2');
  });

  test('a host address in the CIDR text is normalised to the network', () => {
    assert.deepEqual(parseCidr('198.18.3.77/16'), { base: (198 << 24 >>> 0) + (18 << 16), prefix: 16, size: 65536 });
  });

  for (const bad of ['198.18.0.0', '198.18.0.0/31', '198.18.0.0/0', '300.1.1.1/16', 'x/16', '::1/64', '']) {
    test(`refuses CIDR ${JSON.stringify(bad)}`, () => {
      assert.throws(() => new IpAllocator(bad), (err) => isPharosError(err, RUNTIME_BAD_CONFIG));
    });
  }
});
