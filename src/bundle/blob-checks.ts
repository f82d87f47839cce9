/**
 * The large blobs of a bundle, verified off the read loop (ADR 019): each blob's bytes go to a hash on the pool and
 * to its writer as they are read; the read moves on to the next blob while the pool finishes the hash. Outcomes
 * settle strictly in archive order: a blob is committed only after its digest matched and every blob before it
 * checked out, and the error reported is always the first bad blob of the archive (ADR 001), even when a later
 * one's hash finished first or the read failed further on.
 */
import type { Descriptor } from '../descriptor.js';
import { AirlockError } from '../errors.js';
import type { HashPool } from '../hash-pool.js';
import type { BlobWriter } from '../storage.js';

export class OrderedBlobChecks {
  private chain: Promise<void> = Promise.resolve();
  private failure: { err: unknown } | undefined;
  private readonly unsettled: Promise<void>[] = [];

  /** `maxUnsettled` bounds the blobs read but not yet settled (each may hold an open writer). */
  constructor(
    private readonly pool: HashPool,
    private readonly maxUnsettled = 8,
  ) {}

  /** Throws the first failure settled so far. */
  check(): void {
    if (this.failure) throw this.failure.err;
  }

  /**
   * Reads one blob's body into the pool's hash and the writer; returns once it is read (not yet verified).
   * `onVerified` runs, in archive order, after the digest matched and the writer committed.
   */
  async add(desc: Descriptor, label: string, body: AsyncIterable<Buffer>, writer: BlobWriter | undefined, onVerified: () => void): Promise<void> {
    while (this.unsettled.length >= this.maxUnsettled) await this.unsettled.shift();
    const hash = this.pool.hasher();
    try {
      this.check();
      for await (const chunk of body) {
        this.check();
        await hash.update(chunk);
        // A writer may keep a chunk after `write` resolved (a stream's buffer): a view of the pool's ring, which is
        // reused as soon as it is hashed, goes to it as a copy.
        if (writer) await writer.write(chunk.buffer instanceof SharedArrayBuffer ? Buffer.from(chunk) : chunk);
      }
    } catch (err) {
      hash.abort();
      await writer?.abort();
      throw err;
    }
    this.settle(desc, label, hash.digest(), writer, onVerified);
  }

  /**
   * A blob hashed elsewhere (read at its offset, and written to the writer's file, by a pool thread: ADR 022): its
   * digest, once known, settles in archive order like those read through `add`, and the writer commits or aborts
   * then. Returns once fewer than `maxUnsettled` blobs are unsettled.
   */
  async addHashed(desc: Descriptor, label: string, digest: Promise<string>, writer: BlobWriter | undefined, onVerified: () => void): Promise<void> {
    digest.catch(() => undefined); // awaited in order by settle
    this.settle(desc, label, digest, writer, onVerified);
    while (this.unsettled.length >= this.maxUnsettled) await this.unsettled.shift();
  }

  private settle(desc: Descriptor, label: string, digest: Promise<string>, writer: BlobWriter | undefined, onVerified: () => void): void {
    digest.catch(() => undefined); // awaited in order below
    const previous = this.chain;
    const step = (async () => {
      await previous;
      try {
        if (this.failure) throw this.failure.err;
        const actual = `sha256:${await digest}`;
        if (actual !== desc.digest) throw new AirlockError('DIGEST_MISMATCH', `${label}: content digest is ${actual}, expected ${desc.digest}`);
        await writer?.commit();
        onVerified();
      } catch (err) {
        this.failure ??= { err };
        await digest.catch(() => undefined); // whoever writes the blob's file (a pool thread) is done with it first
        await writer?.abort().catch(() => undefined);
      }
    })();
    this.chain = step;
    this.unsettled.push(step);
  }

  /** Waits for every blob read so far to settle; throws the first failure. */
  async finish(): Promise<void> {
    await this.chain;
    this.unsettled.length = 0;
    this.check();
  }

  /**
   * After the read failed with `err`: lets the blobs before settle, and returns the error to report: a bad blob
   * before the point of failure comes first in the archive, so it is the one named.
   */
  async failed(err: unknown): Promise<unknown> {
    await this.chain;
    return this.failure ? this.failure.err : err;
  }
}
