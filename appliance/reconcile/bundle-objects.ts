/**
 * The Kubernetes objects a bundle in force asks for: its manifest sets (layers held in the blob store) and the
 * manifests path of each Git snapshot at its commit (read from the Git mirror). Labels name the file and line.
 */
import { ANNOTATION_KIND, ANNOTATION_MANIFESTS_NAME } from '../../src/bundle/format.js';
import { stat } from 'node:fs/promises';
import { type Descriptor, MediaType } from '../../src/descriptor.js';
import { type DesiredObject, type DesiredOptions, desiredObjects } from '../../src/kube/desired.js';
import { parseJson } from '../../src/graph.js';
import { type ManifestDocument, isManifestFile, parseManifests } from '../../src/manifests/documents.js';
import { readManifestTar } from '../../src/manifests/manifest-tar.js';
import type { OciIndex, OciLayoutStore } from '../../src/oci-layout.js';
import type { GitMirror } from '../git/mirror.js';
import { gitSnapshotsIn } from '../import/contents.js';

/** The descriptor of a bundle root held in the store (roots are OCI indexes; the size is the stored blob's). */
export async function heldRoot(cas: OciLayoutStore, digest: string): Promise<Descriptor> {
  return { mediaType: MediaType.ociIndex, digest, size: (await stat(cas.blobPath(digest))).size };
}

/** The desired objects of a bundle held in the store (see src/kube/desired.ts). */
export async function bundleObjects(cas: OciLayoutStore, mirror: GitMirror, rootDigest: string, opts: DesiredOptions): Promise<DesiredObject[]> {
  return desiredObjects(await bundleDocuments(cas, mirror, await heldRoot(cas, rootDigest)), opts);
}

export async function bundleDocuments(cas: OciLayoutStore, mirror: GitMirror, root: Descriptor): Promise<ManifestDocument[]> {
  const bytes = async (d: Descriptor) => {
    const chunks: Buffer[] = [];
    for await (const c of await cas.fetch(d)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const rootIndex = parseJson<OciIndex>(await bytes(root), 'the bundle root');
  const metadata = new Map<string, Buffer>();
  const docs: ManifestDocument[] = [];
  for (const d of rootIndex.manifests) {
    const kind = d.annotations?.[ANNOTATION_KIND];
    if (kind === 'manifests') {
      const manifest = parseJson<{ layers: Descriptor[] }>(await bytes(d), d.digest);
      const name = d.annotations?.[ANNOTATION_MANIFESTS_NAME] ?? 'manifests';
      for (const layer of manifest.layers) {
        for (const f of await readManifestTar(await cas.fetch(layer))) docs.push(...parseManifests(f.content.toString('utf8'), `${name}/${f.path}`));
      }
    } else if (kind === 'git') {
      const manifest = parseJson<{ config: Descriptor; layers: Descriptor[] }>(await bytes(d), d.digest);
      metadata.set(d.digest, await bytes(d));
      metadata.set(manifest.config.digest, await bytes(manifest.config));
    }
  }
  for (const snap of gitSnapshotsIn(rootIndex, (digest) => metadata.get(digest))) {
    if (!snap.config.manifests) continue;
    for (const f of await mirror.readFiles(snap.config.name, snap.config.commit, snap.config.manifests)) {
      if (isManifestFile(f.path)) docs.push(...parseManifests(f.content.toString('utf8'), `${snap.config.name}:${f.path}`));
    }
  }
  return docs;
}
