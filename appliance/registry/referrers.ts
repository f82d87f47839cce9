/**
 * The referrers API (`GET /v2/NAME/referrers/DIGEST`, OCI distribution spec 1.1): an OCI image index of the
 * manifests in the repository whose `subject` is DIGEST, optionally only those of one `artifactType`. The
 * manifests of a repository are found from its tags (and the children of tagged indexes), which is every manifest
 * a bundle can make visible; parsed manifests are cached by digest (content never changes under a digest).
 */
import { readFile } from 'node:fs/promises';
import { type Descriptor, isIndexMediaType, isManifestMediaType, MediaType } from '../../src/descriptor.js';
import type { OciLayoutStore } from '../../src/oci-layout.js';
import type { StateStore } from '../state/store.js';

interface ManifestFacts {
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  children: Descriptor[];
}

const CACHE_LIMIT = 4096;

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.ociIndex;
  manifests: Descriptor[];
}

export class Referrers {
  private readonly cache = new Map<string, ManifestFacts>();

  constructor(private readonly state: StateStore, private readonly cas: OciLayoutStore) {}

  async index(repository: string, digest: string, artifactType?: string): Promise<ReferrersIndex> {
    const manifests: Descriptor[] = [];
    const seen = new Set<string>();
    const queue: Descriptor[] = [];
    for (const tag of this.state.tagsOf(repository)) {
      const desc = this.state.resolveTag(repository, tag);
      if (desc) queue.push(desc);
    }
    for (let desc = queue.shift(); desc; desc = queue.shift()) {
      if (seen.has(desc.digest) || !(isIndexMediaType(desc.mediaType) || isManifestMediaType(desc.mediaType))) continue;
      seen.add(desc.digest);
      const facts = await this.facts(desc);
      if (!facts) continue;
      for (const child of facts.children) if (this.state.visibleBlob(repository, child.digest)) queue.push(child);
      if (facts.subject !== digest) continue;
      if (artifactType !== undefined && facts.artifactType !== artifactType) continue;
      manifests.push({
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        ...(facts.artifactType ? { artifactType: facts.artifactType } : {}),
        ...(facts.annotations ? { annotations: facts.annotations } : {}),
      });
    }
    manifests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  }

  private async facts(desc: Descriptor): Promise<ManifestFacts | undefined> {
    const cached = this.cache.get(desc.digest);
    if (cached) return cached;
    let doc: { subject?: { digest?: unknown }; artifactType?: unknown; config?: { mediaType?: unknown }; annotations?: unknown; manifests?: unknown };
    try {
      doc = JSON.parse(await readFile(this.cas.blobPath(desc.digest), 'utf8')) as typeof doc;
    } catch {
      return undefined; // unreadable: not listed (the manifest GET reports the store problem)
    }
    const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : isManifestMediaType(desc.mediaType) && typeof doc.config?.mediaType === 'string' ? doc.config.mediaType : undefined;
    const facts: ManifestFacts = {
      ...(typeof doc.subject?.digest === 'string' ? { subject: doc.subject.digest } : {}),
      ...(artifactType ? { artifactType } : {}),
      ...(doc.annotations && typeof doc.annotations === 'object' ? { annotations: doc.annotations as Record<string, string> } : {}),
      children: isIndexMediaType(desc.mediaType) && Array.isArray(doc.manifests) ? (doc.manifests as Descriptor[]).filter((d) => typeof d?.digest === 'string' && typeof d.mediaType === 'string') : [],
    };
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(desc.digest, facts);
    return facts;
  }
}
