/**
 * Loading images into an existing registry (`--registry URL`): the same copy() as everywhere, from the
 * appliance's blob store, skipping what the registry has, retrying transient failures, bounded concurrency.
 * Blobs and manifests go first (by digest, invisible to tag users); tags move only when a bundle is published.
 */
import { copyGraph, limiter } from '../../src/copy.js';
import type { Descriptor } from '../../src/descriptor.js';
import type { OciLayoutStore } from '../../src/oci-layout.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { CredentialLookup } from '../../src/registry/credentials.js';
import { RegistryRepository } from '../../src/registry/repository.js';

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

  constructor(url: string, { credentials, plainHttp }: { credentials?: CredentialLookup; plainHttp?: boolean } = {}) {
    const parsed = new URL(url.includes('://') ? url : `https://${url}`);
    this.url = url;
    this.client = new RegistryClient({ registry: parsed.host, plainHttp: plainHttp ?? parsed.protocol === 'http:', ...(credentials ? { credentials } : {}) });
    this.prefix = parsed.pathname.replace(/^\/+|\/+$/g, '');
  }

  /** The image's name in the external registry. */
  repositoryFor(repository: string): string {
    return this.prefix ? `${this.prefix}/${repository}` : repository;
  }

  /** One import's load: blobs may be pushed early, while the bundle is still being received. */
  session(cas: OciLayoutStore): LoadSession {
    return new LoadSession(this, cas);
  }

  /** A repository of this registry, for pushes by LoadSession. */
  repository(name: string): RegistryRepository {
    return new RegistryRepository(this.client, name);
  }

  async tag(images: ImageToLoad[]): Promise<void> {
    for (const image of images) {
      if (!image.tag) continue;
      await new RegistryRepository(this.client, this.repositoryFor(image.repository)).tag(image.desc, image.tag);
    }
  }
}

/**
 * Loads one bundle's images. `pushEarly` sends a verified layer to its first repository while the rest of the
 * bundle is still arriving; `load` then copies every image (pushing what is left, mounting layers another
 * repository of this registry already holds) once the whole bundle checked out.
 */
export class LoadSession {
  private readonly holder = new Map<string, string>();
  private readonly early: Promise<void>[] = [];
  private readonly limit = limiter(2);
  private failure: unknown;

  constructor(
    private readonly registry: ExternalRegistry,
    private readonly cas: OciLayoutStore,
  ) {}

  pushEarly(desc: Descriptor, repository: string): void {
    const name = this.registry.repositoryFor(repository);
    const work = this.limit(async () => {
      await this.registry.repository(name).push(desc, await this.cas.fetch(desc));
      this.holder.set(desc.digest, name);
    }).catch((err: unknown) => {
      this.failure ??= err;
    });
    this.early.push(work);
  }

  async load(images: ImageToLoad[]): Promise<void> {
    await Promise.all(this.early);
    if (this.failure) throw this.failure;
    for (const image of images) {
      const name = this.registry.repositoryFor(image.repository);
      await copyGraph({
        src: this.cas,
        dst: this.registry.repository(name),
        root: image.desc,
        ...(image.platforms ? { platforms: image.platforms } : {}),
        concurrency: 4,
        attempts: 4,
        mountFrom: (desc) => this.holder.get(desc.digest),
        onCopied: (desc) => this.holder.set(desc.digest, name),
      });
    }
  }

  /** Waits for early pushes of an import that failed, ignoring their outcome. */
  async abandon(): Promise<void> {
    await Promise.all(this.early);
  }
}
