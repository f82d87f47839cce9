/**
 * A strict, single-pass tar reader over a byte stream. It hands out each entry's body as it streams past (never
 * buffering a whole entry), and checks what lies between entries: header checksums, zero padding, the
 * end-of-archive marker, truncation, and that nothing follows the end.
 *
 * Over a file read at offsets (`PositionalSource`), an entry's body may also be skipped (`skip`): the reader then
 * reads only the headers, paddings and small bodies, front to back, and leaves a large body to whoever reads it at
 * its offset (ADR 022).
 */
import { AirlockError } from '../errors.js';
import { BLOCK, type TarHeader, decodeHeader, isZeroBlock, paddingFor } from './header.js';

/** An archive read at offsets: up to `length` bytes from `position`, fewer only at its end. */
export interface PositionalSource {
  readAt(position: number, length: number): Promise<Buffer>;
}

/** How much a positional reader reads at a time between large bodies. */
const POSITIONAL_READ = 64 * 1024;

export class TarReader {
  private readonly source: AsyncIterator<Buffer> | undefined;
  private readonly positional: PositionalSource | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private offset = 0;
  private bodyOpen = false;
  private ended = false;

  constructor(source: AsyncIterable<Buffer | Uint8Array> | PositionalSource) {
    if ('readAt' in source) this.positional = source;
    else this.source = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** Whether bodies can be skipped (`skip`): the archive is read at offsets. */
  get seekable(): boolean {
    return this.positional !== undefined;
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

  /**
   * Passes over the current entry's body without reading it (a positional source only), then checks its zero
   * padding. The body is for the caller to read at its offset (`position` before the call).
   */
  async skip(size: number): Promise<void> {
    if (!this.positional || !this.bodyOpen) throw new Error('TarReader.skip() needs a positional source and an open entry body');
    if (this.pending.length >= size) this.pending = this.pending.subarray(size);
    else this.pending = Buffer.alloc(0);
    this.offset += size;
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
    const next = await this.nextChunk();
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
      const next = await this.nextChunk();
      if (next.done) return;
      if (next.value.length) throw new AirlockError('BUNDLE_CORRUPT', `bytes after the end of the archive at byte ${this.offset}`);
    }
  }

  /** The next bytes of the stream, or of the file after what is already pending. */
  private async nextChunk(): Promise<IteratorResult<Buffer | Uint8Array>> {
    if (this.positional) {
      const bytes = await this.positional.readAt(this.offset + this.pending.length, POSITIONAL_READ);
      return bytes.length ? { done: false, value: bytes } : { done: true, value: undefined };
    }
    return (this.source as AsyncIterator<Buffer>).next();
  }
}
