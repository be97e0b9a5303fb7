import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isPharosError, ManualClock } from '../lib/index.ts';
import { IpAllocator, RUNTIME_BAD_CONFIG, RUNTIME_TASK_CIDR_EXHAUSTED } from './index.ts';
import { ADDRESS_QUARANTINE_MS, parseCidr } from './ipalloc.ts';

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

  test('a released address rests: fresh ones first, then the longest-resting one', () => {
    const clock = new ManualClock(1_000_000);
    const a = new IpAllocator('198.19.9.0/29', { clock }); // .2 to .6
    assert.deepEqual([a.allocate(), a.allocate(), a.allocate(), a.allocate()], ['198.19.9.2', '198.19.9.3', '198.19.9.4', '198.19.9.5']);
    a.release('198.19.9.3');
    clock.advance(1000);
    a.release('198.19.9.2');
    assert.equal(a.allocate(), '198.19.9.6', 'a never-used address first');
    assert.equal(a.allocate(), '198.19.9.3', 'then the one released longest ago');
    a.release('198.19.9.4');
    clock.advance(ADDRESS_QUARANTINE_MS);
    assert.equal(a.allocate(), '198.19.9.2');
    assert.equal(a.allocate(), '198.19.9.4');
  });

  describe('across restarts, with a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pharos-ipalloc-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('addresses released before a restart, and those in use when it stopped, rest on', () => {
      const file = join(dir, 'restart.json');
      const clock = new ManualClock(5_000_000);
      const before = new IpAllocator('198.19.10.0/24', { clock, file });
      const [first, second, third] = [before.allocate(), before.allocate(), before.allocate()];
      before.release(first!);
      clock.advance(60_000);
      // Killed here: `second` and `third` in use. Their tasks are gone after the restart, except one adopted.
      const after1 = new IpAllocator('198.19.10.0/24', { clock, file });
      assert.equal(after1.reserve(third!), true, 'a task adopted again keeps its address');
      const handedOut = Array.from({ length: after1.capacity - 3 }, () => after1.allocate());
      assert.ok(!handedOut.includes(first!) && !handedOut.includes(second!), 'no address that rests is handed out while a fresh one is free');
      assert.equal(after1.allocate(), first, 'then the longest-resting one');
      assert.equal(after1.allocate(), second);
      assert.throws(() => after1.allocate(), (err) => isPharosError(err, RUNTIME_TASK_CIDR_EXHAUSTED));
    });

    test('after the rest, a released address is fresh again: next-fit from the start', () => {
      const file = join(dir, 'rested.json');
      const clock = new ManualClock(5_000_000);
      const before = new IpAllocator('198.19.11.0/24', { clock, file });
      assert.equal(before.allocate(), '198.19.11.2');
      before.release('198.19.11.2');
      clock.advance(ADDRESS_QUARANTINE_MS - 1);
      assert.equal(new IpAllocator('198.19.11.0/24', { clock, file }).allocate(), '198.19.11.3', 'still resting');
      clock.advance(1);
      assert.equal(new IpAllocator('198.19.11.0/24', { clock, file }).allocate(), '198.19.11.2', 'rested');
    });

    test('a file that is not JSON, or another CIDR\'s, is ignored', () => {
      const file = join(dir, 'junk.json');
      writeFileSync(file, '{"inUse": ["198.19.12.2"');
      assert.equal(new IpAllocator('198.19.12.0/24', { file }).allocate(), '198.19.12.2');
      for (const junk of [{ inUse: ['10.0.0.2', 7], released: [['198.18.0.9', 1], 'x', null, [3, 'y']] }, null, 7]) {
        writeFileSync(file, JSON.stringify(junk));
        assert.equal(new IpAllocator('198.19.12.0/24', { file }).allocate(), '198.19.12.2');
      }
    });

    test('a file that cannot be written is reported, and allocation goes on', () => {
      const errors: unknown[] = [];
      const a = new IpAllocator('198.19.13.0/24', { file: join(dir, 'no-such-dir', 'a.json'), onSaveError: (err) => errors.push(err) });
      assert.equal(a.allocate(), '198.19.13.2');
      assert.equal(errors.length, 1);
    });
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
