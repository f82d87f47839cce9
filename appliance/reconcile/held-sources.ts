/**
 * A bundle held here as the render's sources (src/render/sources.ts): manifest-set layers read from the blob store,
 * each Git snapshot's manifests path read from the Git mirror at its commit, with the placement intent its signed
 * config carries. The same plain data `airlock render` builds from a bundle file, so both render alike.
 */
import { ANNOTATION_KIND } from '../../src/bundle/format.js';
import type { Descriptor } from '../../src/descriptor.js';
import { parseJson } from '../../src/graph.js';
import { readManifestTar } from '../../src/manifests/manifest-tar.js';
import type { OciIndex, OciLayoutStore } from '../../src/oci-layout.js';
import { bundleSources } from '../../src/render/sources.js';
import { expandableSources } from '../../src/charts/sources.js';
import type { RenderSource } from '../../src/render/types.js';
import type { GitMirror } from '../git/mirror.js';
import { heldRoot } from './bundle-objects.js';

async function bytesOf(cas: OciLayoutStore, d: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await cas.fetch(d)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function heldSources(cas: OciLayoutStore, mirror: GitMirror, rootDigest: string): Promise<RenderSource[]> {
  const root = await heldRoot(cas, rootDigest);
  const rootBytes = await bytesOf(cas, root);
  const rootIndex = parseJson<OciIndex>(rootBytes, 'the bundle root');
  // bundleSources reads metadata synchronously: the manifests and configs of its sources are read first.
  const metadata = new Map<string, Buffer>([[root.digest, rootBytes]]);
  for (const d of rootIndex.manifests) {
    const kind = d.annotations?.[ANNOTATION_KIND];
    if (kind !== 'manifests' && kind !== 'git' && kind !== 'chart') continue;
    const bytes = await bytesOf(cas, d);
    metadata.set(d.digest, bytes);
    const manifest = parseJson<{ config?: Descriptor }>(bytes, d.digest);
    if (manifest.config) metadata.set(manifest.config.digest, await bytesOf(cas, manifest.config));
  }
  const sources = await bundleSources(rootIndex, {
    metadata: (digest) => metadata.get(digest),
    manifestFiles: async (layer) => readManifestTar(await cas.fetch(layer)),
    gitFiles: async (config) => (await mirror.readFiles(config.name, config.commit, config.manifests ?? '')).sort((a, b) => a.path.localeCompare(b.path)),
  });
  // Charts (archives from the blob store) and Kustomize trees (the mirror at the commit) for the expander.
  return expandableSources(rootIndex, sources, { metadata: (digest) => metadata.get(digest), chartArchive: (layer) => bytesOf(cas, layer), repositoryFiles: (config) => mirror.readFiles(config.name, config.commit, '') });
}
