/**
 * What the expander needs beyond the pure render's plain sources: each chart (its archive and signed config) as a
 * `chart` source, and for a Git source whose manifests path holds a kustomization (or whose overrides choose an
 * overlay) the repository's files at its commit. Reading bytes is the caller's (injected readers), as in
 * src/render/sources.ts.
 */
import { ANNOTATION_KIND, type GitSnapshotConfig } from '../bundle/format.js';
import type { Descriptor } from '../descriptor.js';
import { sha256Digest } from '../digest.js';
import { AirlockError } from '../errors.js';
import { parseJson } from '../graph.js';
import type { OciIndex } from '../oci-layout.js';
import { intentOf } from '../render/sources.js';
import type { RenderSource } from '../render/types.js';
import { type ChartSourceConfig, chartsIn } from './format.js';
import { type TreeFile, hasKustomization } from './kustomize.js';

export interface ChartPayload {
  archive: Buffer;
  config: ChartSourceConfig;
}

export interface KustomizePayload {
  /** The snapshot's manifests path (the default overlay). */
  manifests: string;
  overlays: { override: number; path: string }[];
  files: TreeFile[];
}

/** A render source with what its expansion needs; the expander returns plain sources without these. */
export type ExpandableSource = RenderSource & { chart?: ChartPayload; kustomize?: KustomizePayload };

export interface ExpandReaders {
  metadata(digest: string): Uint8Array | undefined;
  /** A chart's archive (the Helm chart layer). */
  chartArchive(layer: Descriptor): Promise<Buffer>;
  /** Every file of the snapshot's repository at its commit. */
  repositoryFiles(config: GitSnapshotConfig, layer: Descriptor): Promise<TreeFile[]>;
}

function gitConfigs(rootIndex: OciIndex, metadata: ExpandReaders['metadata']): Map<string, { config: GitSnapshotConfig; layer: Descriptor }> {
  const out = new Map<string, { config: GitSnapshotConfig; layer: Descriptor }>();
  for (const d of rootIndex.manifests) {
    if (d.annotations?.[ANNOTATION_KIND] !== 'git') continue;
    const m = metadata(d.digest);
    if (!m) continue;
    const manifest = parseJson<{ config: Descriptor; layers: Descriptor[] }>(m, d.digest);
    const c = metadata(manifest.config.digest);
    const layer = manifest.layers[0];
    if (!c || !layer) continue;
    const config = parseJson<GitSnapshotConfig>(c, manifest.config.digest);
    out.set(config.name, { config, layer });
  }
  return out;
}

/** `sources` (from bundleSources) with Kustomize trees attached, then the bundle's charts. */
export async function expandableSources(rootIndex: OciIndex, sources: RenderSource[], readers: ExpandReaders): Promise<ExpandableSource[]> {
  const configs = gitConfigs(rootIndex, readers.metadata);
  const out: ExpandableSource[] = [];
  for (const source of sources) {
    const git = source.kind === 'git' ? configs.get(source.name) : undefined;
    if (!git?.config.manifests || (!hasKustomization(source.files, git.config.manifests) && !git.config.overlays?.length)) {
      out.push(source);
      continue;
    }
    const files = await readers.repositoryFiles(git.config, git.layer);
    if (!hasKustomization(files, git.config.manifests) && !git.config.overlays?.length) {
      out.push(source);
      continue;
    }
    out.push({ ...source, kustomize: { manifests: git.config.manifests, overlays: git.config.overlays ?? [], files } });
  }
  for (const chart of chartsIn(rootIndex, readers.metadata)) {
    const archive = await readers.chartArchive(chart.layer);
    if (sha256Digest(archive) !== chart.layer.digest) throw new AirlockError('DIGEST_MISMATCH', `chart ${chart.config.name}: the archive read has digest ${sha256Digest(archive)}, the bundle says ${chart.layer.digest}`);
    out.push({ kind: 'chart', name: chart.config.name, files: [], ...intentOf(chart.config, `chart ${chart.config.name}`), chart: { archive, config: chart.config } });
  }
  return out;
}
