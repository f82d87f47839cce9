/**
 * The bundle writer. Metadata (already fetched and signed over) goes first; then each large blob streams from
 * its source straight into the archive, its digest checked on the way (on the hash pool's threads, ADR 019), to one
 * file or to split parts (archive-output.ts: written under temporary names, moved into place only when every
 * digest checked out).
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../descriptor.js';
import { VerifyingStream } from '../digest.js';
import { type HashPool, sharedHashPool } from '../hash-pool.js';
import { OCI_LAYOUT_CONTENT, type OciIndex } from '../oci-layout.js';
import { BLOCK, encodeHeader, paddingFor } from '../tar/header.js';
import { type ArchiveOutput, fileOutput, splitOutput } from './archive-output.js';
import { ENTRY_INDEX, ENTRY_LAYOUT, ENTRY_SIGNATURE, blobEntryName, layoutIndexFor } from './format.js';
import type { PartEntry } from './parts.js';
import { planBundle } from './plan.js';
import { OrderedBlobChecks } from './blob-checks.js';

export interface WriteBundleOptions {
  /** Final path; the archive appears there only when complete. */
  out: string;
  /** Write here instead of to `out` (e.g. standard output). */
  output?: ArchiveOutput;
  /** Split the archive into parts of this many bytes next to `out` (`NAME.000`, …) instead of one file. */
  splitSize?: number;
  root: Descriptor;
  /** Every manifest, index and config below the root, by digest. */
  metadata: (digest: string) => Buffer | undefined;
  /** The serialised signature envelope over the statement naming `root`. */
  signature: string;
  /** Opens a large blob's bytes at its source. */
  openBlob: (desc: Descriptor) => Promise<Readable>;
  /** Names a blob in errors, e.g. "image registry/app:1 layer sha256:…". */
  describeBlob?: (desc: Descriptor) => string;
  /** Large blobs to leave out (a delta's base holds them). */
  leaveOut?: (desc: Descriptor) => boolean;
  onBytes?: (n: number) => void;
  /** Called once the plan is known with the archive's total size. */
  onPlan?: (totalBytes: number, blobs: Descriptor[]) => void;
  /** Where blobs' digests are checked (default: the process's shared pool). */
  hashPool?: HashPool;
  /**
   * Sizes only, no digests: the consumer hashes every byte of the archive itself (the appliance's depot import feeds
   * it to the import pipeline, which verifies every blob and names the first bad one; ADR 016).
   */
  sizesOnly?: boolean;
}

export interface WrittenBundle {
  path: string;
  size: number;
  blobs: Descriptor[];
  leftOut: Descriptor[];
  /** With `splitSize`: the parts written, in order. */
  parts?: PartEntry[];
}

export async function writeBundle(opts: WriteBundleOptions): Promise<WrittenBundle> {
  const { out, root, metadata, signature, openBlob, leaveOut = () => false } = opts;
  const plan = planBundle(root, metadata);
  const carried = plan.blobs.filter((b) => !leaveOut(b));
  const leftOut = plan.blobs.filter((b) => leaveOut(b));
  const rootBytes = metadata(root.digest);
  if (!rootBytes) throw new Error('writeBundle: the root is not among the metadata');
  const rootIndex = JSON.parse(rootBytes.toString('utf8')) as OciIndex;

  const small: [string, Buffer][] = [
    [ENTRY_LAYOUT, Buffer.from(OCI_LAYOUT_CONTENT)],
    [ENTRY_INDEX, Buffer.from(layoutIndexFor(root, rootIndex))],
    [ENTRY_SIGNATURE, Buffer.from(signature)],
    ...plan.metadata.map((d): [string, Buffer] => [blobEntryName(d.digest), metadata(d.digest) ?? Buffer.alloc(0)]),
  ];
  const total =
    small.reduce((n, [, b]) => n + BLOCK + b.length + paddingFor(b.length), 0) +
    carried.reduce((n, d) => n + BLOCK + d.size + paddingFor(d.size), 0) +
    2 * BLOCK;
  opts.onPlan?.(total, carried);

  const output = opts.output ?? (opts.splitSize ? splitOutput(out, opts.splitSize, total) : fileOutput(out));
  const write = async (chunk: Buffer) => {
    opts.onBytes?.(chunk.length);
    await output.write(chunk);
  };
  const pad = async (size: number) => {
    const n = paddingFor(size);
    if (n) await write(Buffer.alloc(n));
  };
  let parts: PartEntry[] | undefined;
  // Each blob is hashed on the pool while the next one is fetched and written; the archive is finished (moved into
  // place) only after every digest checked out, and a failure names the first bad blob.
  const checks = new OrderedBlobChecks(opts.hashPool ?? sharedHashPool());
  const archive = { write, commit: async () => undefined, abort: async () => undefined };
  try {
    for (const [name, bytes] of small) {
      await write(encodeHeader(name, bytes.length));
      await write(bytes);
      await pad(bytes.length);
    }
    for (const desc of carried) {
      await write(encodeHeader(blobEntryName(desc.digest), desc.size));
      checks.check();
      const source = await openBlob(desc);
      const label = opts.describeBlob?.(desc) ?? desc.digest;
      // The size here, in line (a short or long blob must not shift the archive); the digest on the pool.
      const sized = source.pipe(new VerifyingStream(desc, label, { digest: false }));
      source.on('error', (err) => sized.destroy(err));
      if (opts.sizesOnly) for await (const chunk of sized as AsyncIterable<Buffer>) await write(chunk);
      else await checks.add(desc, label, sized as AsyncIterable<Buffer>, archive, () => undefined);
      await pad(desc.size);
    }
    await write(Buffer.alloc(2 * BLOCK));
    await checks.finish();
    parts = (await output.finish()).parts;
  } catch (err) {
    await output.abort();
    throw await checks.failed(err);
  }
  return { path: out, size: total, blobs: carried, leftOut, ...(parts ? { parts } : {}) };
}
