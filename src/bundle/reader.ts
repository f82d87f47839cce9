/**
 * The bundle reader: one forward pass over the archive, no staging (a file with nothing to store may have its large
 * blobs hashed at their offsets, ADR 022; its headers are still walked front to back). It checks the signature
 * (through the injected `verifyStatement`) before any blob, learns every expected digest and size from the signed
 * root before the first large blob, and hashes each blob as it streams past, on a pool of hashing threads (ADR
 * 019): blobs settle in archive order, so the first bad one is the one named. Anything unexpected aborts the read.
 */
import type { Descriptor } from '../descriptor.js';
import { verifyBytes } from '../digest.js';
import { AirlockError } from '../errors.js';
import { childrenOf, hasChildren, parseJson, platformsOf } from '../graph.js';
import { OCI_LAYOUT_CONTENT, type OciIndex } from '../oci-layout.js';
import { createHash } from 'node:crypto';
import { type HashPool, sharedHashPool } from '../hash-pool.js';
import type { BlobWriter, Ingester } from '../storage.js';
import { type PositionalSource, TarReader } from '../tar/reader.js';
import { BLOCK, type TarHeader, encodeHeader, paddingFor } from '../tar/header.js';
import {
  BLOB_ENTRY_RE,
  ENTRY_INDEX,
  ENTRY_LAYOUT,
  ENTRY_SIGNATURE,
  MAX_INDEX_JSON,
  MAX_METADATA_BLOB,
  MAX_SIGNATURE_JSON,
  type Statement,
  layoutIndexFor,
} from './format.js';
import { OrderedBlobChecks } from './blob-checks.js';

export interface VerifiedStatement {
  statement: Statement;
  signers: string[];
}

/**
 * A bundle file read at offsets (ADR 022): the reader walks its headers and small bodies front to back and has each
 * large blob hashed at its offset (`hashRange`, hex SHA-256; rejects when the file ends inside the range), several
 * at once: `bundle verify` of a file, and an appliance's import of a file whose blob sink can take a blob as a file
 * (`Ingester.ingestFile`).
 */
export interface RangedArchive extends PositionalSource {
  /** With `copyTo`, the bytes are also written to that file and synced (a blob sink's ingest file). */
  hashRange(position: number, length: number, copyTo?: string): Promise<string>;
}

export interface ReadBundleOptions {
  /** The archive as one stream, or a file read at offsets (read so only when any `blobSink` has `ingestFile`). */
  source: AsyncIterable<Buffer | Uint8Array> | RangedArchive;
  /** Checks the envelope text against the trust policy; throws to reject. Called before any blob is read. */
  verifyStatement: (envelopeText: string) => VerifiedStatement | Promise<VerifiedStatement>;
  /** Receives metadata blobs once verified. */
  onMetadata?: (desc: Descriptor, bytes: Buffer) => void | Promise<void>;
  /** Receives large blobs. The reader verifies every blob's bytes itself (held ones too) and commits only good ones. */
  blobSink?: Ingester;
  /** Whether a blob left out of the archive is acceptable (delta bundles): true when the site already holds it. */
  isHeld?: (desc: Descriptor) => boolean | Promise<boolean>;
  /** Called after each large blob is verified (and committed to the sink). */
  onBlob?: (desc: Descriptor) => void;
  /** Stop after the metadata (for inspect): large blobs are not read. */
  metadataOnly?: boolean;
  onBytes?: (position: number) => void;
  /**
   * Where large blobs are hashed. Default: the process's shared pool (two threads). Pass the pool that reads the
   * source (`HashPool.readFile`) so that its chunks are hashed without a copy.
   */
  hashPool?: HashPool;
  /**
   * The archive's last bytes (default 8 MiB) are hashed in the read loop once every blob before them settled, so
   * that a bad blob fails the read before the source's end is pulled. 0 puts every blob on the pool.
   */
  inlineTail?: number;
}

export interface BundleContents extends VerifiedStatement {
  root: Descriptor;
  rootIndex: OciIndex;
  metadata: Map<string, Buffer>;
  /** Large blobs, in archive order, that were read and verified. */
  blobs: Descriptor[];
  /** Large blobs the signed root lists that the archive left out (only for delta bundles, only held ones). */
  leftOut: Descriptor[];
  /** Bytes of the archive read. */
  bytesRead: number;
}

