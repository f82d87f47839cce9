import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readlinkSync } from 'node:fs';
import { HashPool, RangeShortError } from '../../src/hash-pool.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('hash pool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-pool-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives node:crypto digests for many blobs fed at once in odd pieces, through a ring far smaller than they are', async () => {
    // 6 slots of 64 KiB: every blob is larger than the ring, so slots are reused many times over and updates wait.
    const pool = new HashPool({ slotSize: 64 * 1024, slots: 6 });
    try {
      const blobs = [0, 1, 65_535, 65_536, 700_001, 1_500_000].map((n) => randomBytes(n));
      const hashes = blobs.map(() => pool.hasher());
      const step = 50_003;
      const longest = Math.max(...blobs.map((b) => b.length));
      for (let off = 0; off < longest; off += step) {
        for (const [i, blob] of blobs.entries()) if (off < blob.length) await hashes[i]?.update(blob.subarray(off, off + step));
      }
      const digests = await Promise.all(hashes.map((h) => h.digest()));
      expect(digests).toEqual(blobs.map(sha));
    } finally {
      pool.close();
    }
  });

  it('hashes file ranges on its threads, side by side, rejects a range past the end, and stops with no descriptor left open', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17); // over two of a worker's 1 MiB reads
    const path = join(dir, 'ranges.bin');
    await writeFile(path, data);
    // Descriptors of this process open on the file (the workers' own are the process's).
    const openOnFile = () => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === path; } catch { return false; } }).length;
    const pool = new HashPool({ slots: 1 });
    try {
      const ranges: [number, number][] = [[0, data.length], [0, 0], [5, 1], [1024 * 1024 - 3, 1024 * 1024 + 11], [data.length - 100, 100]];
      expect(await Promise.all(ranges.map(([p, n]) => pool.hashFileRange(path, p, n)))).toEqual(ranges.map(([p, n]) => sha(data.subarray(p, p + n))));
      await expect(pool.hashFileRange(path, data.length - 10, 20)).rejects.toMatchObject({ name: 'RangeShortError', available: 10 });
      await expect(pool.hashFileRange(join(dir, 'absent.bin'), 0, 1)).rejects.toThrow('ENOENT');
      // Stopped with ranges in flight: they end at their next read and close their files first.
      const inFlight = [0, 1, 2, 3].map(() => pool.hashFileRange(path, 0, data.length).catch((err: Error) => err));
      await new Promise((resolve) => setTimeout(resolve, 5));
      await pool.stop();
      for (const r of await Promise.all(inFlight)) expect(typeof r === 'string' || r instanceof Error).toBe(true);
      expect(openOnFile()).toBe(0);
      await expect(pool.hashFileRange(path, 0, 1)).rejects.toThrow('closed');
    } finally {
      pool.close();
    }
    expect(RangeShortError).toBeDefined();
  });

  it('reads files straight into the ring, each chunk intact until the one after the next is taken, across files', async () => {
    const pool = new HashPool({ slotSize: 16 * 1024, slots: 5 });
    const files = [randomBytes(100_000), randomBytes(16 * 1024), randomBytes(3)];
    const paths = await Promise.all(files.map(async (data, i) => {
      const path = join(dir, `f${i}`);
      await writeFile(path, data);
      return path;
    }));
    const reader = pool.reader();
    const whole = pool.hasher();
    try {
      const seen: Buffer[] = [];
      let previous: { view: Buffer; copy: Buffer } | undefined;
      for (const path of paths) {
        for await (const chunk of reader.file(path)) {
          expect(chunk.buffer).toBeInstanceOf(SharedArrayBuffer); // a view of the ring, not a fresh buffer
          // The previous chunk has not been overwritten by this read (a tar reader may still be joining it).
          if (previous) expect(previous.view.equals(previous.copy)).toBe(true);
          previous = { view: chunk, copy: Buffer.from(chunk) };
          seen.push(previous.copy);
          await whole.update(chunk);
        }
      }
      const all = Buffer.concat(files);
      expect(Buffer.concat(seen).equals(all)).toBe(true);
      expect(await whole.digest()).toBe(sha(all));
    } finally {
      reader.close();
      pool.close();
    }
  });

  it('fails pending and later digests once closed, and keeps nothing in flight after an abort', async () => {
    const pool = new HashPool({ slotSize: 1024, slots: 4 });
    const aborted = pool.hasher();
    await aborted.update(randomBytes(5000));
    aborted.abort();
    const kept = pool.hasher();
    await kept.update(Buffer.from('abc'));
    expect(await kept.digest()).toBe(sha(Buffer.from('abc')));
    const late = pool.hasher();
    pool.close();
    await expect(late.digest()).rejects.toThrow('closed');
    await expect(late.update(Buffer.from('x'))).rejects.toThrow('closed');
  });
});
