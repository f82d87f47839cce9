/**
 * Which blobs the appliance may count on. A blob file counts as held only once it is known whole: written by this
 * version (verified while streaming, fsynced, renamed, directory fsynced, and only then recorded in
 * `verified_blobs`), or re-hashed. A file of the right size is not enough: a power cut before blobs were fsynced,
 * or a bad disk, can leave a file of the right size with the wrong bytes (ADR 009).
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../../src/descriptor.js';
import type { OciLayoutStore } from '../../src/oci-layout.js';
import type { BlobWriter, IngestFile, Ingester } from '../../src/storage.js';
import type { Logger } from '../context.js';
import type { StateStore } from '../state/store.js';

export class HeldBlobs implements Ingester {
  constructor(
    private readonly cas: OciLayoutStore,
    private readonly state: StateStore,
    private readonly now: () => Date,
    private readonly log: Logger,
    /** Blobs whose bytes the source already wrote to a file of its own: the store takes that file (OciLayoutStore.adopt). */
    private readonly fileOf?: (desc: Descriptor) => string | undefined,
  ) {}

  /** Whether the blob is on disk and known whole (recorded, or re-hashed now; a bad file is removed). */
  async isSound(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    if (!(await this.cas.exists(desc))) return false;
    if (this.state.isVerified(desc.digest, desc.size)) return true;
    if (await this.cas.verify(desc)) {
      this.state.markVerified(desc.digest, desc.size, this.now());
      return true;
    }
    this.log.warn('a held blob does not match its digest (torn by a power cut, or a bad disk); removed, the next bundle that carries it restores it', { digest: desc.digest });
    await this.cas.removeBlobs([desc.digest]);
    return false;
  }

  /** A blob a bundle carries: skipped when known whole, else written (again) and recorded once durable. */
  async ingest(desc: Descriptor): Promise<BlobWriter | undefined> {
    if (await this.heldWhole(desc)) return undefined;
    const file = this.fileOf?.(desc);
    const writer = file ? this.cas.adopt(desc, file) : await this.cas.ingest(desc, { replace: true });
    return writer && this.recorded(desc, writer);
  }

  /** A blob a bundle file's hashing thread writes (ADR 022): the same rule as `ingest`. */
  async ingestFile(desc: Descriptor): Promise<IngestFile | undefined> {
    if (await this.heldWhole(desc)) return undefined;
    const file = await this.cas.ingestFile(desc, { replace: true });
    return file && { path: file.path, writer: this.recorded(desc, file.writer) };
  }

  /** Recorded in `verified_blobs` and on disk: nothing to write. */
  private async heldWhole(desc: Descriptor): Promise<boolean> {
    return this.state.isVerified(desc.digest, desc.size) && (await this.cas.exists(desc));
  }

  /** `writer`, recording the blob as verified once its commit made it durable (fsync, rename, directory fsync). */
  private recorded(desc: Descriptor, writer: BlobWriter): BlobWriter {
    return {
      write: (chunk) => writer.write(chunk),
      commit: async () => {
        await writer.commit();
        this.state.markVerified(desc.digest, desc.size, this.now());
      },
      abort: () => writer.abort(),
    };
  }

  /** A metadata blob (verified while it streams): the same rule as `ingest`. */
  async push(desc: Descriptor, content: Readable): Promise<void> {
    if (await this.heldWhole(desc)) {
      content.resume();
      return;
    }
    await this.cas.push(desc, content, { replace: true });
    this.state.markVerified(desc.digest, desc.size, this.now());
  }
}
