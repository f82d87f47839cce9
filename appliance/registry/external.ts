/**
 * Loading images into an existing registry (`--registry URL`): layers stream to it while the bundle is received,
 * then the same copy() as everywhere, from the appliance's blob store, skipping what the registry has, retrying
 * transient failures, bounded concurrency.
 * Blobs and manifests go first (by digest, invisible to tag users); tags move only when a bundle is published.
 */
import { PassThrough } from 'node:stream';
import { drainedOrClosed } from '../../src/drained.js';
import { copyGraph } from '../../src/copy.js';
import type { Descriptor } from '../../src/descriptor.js';
import type { OciLayoutStore } from '../../src/oci-layout.js';
import type { BlobWriter, Ingester } from '../../src/storage.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { CredentialLookup } from '../../src/registry/credentials.js';
import { RegistryRepository } from '../../src/registry/repository.js';
import type { RegistryTransport } from '../../src/registry/transport.js';

export interface ImageToLoad {
  repository: string;
  tag?: string;
  desc: Descriptor;
  platforms?: string[];
}

export class ExternalRegistry {
  private readonly client: RegistryClient;
  private readonly prefix: string;
  readonly url: string;

  constructor(url: string, { credentials, plainHttp, transport }: { credentials?: CredentialLookup; plainHttp?: boolean; transport?: RegistryTransport } = {}) {
    const parsed = new URL(url.includes('://') ? url : `https://${url}`);
    this.url = url;
    // A URL's scheme decides; without one, the client's default (plain HTTP only for loopback hosts).
    const plain = plainHttp ?? (url.includes('://') ? parsed.protocol === 'http:' : undefined);
    this.client = new RegistryClient({ registry: parsed.host, ...(plain !== undefined ? { plainHttp: plain } : {}), ...(credentials ? { credentials } : {}), ...(transport ? { transport } : {}) });
    this.prefix = parsed.pathname.replace(/^\/+|\/+$/g, '');
  }

  /** The image's name in the external registry. */
  repositoryFor(repository: string): string {
    return this.prefix ? `${this.prefix}/${repository}` : repository;
  }

  /** One import's load: layers are streamed to the registry while the bundle is still being received. */
  session(cas: OciLayoutStore, onTeeFailed?: (desc: Descriptor, err: unknown) => void): LoadSession {
    return new LoadSession(this, cas, onTeeFailed);
  }

  /** A repository of this registry, for pushes by LoadSession. */
  repository(name: string): RegistryRepository {
    return new RegistryRepository(this.client, name);
  }

  async tag(images: ImageToLoad[]): Promise<void> {
    await Promise.all(
      images.flatMap((image) => (image.tag ? [new RegistryRepository(this.client, this.repositoryFor(image.repository)).tag(image.desc, image.tag)] : [])),
    );
  }
}

/**
 * Loads one bundle's images. `tee` gives the import a blob sink that streams each layer to its first repository
 * while the layer is received, hashed and written to the appliance's store: the registry hashes it as it arrives
 * (and checks the digest on the final PUT), so the push costs neither a second read nor a wait after the last
 * layer. A tee that fails (the registry refused, a connection dropped) only costs time: streaming stops for the rest
 * of the import, and `load` copies every image from the store once the whole bundle checked out, pushing what the
 * registry lacks (with retries) and mounting layers another repository of this registry already holds.
 */
export class LoadSession {
  private readonly holder = new Map<string, string>();
  /** `repository@digest` of each layer a stream placed: `load` need not ask the registry about those again. */
  private readonly streamed = new Set<string>();
  private teeFailed = false;
  /** Streamed uploads whose last bytes are sent and whose registry has yet to answer. */
  private readonly finishing = new Set<Promise<void>>();

  constructor(
    private readonly registry: ExternalRegistry,
    private readonly cas: OciLayoutStore,
    private readonly onTeeFailed: (desc: Descriptor, err: unknown) => void = () => undefined,
  ) {}

