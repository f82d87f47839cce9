/**
 * A local bundle (one file or split parts) read once, front to back, with the bundle reader: every digest and, for
 * parts, every part's sha256 checked; the archive's own sha256 taken; each blob's offset noted. Afterwards its
 * blobs can be read again by range, concurrently, as a source for the copy engine.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AirlockError } from '../errors.js';
import { type VerifiedStatement, readBundle } from '../bundle/reader.js';
import { type BundleContents } from '../bundle/reader.js';
import { locateBundle, openBundleSource } from '../bundle/parts-source.js';
import type { PartsIndex } from '../bundle/parts.js';
import type { ReadOnlyStorage } from '../storage.js';
import { BLOCK, paddingFor } from '../tar/header.js';
import { OCI_LAYOUT_CONTENT } from '../oci-layout.js';
import { layoutIndexFor } from '../bundle/format.js';
import { planBundle } from '../bundle/plan.js';

export interface ScannedBundle {
  contents: BundleContents;
  /** The envelope text exactly as the archive carries it. */
  signature: string;
  size: number;
  sha256: string;
  parts?: PartsIndex;
  /** Reads the large blobs again, by range, and serves the metadata from memory. */
  storage: ReadOnlyStorage;
}

export interface ScanOptions {
  path: string;
  verifyStatement: (text: string) => VerifiedStatement;
  readIndex: (text: string, label: string) => PartsIndex;
}

export async function scanBundle({ path, verifyStatement, readIndex }: ScanOptions): Promise<ScannedBundle> {
  const opened = await openBundleSource(path, { readIndex });
  const hash = createHash('sha256');
  let size = 0;
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of opened.source) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  let signature = '';
  let position = 0;
  const offsets = new Map<string, number>();
  const metaOrder: string[] = [];
  let contents: BundleContents;
  try {
    contents = await readBundle({
      source: hashed(),
      verifyStatement: (text) => {
        signature = text;
        const verified = verifyStatement(text);
        opened.checkRoot(verified.statement.root.digest);
        return verified;
      },
      onBytes: (p) => (position = p),
      onMetadata: (desc) => void metaOrder.push(desc.digest),
      // The blob's body starts where the reader stands when it asks for a writer.
      blobSink: {
        ingest: async (desc) => {
          offsets.set(desc.digest, position);
          return { write: async () => undefined, commit: async () => undefined, abort: async () => undefined };
        },
      },
      // A delta leaves blobs out for its base: the depot must already hold them (checked when the root is pushed).
      isHeld: () => true,
    });
  } catch (err) {
    throw await opened.explain(err);
  } finally {
    opened.close();
  }
  checkCanonical(contents, signature, metaOrder, size, path);
  const where = await locateBundle(path);
  const segments = opened.parts && where.kind === 'parts'
    ? opened.parts.parts.map((p) => ({ path: join(where.dir, p.name), size: p.size }))
    : [{ path, size }];
  if (opened.parts) await Promise.all(segments.map(async (s) => ((await stat(s.path)).size === s.size ? undefined : Promise.reject(new AirlockError('PART_INVALID', `${s.path} changed while being read`)))));
  const storage: ReadOnlyStorage = {
    exists: async (desc) => contents.metadata.has(desc.digest) || offsets.has(desc.digest),
    fetch: async (desc) => {
      const meta = contents.metadata.get(desc.digest);
      if (meta) return Readable.from([meta]);
      const offset = offsets.get(desc.digest);
      if (offset === undefined) throw new AirlockError('BLOB_UNKNOWN', `${path} does not carry blob ${desc.digest}`);
      return Readable.from(readRange(segments, offset, desc.size), { objectMode: false });
    },
  };
  return { contents, signature, size, sha256: hash.digest('hex'), ...(opened.parts ? { parts: opened.parts } : {}), storage };
}

/**
 * The depot rebuilds archives with the bundle writer, so only an archive the writer would have written byte for
 * byte can be pushed: large blobs in plan order, nothing after the end-of-archive blocks.
 */
function checkCanonical(contents: BundleContents, signature: string, metaOrder: string[], size: number, path: string): void {
  const left = new Set(contents.leftOut.map((d) => d.digest));
  const plan = planBundle(contents.root, (d) => contents.metadata.get(d));
  const carried = plan.blobs.filter((b) => !left.has(b.digest));
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  const entry = (n: number) => BLOCK + n + paddingFor(n);
  const expectedSize =
    entry(Buffer.byteLength(OCI_LAYOUT_CONTENT)) +
    entry(Buffer.byteLength(layoutIndexFor(contents.root, contents.rootIndex))) +
    entry(Buffer.byteLength(signature)) +
    plan.metadata.reduce((n, d) => n + entry(d.size), 0) +
    carried.reduce((n, d) => n + entry(d.size), 0) +
    2 * BLOCK;
  const inOrder = same(plan.metadata.map((d) => d.digest), metaOrder) && same(carried.map((d) => d.digest), contents.blobs.map((d) => d.digest));
  if (!inOrder || size !== expectedSize) {
    throw new AirlockError('BUNDLE_CORRUPT', `${path} is a valid bundle but not in the canonical form airlock writes (entry order or trailing bytes differ), so a pull could not reproduce it byte for byte; rebuild it with airlock bundle create`);
  }
}

/** `length` bytes from `offset` of the segments joined. */
async function* readRange(segments: { path: string; size: number }[], offset: number, length: number): AsyncGenerator<Buffer> {
  let skip = offset;
  let left = length;
  for (const seg of segments) {
    if (left === 0) return;
    if (skip >= seg.size) {
      skip -= seg.size;
      continue;
    }
    const take = Math.min(seg.size - skip, left);
    if (take > 0) {
      for await (const chunk of createReadStream(seg.path, { start: skip, end: skip + take - 1, highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
    }
    left -= take;
    skip = 0;
  }
  if (left > 0) throw new AirlockError('BUNDLE_TRUNCATED', `the bundle ended ${left} bytes short of a blob`);
}
