/**
 * An OCI image layout on disk (image-spec `image-layout.md`) as a content store. Writes go to an ingest file,
 * are verified while streaming, fsynced, then renamed into place and the directory fsynced, so a blob path never
 * holds partial or wrong bytes, even after a power cut (ADR 009). Blobs are immutable once written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ANNOTATION_REF_NAME, type Descriptor, MediaType, digestHex, isDigest } from './descriptor.js';
import { VerifyingStream } from './digest.js';
import { AirlockError } from './errors.js';
import { durableRename, fsyncDir, fsyncFile, writeFileAtomic } from './fs-atomic.js';
import type { BlobWriter, IngestFile, Ingester, Target } from './storage.js';

export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export class OciLayoutStore implements Target, Ingester {
  private constructor(readonly dir: string) {}

  /** Opens a layout, creating `oci-layout`, `index.json` and `blobs/sha256` when `create` is set. */
  static async open(dir: string, { create = false }: { create?: boolean } = {}): Promise<OciLayoutStore> {
    const store = new OciLayoutStore(dir);
    const layoutFile = join(dir, 'oci-layout');
    try {
      const layout = JSON.parse(await readFile(layoutFile, 'utf8')) as { imageLayoutVersion?: string };
      if (layout.imageLayoutVersion !== '1.0.0') {
        throw new AirlockError('NOT_FOUND', `${dir} is not an OCI image layout version 1.0.0`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!create) throw new AirlockError('NOT_FOUND', `${dir} is not an OCI image layout (no oci-layout file)`);
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await fsyncDir(join(dir, 'blobs'));
      await writeFileAtomic(layoutFile, OCI_LAYOUT_CONTENT);
      await store.writeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    }
    return store;
  }

  blobPath(digest: string): string {
    if (!isDigest(digest)) throw new AirlockError('DIGEST_MISMATCH', `not a sha256 digest: ${digest}`);
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  async exists(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    try {
      const info = await stat(this.blobPath(desc.digest));
      return info.size === desc.size;
    } catch {
      return false;
    }
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    try {
      await stat(path);
    } catch {
      throw new AirlockError('BLOB_UNKNOWN', `blob ${desc.digest} is not in the layout at ${this.dir}`);
    }
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
  }

  /**
   * Stores a blob, verified while it streams. With `replace`, a blob already present is written again (its bytes
   * were not known to be whole, e.g. written before blobs were fsynced).
   */
  async push(desc: Descriptor, content: Readable, { replace = false }: { replace?: boolean } = {}): Promise<void> {
    if (!replace && (await this.exists(desc))) {
      content.resume();
      return;
    }
    const ingest = await this.newIngestFile(desc);
    try {
      await pipeline(content, new VerifyingStream(desc), createWriteStream(ingest, { highWaterMark: 1024 * 1024 }));
      await this.commitIngest(ingest, desc.digest);
    } catch (err) {
      await rm(ingest, { force: true });
      throw err;
    }
  }

  /** A fresh path in the ingest directory for one blob's bytes (the directory made if needed). */
  private async newIngestFile(desc: Descriptor): Promise<string> {
    const ingestDir = join(this.dir, 'ingest');
    await mkdir(ingestDir, { recursive: true });
    return join(ingestDir, `${digestHex(desc.digest)}.${randomBytes(6).toString('hex')}`);
  }

  /** fsync of the ingest file, rename into blobs/sha256, fsync of that directory: the blob is durable once it returns. */
  private async commitIngest(ingest: string, digest: string): Promise<void> {
    await fsyncFile(ingest);
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await durableRename(ingest, this.blobPath(digest));
  }

  /**
   * Streams a blob to an ingest file; the caller verifies, then commits (fsync, rename into place, fsync of the
   * directory) or aborts. Undefined when the blob is present, unless `replace` asks for it to be written again.
   */
  async ingest(desc: Descriptor, { replace = false }: { replace?: boolean } = {}): Promise<BlobWriter | undefined> {
    if (!replace && (await this.exists(desc))) return undefined;
    const path = await this.newIngestFile(desc);
    // 8 MiB in flight lets the caller hash the next chunks while the disk writes the previous ones.
    const out = createWriteStream(path, { highWaterMark: 8 * 1024 * 1024 });
    let failure: Error | undefined;
    out.on('error', (err) => (failure = err));
    const close = () => new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return {
      write: async (chunk) => {
        if (failure) throw failure;
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      },
      commit: async () => {
        await close();
        if (failure) throw failure;
        await this.commitIngest(path, desc.digest);
      },
      abort: async () => {
        out.destroy();
        await rm(path, { force: true });
      },
    };
  }

  /**
   * A fresh ingest file for a blob written by someone else (a hashing thread, ADR 022); `commit` fsyncs it, renames
   * it into place and fsyncs the directory, `abort` removes it. Undefined when present, unless `replace`.
   */
  async ingestFile(desc: Descriptor, { replace = false }: { replace?: boolean } = {}): Promise<IngestFile | undefined> {
    if (!replace && (await this.exists(desc))) return undefined;
    const path = await this.newIngestFile(desc);
    return {
      path,
      writer: {
        write: async () => {
          throw new Error('an ingest file is written by its owner, not through write()');
        },
        commit: () => this.commitIngest(path, desc.digest),
        abort: () => rm(path, { force: true }),
      },
    };
  }

  /**
   * Takes a file that already holds the blob's bytes (the depot's ingest file, written as they arrived) instead of
   * writing them a second time. The caller hands every byte to `write` (stored nothing: only counted) as it verifies
   * them — they must be the file's bytes — then `commit` fsyncs the file and renames it into place (a copy when the
   * file is on another file system). `abort` after the whole blob was read (it did not check out, or could not be
   * stored) removes the file; after fewer bytes (the source failed) it stays, for its owner to resume.
   */
  adopt(desc: Descriptor, file: string): BlobWriter {
    let seen = 0;
    return {
      write: async (chunk) => {
        seen += chunk.length;
      },
      commit: async () => {
        if (seen !== desc.size) throw new AirlockError('SIZE_MISMATCH', `blob ${desc.digest}: ${seen} bytes read, ${desc.size} expected`);
        await fsyncFile(file);
        await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
        try {
          await durableRename(file, this.blobPath(desc.digest));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
          const copy = await this.newIngestFile(desc);
          try {
            await copyFile(file, copy);
            await this.commitIngest(copy, desc.digest);
          } catch (copyErr) {
            await rm(copy, { force: true });
            throw copyErr;
          }
          await rm(file, { force: true });
        }
      },
      abort: async () => {
        if (seen === desc.size) await rm(file, { force: true });
      },
    };
  }

  async readIndex(): Promise<OciIndex> {
    const raw = await readFile(join(this.dir, 'index.json'), 'utf8');
    const index = JSON.parse(raw) as OciIndex;
    if (!Array.isArray(index.manifests)) {
      throw new AirlockError('NOT_FOUND', `${this.dir}/index.json has no manifests list`);
    }
    return index;
  }

  async writeIndex(index: OciIndex): Promise<void> {
    await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(index));
  }

  /** Re-hashes a held blob: true when its bytes match the digest and size (a torn or rotten file does not). */
  async verify(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of createReadStream(this.blobPath(desc.digest), { highWaterMark: 1024 * 1024 })) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    } catch {
      return false;
    }
    return size === desc.size && `sha256:${hash.digest('hex')}` === desc.digest;
  }

  /** Every blob in the layout, with its size on disk. */
  async listBlobs(): Promise<{ digest: string; size: number }[]> {
    const dir = join(this.dir, 'blobs', 'sha256');
    const out: { digest: string; size: number }[] = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (info?.isFile()) out.push({ digest: `sha256:${name}`, size: info.size });
    }
    return out;
  }

  /** Removes blobs (then fsyncs the directory). Only for garbage collection: nothing may still name them. */
  async removeBlobs(digests: string[]): Promise<void> {
    for (const digest of digests) await rm(this.blobPath(digest), { force: true });
    if (digests.length) await fsyncDir(join(this.dir, 'blobs', 'sha256'));
  }

  /**
   * Partial blobs in `ingest/` (left by an import that was killed or failed) and temporary files of an
   * interrupted `index.json` write, with their sizes.
   */
  async ingestLeftovers(): Promise<{ path: string; size: number }[]> {
    const out: { path: string; size: number }[] = [];
    const scan = async (dir: string, match: (name: string) => boolean) => {
      for (const name of (await readdir(dir).catch(() => [] as string[])).filter(match)) {
        const info = await stat(join(dir, name)).catch(() => undefined);
        if (info?.isFile()) out.push({ path: join(dir, name), size: info.size });
      }
    };
    await scan(join(this.dir, 'ingest'), () => true);
    await scan(this.dir, (name) => /^\..+\.tmp-[0-9a-f]{8}$/.test(name));
    return out;
  }

  async resolve(reference: string): Promise<Descriptor> {
    const index = await this.readIndex();
    const found = isDigest(reference)
      ? index.manifests.find((m) => m.digest === reference)
      : index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === reference);
    if (!found) {
      const known = index.manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]).filter(Boolean);
      throw new AirlockError(
        'MANIFEST_UNKNOWN',
        `no image named ${reference} in the OCI layout at ${this.dir}` + (known.length ? ` (it has: ${known.join(', ')})` : ''),
      );
    }
    return found;
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    const index = await this.readIndex();
    const others = index.manifests.filter((m) => m.annotations?.[ANNOTATION_REF_NAME] !== reference);
    const tagged: Descriptor = { ...desc, annotations: { ...desc.annotations, [ANNOTATION_REF_NAME]: reference } };
    await this.writeIndex({ ...index, manifests: [...others, tagged] });
  }
}
