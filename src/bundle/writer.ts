/**
 * The bundle writer. Metadata (already fetched and signed over) goes first; then each large blob streams from
 * its source straight into the archive, its digest checked on the way. The output is written under a temporary
 * name and renamed only when complete, so a failed build leaves nothing at the destination.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../descriptor.js';
import { VerifyingStream } from '../digest.js';
import { OCI_LAYOUT_CONTENT, type OciIndex } from '../oci-layout.js';
import { BLOCK, encodeHeader, paddingFor } from '../tar/header.js';
import { ENTRY_INDEX, ENTRY_LAYOUT, ENTRY_SIGNATURE, blobEntryName, layoutIndexFor } from './format.js';
import { planBundle } from './plan.js';

export interface WriteBundleOptions {
  /** Final path; the archive appears there only when complete. */
  out: string;
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
}

export interface WrittenBundle {
  path: string;
  size: number;
  blobs: Descriptor[];
  leftOut: Descriptor[];
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

  const tmp = join(dirname(out), `.${basename(out)}.tmp-${randomBytes(4).toString('hex')}`);
  const file = createWriteStream(tmp, { highWaterMark: 4 * 1024 * 1024 });
  const sink = new Sink(file, opts.onBytes);
  try {
    for (const [name, bytes] of small) {
      await sink.write(encodeHeader(name, bytes.length));
      await sink.write(bytes);
      await sink.pad(bytes.length);
    }
    for (const desc of carried) {
      await sink.write(encodeHeader(blobEntryName(desc.digest), desc.size));
      const source = await openBlob(desc);
      const verified = source.pipe(new VerifyingStream(desc, opts.describeBlob?.(desc) ?? desc.digest));
      source.on('error', (err) => verified.destroy(err));
      for await (const chunk of verified) await sink.write(chunk as Buffer);
      await sink.pad(desc.size);
    }
    await sink.write(Buffer.alloc(2 * BLOCK));
    await sink.close();
    await rename(tmp, out);
  } catch (err) {
    file.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return { path: out, size: total, blobs: carried, leftOut };
}

/** Writes with backpressure and surfaces stream errors on the next write. */
class Sink {
  private failure: Error | undefined;

  constructor(
    private readonly stream: WriteStream,
    private readonly onBytes?: (n: number) => void,
  ) {
    stream.on('error', (err) => (this.failure = err));
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.onBytes?.(chunk.length);
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.stream.off('error', reject);
          resolve();
        };
        this.stream.once('drain', onDrain);
        this.stream.once('error', reject);
      });
    }
  }

  async pad(size: number): Promise<void> {
    const pad = paddingFor(size);
    if (pad) await this.write(Buffer.alloc(pad));
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
