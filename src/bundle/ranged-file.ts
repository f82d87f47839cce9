/**
 * A bundle file read at offsets (ADR 022): the bundle reader walks its headers and small bodies through `readAt`,
 * and each large blob is read and hashed at its offset on a thread of the pool, so that the blobs of one file are
 * hashed side by side on every core, with no ring between the read and the hash.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { AirlockError } from '../errors.js';
import { HashPool, RangeShortError } from '../hash-pool.js';
import type { RangedArchive } from './reader.js';

export interface RangedFile extends RangedArchive {
  size: number;
  close(): Promise<void>;
}

export async function openRangedFile(path: string, pool: HashPool): Promise<RangedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new AirlockError('NOT_FOUND', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const { size } = await handle.stat();
  return {
    size,
    async readAt(position, length) {
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - position)));
      if (buf.length === 0) return buf;
      const { bytesRead } = await handle.read(buf, 0, buf.length, position);
      return buf.subarray(0, bytesRead);
    },
    hashRange(position, length, copyTo) {
      return pool.hashFileRange(path, position, length, copyTo).catch((err: unknown) => {
        if (err instanceof RangeShortError) {
          throw new AirlockError('BUNDLE_TRUNCATED', `the archive ends early, at byte ${position + err.available}, inside an entry body`);
        }
        throw err;
      });
    },
    close: () => handle.close(),
  };
}

/**
 * A bundle file read at offsets with a pool of its own (two threads, started now, while the signature is checked),
 * for one read; `close` stops the threads once the ranges in flight let go of their files, then closes the file.
 */
export async function openRangedBundle(path: string): Promise<{ file: RangedFile; close(): Promise<void> }> {
  const pool = new HashPool({ slots: 1, eager: true });
  try {
    const file = await openRangedFile(path, pool);
    return {
      file,
      close: async () => {
        await pool.stop();
        await file.close();
      },
    };
  } catch (err) {
    pool.close();
    throw err;
  }
}
