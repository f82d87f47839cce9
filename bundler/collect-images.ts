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
import type { RegistryAccess } from '../src/registry/access.js';
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
  /** Scheme, proxy and TLS settings per registry. */
  access: RegistryAccess;
  baseDir: string;
  fetch?: FetchFn;
}

export interface CollectedImage {
  /** Descriptor for the bundle root, annotated with the reference name (and platforms). */
  desc: Descriptor;
  source: ReadOnlyTarget;
  name: string;
  /** Where it was asked for: "airlock.yaml:12". */
  origin: string;
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
      const plainHttp = this.opts.access.plainHttpFor(parsed.registry);
      client = new RegistryClient({
        registry: parsed.registry,
        ...(plainHttp !== undefined ? { plainHttp } : {}),
        transport: this.opts.access.transportFor(parsed.registry),
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
      origin: req.origin,
    };
  } catch (err) {
    const code = isAirlockError(err) ? err.code : 'REGISTRY_ERROR';
    throw new AirlockError(code, `${label}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Where the appliance serves an image: `repository:tag` (the registry host is dropped), or undefined by digest only. */
export function servedTag(name: string): string | undefined {
  try {
    const ref = parseReference(name);
    return ref.tag ? `${ref.repository}:${ref.tag}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Two images the appliance would serve under one `repository:tag` (`oci:./images:store/web:1.0` and
 * `HOST/store/web:1.0`): the later one would silently replace the other, so the build stops and names both.
 * The same content under two names (one root digest, the same platforms) serves the same image and is kept once.
 */
export function checkServedTags(images: CollectedImage[]): CollectedImage[] {
  const byTag = new Map<string, CollectedImage>();
  const kept: CollectedImage[] = [];
  for (const image of images) {
    const tag = servedTag(image.name);
    const earlier = tag ? byTag.get(tag) : undefined;
    if (!tag || !earlier) {
      if (tag) byTag.set(tag, image);
      kept.push(image);
      continue;
    }
    if (earlier.desc.digest === image.desc.digest && platformsKey(earlier) === platformsKey(image)) continue;
    throw new AirlockError(
      'SPEC_INVALID',
      `two images would be served as ${tag}: ${earlier.name} (${earlier.origin}, ${earlier.desc.digest}) and ${image.name} (${image.origin}, ${image.desc.digest}); ` +
        'the appliance serves images by repository and tag without the registry host, so give one of them another repository or tag',
    );
  }
  return kept;
}

function platformsKey(image: CollectedImage): string {
  return image.desc.annotations?.[ANNOTATION_PLATFORMS] ?? '';
}
