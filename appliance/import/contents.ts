/**
 * What a verified bundle puts on site, derived from its root and metadata: images with the repository path and
 * tag they are served under, Git snapshots with their git bundle blob, and every blob each repository may serve.
 * Pure functions of plain data.
 */
import { ANNOTATION_KIND, type GitSnapshotConfig } from '../../src/bundle/format.js';
import { planBundle } from '../../src/bundle/plan.js';
import { ANNOTATION_REF_NAME, type Descriptor } from '../../src/descriptor.js';
import { parseJson, platformsOf } from '../../src/graph.js';
import type { OciIndex } from '../../src/oci-layout.js';
import { parseReference } from '../../src/reference.js';
import type { ImageToLoad } from '../registry/external.js';

export type MetadataLookup = (digest: string) => Uint8Array | undefined;

/** `registry.example.com/team/app:1.0` is served as `team/app:1.0`; `nginx:1.25` as `library/nginx:1.25`. */
export function servedName(refName: string): { repository: string; tag?: string } | undefined {
  try {
    const ref = parseReference(refName);
    return { repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) };
  } catch {
    return undefined;
  }
}

export function imagesIn(rootIndex: OciIndex): ImageToLoad[] {
  const out: ImageToLoad[] = [];
  for (const d of rootIndex.manifests) {
    // Charts are Helm OCI artifacts served like images (`helm pull oci://SITE/charts/NAME`).
    if (d.annotations?.[ANNOTATION_KIND] !== 'image' && d.annotations?.[ANNOTATION_KIND] !== 'chart') continue;
    const name = servedName(d.annotations?.[ANNOTATION_REF_NAME] ?? '');
    if (!name) continue;
    const platforms = platformsOf(d);
    out.push({ ...name, desc: d, ...(platforms ? { platforms } : {}) });
  }
  return out;
}

export interface GitSnapshot {
  config: GitSnapshotConfig;
  bundle: Descriptor;
}

export function gitSnapshotsIn(rootIndex: OciIndex, metadata: MetadataLookup): GitSnapshot[] {
  const out: GitSnapshot[] = [];
  for (const d of rootIndex.manifests) {
    if (d.annotations?.[ANNOTATION_KIND] !== 'git') continue;
    const manifestBytes = metadata(d.digest);
    if (!manifestBytes) continue;
    const manifest = parseJson<{ config: Descriptor; layers: Descriptor[] }>(manifestBytes, d.digest);
    const configBytes = metadata(manifest.config.digest);
    const bundle = manifest.layers[0];
    if (!configBytes || !bundle) continue;
    out.push({ config: parseJson<GitSnapshotConfig>(configBytes, manifest.config.digest), bundle });
  }
  return out;
}

/** Every blob of the bundle, and for each served repository the blobs it may serve. */
export function visibility(root: Descriptor, rootIndex: OciIndex, metadata: MetadataLookup): { blobs: Descriptor[]; repositoryBlobs: { repository: string; digest: string }[] } {
  const plan = planBundle(root, metadata);
  const repositoryBlobs: { repository: string; digest: string }[] = [];
  for (const image of imagesIn(rootIndex)) {
    const p = planBundle(image.desc, metadata);
    for (const d of [...p.metadata, ...p.blobs]) repositoryBlobs.push({ repository: image.repository, digest: d.digest });
  }
  return { blobs: [...plan.metadata, ...plan.blobs], repositoryBlobs };
}