export async function readBundle(opts: ReadBundleOptions): Promise<BundleContents> {
  const tar = new TarReader(opts.source);

  const layout = await expectEntry(tar, ENTRY_LAYOUT, 64);
  if (layout.toString('utf8') !== OCI_LAYOUT_CONTENT) throw corrupt(`${ENTRY_LAYOUT} has unexpected content`);
  const indexJson = (await expectEntry(tar, ENTRY_INDEX, MAX_INDEX_JSON)).toString('utf8');
  const signatureText = (await expectEntry(tar, ENTRY_SIGNATURE, MAX_SIGNATURE_JSON)).toString('utf8');
  const verified = await opts.verifyStatement(signatureText);
  const root = verified.statement.root;

  const expectedMeta = new Map<string, Descriptor>([[root.digest, root]]);
  const metadata = new Map<string, Buffer>();
  const expectedBlobs = new Map<string, Descriptor>();
  const received = new Set<string>();
  const blobs: Descriptor[] = [];
  let rootIndex: OciIndex | undefined;
  let phase: 'metadata' | 'blobs' = 'metadata';
  let expectedEnd = Infinity;

  const finishMetadata = () => {
    const missing = [...expectedMeta.keys()].filter((d) => !metadata.has(d));
    if (missing.length) throw corrupt(`metadata blob ${missing[0]} is missing or out of order (${missing.length} missing)`);
    for (const digest of metadata.keys()) expectedBlobs.delete(digest);
    if (!rootIndex) throw corrupt('the signed root is missing');
    if (indexJson !== layoutIndexFor(root, rootIndex)) throw corrupt(`${ENTRY_INDEX} does not match the signed root`);
    phase = 'blobs';
    // Called with the first large blob's header read: where the archive ends if it carries every blob listed.
    expectedEnd = tar.position - BLOCK + [...expectedBlobs.values()].reduce((n, d) => n + BLOCK + d.size + paddingFor(d.size), 0) + 2 * BLOCK;
  };

  let checks: OrderedBlobChecks | undefined;
  let committing: Promise<void> = Promise.resolve();
  // A file read at offsets, with nothing to store or a sink that takes each blob as a file: large blobs are hashed
  // (and written) where they lie, side by side. Progress is then the end of the last blob settled, not how far the
  // walk over the headers got.
  const ranged = tar.seekable && (!opts.blobSink || opts.blobSink.ingestFile) ? (opts.source as RangedArchive) : undefined;
  try {
    for (;;) {
      const header = await tar.next();
      if (!ranged) opts.onBytes?.(tar.position);
      if (!header) break;
      const digest = blobDigest(header);
      if (received.has(digest)) throw corrupt(`duplicate entry ${header.name}`);

      if (phase === 'metadata') {
        const expected = expectedMeta.get(digest);
        if (expected) {
          if (header.size !== expected.size) throw sizeMismatch(header, expected);
          const bytes = await tar.readBody(header, MAX_METADATA_BLOB);
          verifyBytes(bytes, expected, header.name);
          received.add(digest);
          metadata.set(digest, bytes);
          if (digest === root.digest) rootIndex = parseJson<OciIndex>(bytes, 'the bundle root');
          if (hasChildren(expected)) {
            const children = childrenOf(expected, bytes, platformsOf(expected));
            for (const c of children.metadata) if (!expectedMeta.has(c.digest)) expectedMeta.set(c.digest, c);
            for (const b of children.blobs) if (!expectedBlobs.has(b.digest)) expectedBlobs.set(b.digest, b);
          }
          await opts.onMetadata?.(expected, bytes);
          continue;
        }
        finishMetadata();
        if (opts.metadataOnly) break;
      }

      const desc = expectedBlobs.get(digest);
      if (!desc) throw corrupt(`entry ${header.name} is not listed by the signed root`);
      if (header.size !== desc.size) throw sizeMismatch(header, desc);
      received.add(digest);
      checks ??= new OrderedBlobChecks(opts.hashPool ?? sharedHashPool());
      if (ranged) {
        const end = tar.position + header.size + paddingFor(header.size);
        checks.check();
        const target = await opts.blobSink?.ingestFile?.(desc);
        await checks.addHashed(desc, header.name, ranged.hashRange(tar.position, header.size, target?.path), target?.writer, () => {
          blobs.push(desc);
          opts.onBlob?.(desc);
          opts.onBytes?.(end);
        });
        await tar.skip(header.size);
        continue;
      }
      // The archive's last bytes are checked in line, once every blob before them settled: a bad blob then fails the
      // read while the source still has bytes to give (an upload's sender gets the error, not "accepted"), as when
      // every blob was hashed in the read loop. (A delta that leaves blobs out ends earlier than this estimate.)
      const inTail = expectedEnd - (tar.position - BLOCK) <= (opts.inlineTail ?? INLINE_TAIL);
      if (inTail) await checks.finish();
      else checks.check();
      const writer = await opts.blobSink?.ingest(desc);
      const verified = () => {
        blobs.push(desc);
        opts.onBlob?.(desc);
      };
      if (inTail) {
        await verifyInline(tar.body(header.size), desc, header.name, writer);
        // The blob checked out. Its commit (fsync, rename, fsync of the directory) runs while the next blob is read
        // and hashed, one commit at a time and in order, so the disk's writeback overlaps the hashing instead of
        // stopping the read (the import spent 1.5 s of 3.3 s waiting on it, bench/RESULTS.md). A failed commit
        // fails the read at the next blob or at the end; nothing is reported verified before its commit.
        try {
          await committing;
        } catch (err) {
          await writer?.abort().catch(() => undefined);
          throw err;
        }
        committing = commitThen(writer, verified);
      } else await checks.add(desc, header.name, tar.body(header.size), writer, verified);
      opts.onBytes?.(tar.position);
    }
    await committing;
    await checks?.finish();
  } catch (err) {
    await committing.catch(() => undefined); // the previous blob's commit settles before the error goes out
    throw checks ? await checks.failed(err) : err;
  }

  if (phase === 'metadata') finishMetadata();
  const leftOut: Descriptor[] = [];
  if (!opts.metadataOnly) {
    const absent = [...expectedBlobs.values()].filter((d) => !received.has(d.digest));
    if (absent.length) {
      const base = verified.statement.base ?? (verified.statement.baseSite ? `the receipt of appliance ${verified.statement.baseSite.slice(0, 12)}` : undefined);
      if (!base) {
        throw new AirlockError('BUNDLE_TRUNCATED', `the archive lacks ${absent.length} blob(s) its signed root lists, first ${absent[0]?.digest}`);
      }
      const notHeld: Descriptor[] = [];
      for (const d of absent) if (!(await opts.isHeld?.(d))) notHeld.push(d);
      if (notHeld.length) {
        throw new AirlockError(
          'BASE_MISSING',
          `this delta bundle needs ${notHeld.length} blob(s) from its base ${base} that are not held here: ${notHeld.map((d) => d.digest).join(', ')}`,
        );
      }
      leftOut.push(...absent);
    }
  }
  if (!rootIndex) throw corrupt('the signed root is missing');
  return { ...verified, root, rootIndex, metadata, blobs, leftOut, bytesRead: tar.position };
}

