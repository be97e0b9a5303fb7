import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newHostedZoneId, newNamespaceId, newOperationId, randomString } from './ids.ts';

describe('ids', () => {
  it('draws ids of the documented shapes from the pool, none repeated across refills', () => {
    const seen = new Set<string>();
    // 2,000 operation ids use 80,000 pool bytes: about twenty refills of the 4 KiB pool.
    for (let i = 0; i < 2000; i++) {
      const id = newOperationId();
      assert.match(id, /^[a-z0-9]{32}-[a-z0-9]{8}$/);
      assert.ok(!seen.has(id), `repeated id ${id}`);
      seen.add(id);
    }
    assert.match(newNamespaceId(), /^ns-[a-z0-9]{16}$/);
    assert.match(newHostedZoneId(), /^Z[A-Z0-9]{20}$/);
  });

  it('uses every symbol of the alphabet', () => {
    const chars = new Set(randomString(4000));
    assert.equal(chars.size, 36);
    assert.throws(() => randomString(5000), RangeError);
  });
});
