/**
 * Resolves a bundle's images at their sources (registries or OCI layouts) and fetches their manifests, indexes
 * and configs into memory. Layers are not touched here: the writer streams them from `sourceOf` later.
 */
import { resolve } from 'node:path';
import { copyGraph } from '../src/copy.js';
import { ANNOTATION_KIND } from '../src/bundle/format.js';
import { ANNOTATION_REF_NAME, type Descriptor, isIndexMediaType } from '../src/descriptor.js';
import { AirlockError, errorMessage, isAirlockError } from '../src/errors.js';
import { ANNOTATION_PLATFORMS, childrenOf, formatPlatform, parseJson } from '../src/graph.js';
import type { MemoryStore } from '../src/memory-store.js';
import { OciLayoutStore } from '../src/oci-layout.js';
import { formatReference, parseReference } from '../src/reference.js';
import { RegistryClient, type FetchFn } from '../src/registry/client.js';
import type { CredentialLookup } from '../src/registry/credentials.js';
import { RegistryRepository } from '../src/registry/repository.js';
import { fetchAll, type ReadOnlyTarget } from '../src/storage.js';

export interface ImageRequest {
  ref: string;
  platforms?: string[];
  /** Where the request came from, for errors: "airlock.yaml:12" or "k8s/app.yaml:3". */
  origin: string;
}

export interface ImageSources {
  credentials?: CredentialLookup;
  registries: Record<string, { plainHttp?: boolean }>;
  baseDir: string;
  fetch?: FetchFn;
}

export interface CollectedImage {
  /** Descriptor for the bundle root, annotated with the reference name (and platforms). */
  desc: Descriptor;
  source: ReadOnlyTarget;
  name: string;
}

/** Opens sources on demand and keeps one registry client per host (tokens are cached per client). */
export class SourceOpener {
  private readonly clients = new Map<string, RegistryClient>();

  constructor(private readonly opts: ImageSources) {}

  async open(ref: string): Promise<{ target: ReadOnlyTarget; reference: string; name: string }> {
    if (ref.startsWith('oci:')) {
      const rest = ref.slice(4);
      const colon = rest.indexOf(':');
      const dir = resolve(this.opts.baseDir, rest.slice(0, colon));
      const name = rest.slice(colon + 1);
      return { target: await OciLayoutStore.open(dir), reference: name, name };
    }
    const parsed = parseReference(ref);
    let client = this.clients.get(parsed.registry);
    if (!client) {
      client = new RegistryClient({
        registry: parsed.registry,
        plainHttp: this.opts.registries[parsed.registry]?.plainHttp ?? false,
        ...(this.opts.credentials ? { credentials: this.opts.credentials } : {}),
        ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      });
      this.clients.set(parsed.registry, client);
    }
    return { target: new RegistryRepository(client, parsed.repository), reference: parsed.digest ?? parsed.tag ?? 'latest', name: formatReference(parsed) };
  }
}

export async function collectImage(req: ImageRequest, opener: SourceOpener, metadata: MemoryStore): Promise<CollectedImage> {
  const label = `image ${req.ref} (${req.origin})`;
  try {
    const { target, reference, name } = await opener.open(req.ref);
    const desc = await target.resolve(reference);
    const root: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    const platforms = req.platforms?.length && isIndexMediaType(root.mediaType) ? req.platforms : undefined;
    if (platforms) {
      const children = childrenOf(root, await fetchAll(target, root), platforms);
      if (!children.metadata.length) {
        const index = parseJson<{ manifests?: Descriptor[] }>(await fetchAll(target, root), root.digest);
        const available = (index.manifests ?? []).map((m) => formatPlatform(m.platform)).join(', ');
        throw new AirlockError('PLATFORM_NOT_FOUND', `none of the platforms ${platforms.join(', ')} is in the index (it has: ${available})`);
      }
    }
    await copyGraph({ src: target, dst: metadata, root, ...(platforms ? { platforms } : {}), includeBlob: () => false });
    return {
      desc: {
        ...root,
        annotations: { [ANNOTATION_KIND]: 'image', [ANNOTATION_REF_NAME]: name, ...(platforms ? { [ANNOTATION_PLATFORMS]: platforms.join(',') } : {}) },
      },
      source: target,
      name,
    };
  } catch (err) {
    const code = isAirlockError(err) ? err.code : 'REGISTRY_ERROR';
    throw new AirlockError(code, `${label}: ${errorMessage(err)}`, { cause: err });
  }
}
