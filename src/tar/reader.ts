/**
 * A strict, single-pass tar reader over a byte stream. It hands out each entry's body as it streams past (never
 * buffering a whole entry), and checks what lies between entries: header checksums, zero padding, the
 * end-of-archive marker, truncation, and that nothing follows the end.
 */
import { AirlockError } from '../errors.js';
import { BLOCK, type TarHeader, decodeHeader, isZeroBlock, paddingFor } from './header.js';

export class TarReader {
  private readonly source: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private offset = 0;
  private bodyOpen = false;
  private ended = false;

  constructor(source: AsyncIterable<Buffer | Uint8Array>) {
    this.source = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.offset;
  }

  /**
   * The next entry's header, or null at a valid end of archive (two zero blocks, then nothing). The previous
   * entry's body must have been read fully.
   */
  async next(): Promise<TarHeader | null> {
    if (this.bodyOpen) throw new Error('TarReader.next() called before the previous entry body was consumed');
    if (this.ended) return null;
    const at = this.offset;
    const block = await this.readExact(BLOCK, 'an entry header');
    if (isZeroBlock(block)) {
      const second = await this.readExact(BLOCK, 'the end-of-archive marker');
      if (!isZeroBlock(second)) throw new AirlockError('BUNDLE_CORRUPT', `malformed end-of-archive marker at byte ${at}`);
      await this.expectEof();
      this.ended = true;
      return null;
    }
    const header = decodeHeader(block, at);
    this.bodyOpen = true;
    return header;
  }

  /** Streams the current entry's body (exactly `size` bytes), then checks its zero padding. */
  async *body(size: number): AsyncGenerator<Buffer> {
    let left = size;
    while (left > 0) {
      if (this.pending.length === 0) await this.fill('an entry body');
      const take = Math.min(left, this.pending.length);
      const chunk = this.pending.subarray(0, take);
      this.pending = this.pending.subarray(take);
      this.offset += take;
      left -= take;
      yield chunk;
    }
    const pad = paddingFor(size);
    if (pad) {
      const padding = await this.readExact(pad, 'entry padding');
      if (!isZeroBlock(padding)) throw new AirlockError('BUNDLE_CORRUPT', `non-zero padding after an entry, before byte ${this.offset}`);
    }
    this.bodyOpen = false;
  }

  /** Reads a small entry body whole, refusing bodies over `limit` bytes. */
  async readBody(header: TarHeader, limit: number): Promise<Buffer> {
    if (header.size > limit) {
      throw new AirlockError('BUNDLE_CORRUPT', `entry ${header.name} is ${header.size} bytes, over the ${limit}-byte limit for metadata`);
    }
    const parts: Buffer[] = [];
    for await (const chunk of this.body(header.size)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  private async readExact(n: number, what: string): Promise<Buffer> {
    while (this.pending.length < n) await this.fill(what);
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.offset += n;
    return out;
  }

  private async fill(what: string): Promise<void> {
    const next = await this.source.next();
    if (next.done) {
      throw new AirlockError('BUNDLE_TRUNCATED', `the archive ends early, at byte ${this.offset + this.pending.length}, inside ${what}`);
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
  }

  private async expectEof(): Promise<void> {
    if (this.pending.length) {
      throw new AirlockError('BUNDLE_CORRUPT', `${this.pending.length}+ bytes after the end of the archive at byte ${this.offset}`);
    }
    for (;;) {
      const next = await this.source.next();
      if (next.done) return;
      if (next.value.length) throw new AirlockError('BUNDLE_CORRUPT', `bytes after the end of the archive at byte ${this.offset}`);
    }
  }
}
