import { Readable } from 'node:stream';
import type { Descriptor } from './descriptor.js';
import { verifyBytes } from './digest.js';
import { AirlockError } from './errors.js';
import type { Target } from './storage.js';

/** A content store in memory, for small graphs (metadata) and tests. */
export class MemoryStore implements Target {
  private readonly blobs = new Map<string, Buffer>();
  private readonly tags = new Map<string, Descriptor>();

  async exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    return Readable.from([this.bytes(desc)]);
  }

  /** The stored bytes of a blob, synchronously. */
  bytes(desc: Pick<Descriptor, 'digest'>): Buffer {
    const bytes = this.blobs.get(desc.digest);
    if (!bytes) throw new AirlockError('BLOB_UNKNOWN', `blob ${desc.digest} is not in the memory store`);
    return bytes;
  }

  /** The stored bytes of a blob, or undefined. */
  get(digest: string): Buffer | undefined {
    return this.blobs.get(digest);
  }

  has(digest: string): boolean {
    return this.blobs.has(digest);
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of content) chunks.push(chunk as Buffer);
    this.pushBytes(desc, Buffer.concat(chunks));
  }

  pushBytes(desc: Descriptor, bytes: Buffer): void {
    verifyBytes(bytes, desc);
    this.blobs.set(desc.digest, bytes);
  }

  async resolve(reference: string): Promise<Descriptor> {
    const desc = this.tags.get(reference);
    if (!desc) throw new AirlockError('NOT_FOUND', `reference ${reference} is not in the memory store`);
    return desc;
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    this.tags.set(reference, desc);
  }
}