async function expectEntry(tar: TarReader, name: string, limit: number): Promise<Buffer> {
  const header = await tar.next();
  if (!header) throw new AirlockError('BUNDLE_TRUNCATED', `the archive ends before ${name}`);
  checkSafe(header);
  if (header.name !== name) throw corrupt(`expected entry ${name}, found ${header.name}`);
  return tar.readBody(header, limit);
}

function blobDigest(header: TarHeader): string {
  checkSafe(header);
  const match = BLOB_ENTRY_RE.exec(header.name);
  if (!match) throw corrupt(`unlisted entry ${header.name}`);
  return `sha256:${match[1]}`;
}

function checkSafe(header: TarHeader): void {
  if (header.type === '1' || header.type === '2') {
    throw new AirlockError('BUNDLE_UNSAFE_ENTRY', `entry ${header.name} is a ${header.type === '1' ? 'hard' : 'symbolic'} link; bundles hold regular files only`);
  }
  if (header.name.startsWith('/') || header.name.split('/').some((part) => part === '..')) {
    throw new AirlockError('BUNDLE_UNSAFE_ENTRY', `entry ${header.name} has an absolute or parent-relative path`);
  }
  if (header.type !== '0') throw new AirlockError('BUNDLE_UNSAFE_ENTRY', `entry ${header.name} is not a regular file (type ${header.type})`);
  if (Buffer.byteLength(header.name) > 100) throw corrupt(`unlisted entry ${header.name.slice(0, 120)}`);
  // Bundles carry exactly the headers airlock writes, so no header byte (not even the checksum field's own
  // terminators, which the checksum does not cover) can change unnoticed.
  if (!header.raw.equals(encodeHeader(header.name, header.size))) throw corrupt(`entry ${header.name} has a non-canonical tar header`);
}

function sizeMismatch(header: TarHeader, desc: Descriptor): AirlockError {
  return new AirlockError('SIZE_MISMATCH', `entry ${header.name} is ${header.size} bytes, the signed root says ${desc.size}`);
}

function corrupt(message: string): AirlockError {
  return new AirlockError('BUNDLE_CORRUPT', message);
}

/** The last bytes of an archive (under this many) are hashed in the read loop, not on the pool. */
const INLINE_TAIL = 8 * 1024 * 1024;

/** Verifies a body in the read loop (the archive's tail), writing it as it passes; aborts the writer on failure. */
async function verifyInline(body: AsyncIterable<Buffer>, desc: Descriptor, label: string, writer: BlobWriter | undefined): Promise<void> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      if (writer) await writer.write(chunk.buffer instanceof SharedArrayBuffer ? Buffer.from(chunk) : chunk);
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== desc.digest) throw new AirlockError('DIGEST_MISMATCH', `${label}: content digest is ${actual}, expected ${desc.digest}`);
  } catch (err) {
    await writer?.abort();
    throw err;
  }
}

/** Commits a verified blob, then reports it; started without waiting (see readBundle), its failure kept for later. */
function commitThen(writer: BlobWriter | undefined, verified: () => void): Promise<void> {
  const done = (async () => {
    try {
      await writer?.commit();
    } catch (err) {
      await writer?.abort().catch(() => undefined);
      throw err;
    }
    verified();
  })();
  done.catch(() => undefined); // awaited by the read loop; no unhandled rejection meanwhile
  return done;
}
