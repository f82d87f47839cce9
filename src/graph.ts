/**
 * The shape of the content graph: which descriptors a manifest or index points to. Pure functions on plain data,
 * shared by copy(), the bundle writer and the bundle reader so that all three walk exactly the same graph.
 */
import { type Descriptor, type Platform, isIndexMediaType, isManifestMediaType } from './descriptor.js';
import { AirlockError } from './errors.js';

/** Annotation on a descriptor in a bundle root: only these platforms of the index are carried (comma-separated). */
export const ANNOTATION_PLATFORMS = 'dev.airlock.platforms';

export interface Children {
  /** Manifests, indexes and configs: small JSON, fetched and parsed. */
  metadata: Descriptor[];
  /** Layers and other large blobs: streamed, never parsed. */
  blobs: Descriptor[];
}

interface ManifestLike {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

export function parseJson<T>(bytes: Uint8Array, label: string): T {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
  } catch (err) {
    throw new AirlockError('MANIFEST_UNSUPPORTED', `${label}: not valid JSON`, { cause: err });
  }
}

/**
 * The children of a manifest or index. For an index, `platforms` (as `os/arch[/variant]`) keeps only matching
 * manifests; an empty or missing list keeps every one.
 */
export function childrenOf(desc: Descriptor, bytes: Uint8Array, platforms?: readonly string[]): Children {
  const doc = parseJson<ManifestLike>(bytes, desc.digest);
  if (isIndexMediaType(desc.mediaType)) {
    const manifests = checkDescriptors(doc.manifests ?? [], desc.digest);
    const wanted = platforms?.length ? manifests.filter((m) => platforms.some((p) => platformMatches(m.platform, p))) : manifests;
    return { metadata: wanted, blobs: [] };
  }
  if (isManifestMediaType(desc.mediaType)) {
    if (!doc.config) throw new AirlockError('MANIFEST_UNSUPPORTED', `${desc.digest}: image manifest without a config`);
    const [config] = checkDescriptors([doc.config], desc.digest);
    return { metadata: config ? [config] : [], blobs: checkDescriptors(doc.layers ?? [], desc.digest) };
  }
  return { metadata: [], blobs: [] };
}

/** Whether a descriptor is a manifest or index, i.e. has children. */
export function hasChildren(desc: Descriptor): boolean {
  return isIndexMediaType(desc.mediaType) || isManifestMediaType(desc.mediaType);
}

function checkDescriptors(list: Descriptor[], parent: string): Descriptor[] {
  if (!Array.isArray(list)) throw new AirlockError('MANIFEST_UNSUPPORTED', `${parent}: malformed descriptor list`);
  for (const d of list) {
    if (typeof d?.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0 || typeof d.mediaType !== 'string') {
      throw new AirlockError('MANIFEST_UNSUPPORTED', `${parent}: a descriptor has a missing or malformed digest, size or mediaType (airlock handles sha256 only)`);
    }
  }
  return list;
}

/** `linux/arm64/v8` matches a platform; a pattern without a variant matches any variant. */
export function platformMatches(platform: Platform | undefined, pattern: string): boolean {
  if (!platform) return false;
  const [os, architecture, variant] = pattern.split('/');
  if (platform.os !== os || platform.architecture !== architecture) return false;
  return variant === undefined || platform.variant === variant;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Parses the platforms annotation of a bundle root descriptor. */
export function platformsOf(desc: Descriptor): string[] | undefined {
  const value = desc.annotations?.[ANNOTATION_PLATFORMS];
  return value ? value.split(',').filter(Boolean) : undefined;
}