  /** `store`'s ingester, with each blob `repositoryOf` names also streamed into that repository. */
  tee(store: Ingester, repositoryOf: (desc: Descriptor) => string | undefined): Ingester {
    return {
      ingest: async (desc) => {
        const local = await store.ingest(desc);
        const repository = repositoryOf(desc);
        if (!repository || this.teeFailed) return local;
        // The previous layers' uploads finish while this one streams; at most two are left to finish.
        while (this.finishing.size >= 2) await Promise.race(this.finishing);
        const remote = this.upload(desc, this.registry.repositoryFor(repository));
        return {
          write: async (chunk) => {
            await Promise.all([local?.write(chunk), remote.write(chunk)]);
          },
          commit: async () => {
            await local?.commit();
            await remote.commit();
          },
          abort: async () => {
            await Promise.all([local?.abort(), remote.abort()]);
          },
        };
      },
    };
  }

  /** A best-effort streamed upload: never throws; on failure it stops taking bytes and reports once. */
  private upload(desc: Descriptor, name: string): BlobWriter {
    // 2 MiB ahead of the registry: 8 MiB per upload (up to three in flight) took the appliance's peak from ~130 to
    // 144–165 MiB for no time gained (A/B on 1 GiB: 6.28–6.61 s against 6.05–6.77 s).
    const body = new PassThrough({ highWaterMark: 2 * 1024 * 1024 });
    let failed = false;
    let aborted = false;
    const done = this.registry
      .repository(name)
      .push(desc, body)
      .then(() => {
        this.holder.set(desc.digest, name);
        this.streamed.add(`${name}@${desc.digest}`);
      })
      .catch((err: unknown) => {
        failed = true;
        body.destroy();
        if (aborted) return; // the import stopped it (a bad blob, a cut stream): nothing to report here
        // One failure is enough to stop streaming for this import: a registry that is down would otherwise cost
        // its retries once per layer before `load` reports it.
        if (!this.teeFailed) this.onTeeFailed(desc, err);
        this.teeFailed = true;
      });
    return {
      write: async (chunk) => {
        if (failed || body.write(chunk)) return;
        await Promise.race([drainedOrClosed(body), done]);
      },
      // The registry finishes (its last buffered bytes, the digest check) while the next layer is received.
      commit: async () => {
        if (!failed) body.end();
        this.finishing.add(done);
        void done.then(() => this.finishing.delete(done));
      },
      // Ended, not destroyed: the upload may not have picked up its body yet (it asks the registry first), and an
      // ended body still ends it, short (the upload's size check fails) or whole with the wrong digest (the
      // registry refuses it); either way the registry never takes the blob and the push settles.
      abort: async () => {
        failed = true;
        aborted = true;
        body.end();
        await done;
      },
    };
  }

  async load(images: ImageToLoad[]): Promise<void> {
    await this.settle();
    const copy = async (image: ImageToLoad) => {
      const name = this.registry.repositoryFor(image.repository);
      await copyGraph({
        src: this.cas,
        dst: this.registry.repository(name),
        root: image.desc,
        ...(image.platforms ? { platforms: image.platforms } : {}),
        concurrency: 4,
        attempts: 4,
        includeBlob: (desc) => !this.streamed.has(`${name}@${desc.digest}`),
        mountFrom: (desc) => this.holder.get(desc.digest),
        onCopied: (desc) => this.holder.set(desc.digest, name),
      });
    };
    // With the layers streamed, what is left per image is its config and manifests (and layers a delta left out,
    // which the registry normally holds already): all images at once. After a failed stream, one image after
    // another, so that a layer two images share is uploaded once and then mounted.
    if (this.teeFailed) for (const image of images) await copy(image);
    else await Promise.all(images.map(copy));
  }

  /** Waits for the streamed uploads still finishing (they never throw; a failed one is left to `load`). */
  async settle(): Promise<void> {
    await Promise.all(this.finishing);
  }
}
