/**
 * Loading images into an existing registry (`--registry URL`): the same copy() as everywhere, from the
 * appliance's blob store, skipping what the registry has, retrying transient failures, bounded concurrency.
 * Blobs and manifests go first (by digest, invisible to tag users); tags move only when a bundle is published.
 */
import { copyGraph } from '../../src/copy.js';
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

  /**
   * Copies the images one after another; a layer already pushed to another repository of this registry during
   * the load is mounted from there rather than uploaded again.
   */
  async load(cas: OciLayoutStore, images: ImageToLoad[]): Promise<void> {
    const holder = new Map<string, string>();
    for (const image of images) {
      const name = this.repositoryFor(image.repository);
      await copyGraph({
        src: cas,
        dst: new RegistryRepository(this.client, name),
        root: image.desc,
        ...(image.platforms ? { platforms: image.platforms } : {}),
        concurrency: 4,
        attempts: 4,
        mountFrom: (desc) => holder.get(desc.digest),
        onCopied: (desc) => holder.set(desc.digest, name),
      });
    }
  }

  async tag(images: ImageToLoad[]): Promise<void> {
    for (const image of images) {
      if (!image.tag) continue;
      await new RegistryRepository(this.client, this.repositoryFor(image.repository)).tag(image.desc, image.tag);
    }
  }
}
