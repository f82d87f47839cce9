import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OffThreadHash } from '../../src/offthread-hash.js';

describe('off-thread sha256', () => {
  it('gives the same digests as node:crypto, across batch boundaries and for several digests in a row', async () => {
    const hash = new OffThreadHash(2 * 1024 * 1024);
    try {
      for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 3 * 1024 * 1024 + 17]) {
        const data = randomBytes(size);
        for (let off = 0; off < size || off === 0; off += 70_001) {
          await hash.update(data.subarray(off, off + 70_001));
          if (size === 0) break;
        }
        expect(await hash.digest()).toBe(createHash('sha256').update(data).digest('hex'));
      }
    } finally {
      hash.close();
    }
  });
});
