/**
 * The content abstractions every byte mover in airlock is written against (after oras-go's content package).
 * Abilities are split into small interfaces; optional ones are detected with type guards.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from './descriptor.js';

export interface Fetcher {
  /** A stream of the blob's bytes. Implementations that can verify do so while streaming. */
  fetch(desc: Descriptor): Promise<Readable>;
}

export interface Pusher {
  /**
   * Stores `content`, verifying its size and digest against `desc` while streaming. Content that is already
   * present is success, not an error.
   */
  push(desc: Descriptor, content: Readable): Promise<void>;
}

export interface ReadOnlyStorage extends Fetcher {
  exists(desc: Descriptor): Promise<boolean>;
}

export interface Storage extends ReadOnlyStorage, Pusher {}

export interface Resolver {
  /** The descriptor a reference (tag or digest) points to. */
  resolve(reference: string): Promise<Descriptor>;
}

export interface Tagger {
  tag(desc: Descriptor, reference: string): Promise<void>;
}

export interface ReadOnlyTarget extends ReadOnlyStorage, Resolver {}

export interface Target extends Storage, Resolver, Tagger {}

/** Writes one blob whose bytes someone else verifies: committed only after they check out. */
export interface BlobWriter {
  write(chunk: Buffer): Promise<void>;
  /** Publishes the blob under its digest (the caller has verified size and digest). */
  commit(): Promise<void>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

/** Optional ability: take a blob's bytes while the caller hashes them (one hash per byte, not two). */
export interface Ingester {
  /** A writer for the blob, or undefined when it is already held (the caller still reads and verifies). */
  ingest(desc: Descriptor): Promise<BlobWriter | undefined>;
  /**
   * Optional: a file for the blob's bytes that someone else writes (a hashing thread that reads the bundle file at
   * the blob's offset, ADR 022), with the writer that then publishes it (`commit`: fsync, rename into place) or
   * removes it (`abort`); its `write` is not used. Undefined when the blob is already held.
   */
  ingestFile?(desc: Descriptor): Promise<IngestFile | undefined>;
}

export interface IngestFile {
  path: string;
  writer: BlobWriter;
}

/** Optional ability: a blob can be mounted from another repository of the same registry. */
export interface Mounter {
  mount(desc: Descriptor, fromRepository: string): Promise<boolean>;
}

export function canMount(value: unknown): value is Mounter {
  return typeof (value as Partial<Mounter>).mount === 'function';
}

/** Reads a whole (small) blob into memory. Only for manifests and configs, never layers. */
export async function fetchAll(src: Fetcher, desc: Descriptor, limit = 16 * 1024 * 1024): Promise<Buffer> {
  if (desc.size > limit) {
    throw new RangeError(`refusing to buffer ${desc.digest}: ${desc.size} bytes is over the ${limit}-byte limit for metadata`);
  }
  const stream = await src.fetch(desc);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
