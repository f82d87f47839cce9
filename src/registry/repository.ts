/**
 * One repository of a registry as a content Target: blobs (HEAD, GET, monolithic and chunked upload, cross-repo
 * mount) and manifests by tag and digest with the OCI and Docker media types.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type Descriptor, MANIFEST_MEDIA_TYPES, isDigest } from '../descriptor.js';
import { VerifyingStream, sha256Digest, verifyBytes } from '../digest.js';
import { AirlockError, isAirlockError } from '../errors.js';
import type { Mounter, Target } from '../storage.js';
import type { RegistryClient } from './client.js';

export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export interface RepositoryOptions {
  /** Blobs larger than this are uploaded in chunks (PATCH); smaller ones in one streamed PUT. */
  monolithicLimit?: number;
  chunkSize?: number;
}

export class RegistryRepository implements Target, Mounter {
  private readonly manifestCache = new Map<string, Buffer>();
  private readonly monolithicLimit: number;
  private readonly chunkSize: number;

  constructor(
    readonly client: RegistryClient,
    readonly name: string,
    { monolithicLimit = 512 * 1024 * 1024, chunkSize = 64 * 1024 * 1024 }: RepositoryOptions = {},
  ) {
    this.monolithicLimit = monolithicLimit;
    this.chunkSize = chunkSize;
  }

  private what(ref: string): string {
    return `${this.client.registry}/${this.name}${isDigest(ref) ? '@' : ':'}${ref}`;
  }

  private scopes(push = false): string[] {
    return [`repository:${this.name}:${push ? 'pull,push' : 'pull'}`];
  }

  async exists(desc: Descriptor): Promise<boolean> {
    const kind = isManifest(desc) ? 'manifests' : 'blobs';
    const res = await this.client.request('HEAD', `/v2/${this.name}/${kind}/${desc.digest}`, {
      scopes: this.scopes(),
      accept: [404],
      what: this.what(desc.digest),
      headers: kind === 'manifests' ? { accept: MANIFEST_ACCEPT } : {},
    });
    return res.status !== 404;
  }

  async resolve(reference: string): Promise<Descriptor> {
    const { desc } = await this.getManifest(reference);
    return desc;
  }

