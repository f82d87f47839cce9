/**
 * The order of a bundle's blobs: metadata breadth-first from the root (so every blob is listed by one already
 * read), then large blobs in order of first mention. Pure; the writer follows it and the reader checks it.
 */
import type { Descriptor } from '../descriptor.js';
import { childrenOf, hasChildren, platformsOf } from '../graph.js';
import { AirlockError } from '../errors.js';

export interface BundlePlan {
  metadata: Descriptor[];
  blobs: Descriptor[];
}

/**
 * Walks the graph below `root`; `metadataBytes` must hold every manifest, index and config. An index whose
 * descriptor carries the platforms annotation contributes only those platforms.
 */
export function planBundle(root: Descriptor, metadataBytes: (digest: string) => Uint8Array | undefined): BundlePlan {
  const metadata: Descriptor[] = [];
  const seenMeta = new Set<string>();
  const blobs = new Map<string, Descriptor>();
  const queue: Descriptor[] = [root];
  seenMeta.add(root.digest);
  for (let desc = queue.shift(); desc; desc = queue.shift()) {
    metadata.push(desc);
    if (!hasChildren(desc)) continue;
    const bytes = metadataBytes(desc.digest);
    if (!bytes) throw new AirlockError('BLOB_UNKNOWN', `metadata blob ${desc.digest} is missing`);
    const children = childrenOf(desc, bytes, platformsOf(desc));
    for (const child of children.metadata) {
      if (seenMeta.has(child.digest)) continue;
      seenMeta.add(child.digest);
      queue.push(child);
    }
    for (const blob of children.blobs) if (!blobs.has(blob.digest)) blobs.set(blob.digest, blob);
  }
  return { metadata, blobs: [...blobs.values()].filter((b) => !seenMeta.has(b.digest)) };
}