  /** Fetches a manifest by tag or digest, verifying it when fetched by digest. */
  async getManifest(reference: string): Promise<{ desc: Descriptor; bytes: Buffer }> {
    const cached = isDigest(reference) ? this.manifestCache.get(reference) : undefined;
    let bytes: Buffer;
    let contentType: string;
    if (cached) {
      bytes = cached;
      contentType = mediaTypeOf(bytes) ?? '';
    } else {
      let res: Response;
      try {
        res = await this.client.request('GET', `/v2/${this.name}/manifests/${reference}`, {
          scopes: this.scopes(),
          what: this.what(reference),
          headers: { accept: MANIFEST_ACCEPT },
        });
      } catch (err) {
        if (isAirlockError(err, 'NOT_FOUND')) {
          throw new AirlockError('MANIFEST_UNKNOWN', `${this.what(reference)}: manifest unknown (no such image or tag)`, { cause: err });
        }
        throw err;
      }
      bytes = Buffer.from(await res.arrayBuffer());
      contentType = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    }
    const digest = sha256Digest(bytes);
    if (isDigest(reference) && digest !== reference) {
      throw new AirlockError('DIGEST_MISMATCH', `${this.what(reference)}: the registry returned a manifest whose digest is ${digest}`);
    }
    const mediaType = mediaTypeOf(bytes) ?? contentType;
    if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
      throw new AirlockError('MANIFEST_UNSUPPORTED', `${this.what(reference)}: unsupported manifest type "${mediaType || 'unknown'}" (airlock reads OCI and Docker v2 manifests and indexes)`);
    }
    this.manifestCache.set(digest, bytes);
    return { desc: { mediaType, digest, size: bytes.length }, bytes };
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (isManifest(desc)) {
      const { bytes } = await this.getManifest(desc.digest);
      return Readable.from([bytes]);
    }
    let res: Response;
    try {
      res = await this.client.request('GET', `/v2/${this.name}/blobs/${desc.digest}`, { scopes: this.scopes(), what: this.what(desc.digest) });
    } catch (err) {
      if (isAirlockError(err, 'NOT_FOUND')) {
        throw new AirlockError('BLOB_UNKNOWN', `${this.what(desc.digest)}: blob unknown to the registry`, { cause: err });
      }
      throw err;
    }
    if (!res.body) throw new AirlockError('REGISTRY_ERROR', `${this.what(desc.digest)}: empty response body`);
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>, { highWaterMark: 1024 * 1024 });
  }

  async push(desc: Descriptor, content: Readable): Promise<void> {
    if (isManifest(desc)) {
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      await this.putManifest(desc, Buffer.concat(chunks), desc.digest);
      return;
    }
    if (await this.exists(desc)) {
      content.resume();
      return;
    }
    await this.uploadBlob(desc, content);
  }

  /** PUTs a manifest under a tag or its digest. */
  async putManifest(desc: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    verifyBytes(bytes, desc, this.what(desc.digest));
    await this.client.request('PUT', `/v2/${this.name}/manifests/${reference}`, {
      scopes: this.scopes(true),
      what: this.what(reference),
      headers: { 'content-type': desc.mediaType },
      body: bytes,
    });
    this.manifestCache.set(desc.digest, bytes);
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    const { bytes } = await this.getManifest(desc.digest);
    await this.putManifest(desc, bytes, reference);
  }

  /** Cross-repository mount; false when the registry started an upload instead (which is then cancelled). */
  async mount(desc: Descriptor, fromRepository: string): Promise<boolean> {
    const path = `/v2/${this.name}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(fromRepository)}`;
    const res = await this.client.request('POST', path, {
      scopes: [...this.scopes(true), `repository:${fromRepository}:pull`],
      what: this.what(desc.digest),
      accept: [201, 202],
    });
    await res.body?.cancel();
    if (res.status === 201) return true;
    const location = res.headers.get('location');
    if (location) {
      await this.client
        .request('DELETE', this.absolute(location), { scopes: this.scopes(true), what: this.what(desc.digest), accept: [404, 405] })
        .then((r) => r.body?.cancel())
        .catch(() => undefined);
    }
    return false;
  }

  private async uploadBlob(desc: Descriptor, content: Readable): Promise<void> {
    const what = this.what(desc.digest);
    const start = await this.client.request('POST', `/v2/${this.name}/blobs/uploads/`, { scopes: this.scopes(true), what, accept: [202] });
    await start.body?.cancel();
    let location = start.headers.get('location');
    if (!location) throw new AirlockError('REGISTRY_ERROR', `${what}: the registry started an upload without a Location`);
    // The registry verifies the digest when the upload completes (the spec requires it); here only the size is
    // checked, so each byte is hashed once on this path.
    const verified = content.pipe(new VerifyingStream(desc, what, { digest: false }));
    // A verification failure aborts the request body; report it rather than the aborted request.
    let streamError: unknown;
    content.on('error', (err) => verified.destroy(err));
    verified.on('error', (err) => (streamError ??= err));
    try {
      if (desc.size > this.monolithicLimit) {
        location = await this.uploadChunks(verified, desc, location, what);
        const done = await this.client.request('PUT', withDigest(this.absolute(location), desc.digest), { scopes: this.scopes(true), what, accept: [201] });
        await done.body?.cancel();
        return;
      }
      await this.client.upload('PUT', withDigest(this.absolute(location), desc.digest), {
        scopes: this.scopes(true),
        what,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        accept: [201],
      }, verified);
    } catch (err) {
      throw streamError ?? err;
    }
  }

  private async uploadChunks(stream: Readable, desc: Descriptor, location: string, what: string): Promise<string> {
    const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let offset = 0;
    let pending: Buffer | undefined;
    while (offset < desc.size) {
      const length = Math.min(this.chunkSize, desc.size - offset);
      const body = Readable.from(sliceIterator(iterator, length, () => pending, (rest) => (pending = rest)), { objectMode: false });
      const res = await this.client.upload('PATCH', this.absolute(location), {
        scopes: this.scopes(true),
        what,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(length),
          'content-range': `${offset}-${offset + length - 1}`,
        },
        accept: [202],
      }, body);
      const next = res.headers.location;
      location = typeof next === 'string' ? next : location;
      offset += length;
    }
    // Drain to let the verifying stream check size and digest at the end.
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      if (next.value.length) throw new AirlockError('SIZE_MISMATCH', `${what}: the source has more than ${desc.size} bytes`);
    }
    return location;
  }

  private absolute(location: string): string {
    return location.startsWith('http') ? location : `${this.client.baseUrl}${location}`;
  }
}

async function* sliceIterator(
  iterator: AsyncIterator<Buffer>,
  length: number,
  takePending: () => Buffer | undefined,
  keep: (rest: Buffer | undefined) => void,
): AsyncGenerator<Buffer> {
  let left = length;
  let chunk = takePending();
  keep(undefined);
  while (left > 0) {
    if (!chunk || chunk.length === 0) {
      const next = await iterator.next();
      if (next.done) throw new AirlockError('SIZE_MISMATCH', 'the source ended early during a chunked upload');
      chunk = next.value;
      continue;
    }
    if (chunk.length <= left) {
      left -= chunk.length;
      yield chunk;
      chunk = undefined;
    } else {
      yield chunk.subarray(0, left);
      keep(chunk.subarray(left));
      left = 0;
    }
  }
}

function withDigest(url: string, digest: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

function isManifest(desc: Descriptor): boolean {
  return MANIFEST_MEDIA_TYPES.includes(desc.mediaType);
}

function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    return typeof parsed.mediaType === 'string' ? parsed.mediaType : undefined;
  } catch {
    return undefined;
  }
}
