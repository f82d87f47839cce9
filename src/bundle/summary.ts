/** What a bundle holds, as plain data for `bundle inspect`, `bundle verify` and the appliance. Pure. */
import { ANNOTATION_REF_NAME, type Descriptor } from '../descriptor.js';
import { parseJson } from '../graph.js';
import type { OciIndex } from '../oci-layout.js';
import { ANNOTATION_GIT_NAME, ANNOTATION_KIND, ANNOTATION_MANIFESTS_NAME, type GitSnapshotConfig, type ManifestSetConfig, type Statement } from './format.js';
import { planBundle } from './plan.js';
import { chartSummaries } from '../charts/format.js';

export interface BundleSummary {
  name: string;
  channel: string;
  sequence: number;
  created: string;
  expires?: string;
  base?: string;
  rootDigest: string;
  signers: string[];
  images: { ref: string; digest: string; mediaType: string; size: number }[];
  git: { name: string; url: string; ref: string; commit: string; manifests?: string }[];
  manifests: { name: string; files: string[] }[];
  /** Helm charts (only when the bundle has any): resolved version, where the site serves them. */
  charts?: ReturnType<typeof chartSummaries>;
  /** Sum of every blob below the root (what the site holds once imported). */
  contentBytes: number;
  blobs: number;
}

export function summarize(statement: Statement, signers: string[], rootIndex: OciIndex, metadata: (digest: string) => Uint8Array | undefined): BundleSummary {
  const images: BundleSummary['images'] = [];
  const git: BundleSummary['git'] = [];
  const manifests: BundleSummary['manifests'] = [];
  for (const d of rootIndex.manifests) {
    const kind = d.annotations?.[ANNOTATION_KIND];
    if (kind === 'image') {
      images.push({ ref: d.annotations?.[ANNOTATION_REF_NAME] ?? '', digest: d.digest, mediaType: d.mediaType, size: graphSize(d, metadata) });
    } else if (kind === 'git') {
      const cfg = configOf<GitSnapshotConfig>(d, metadata);
      git.push({ name: d.annotations?.[ANNOTATION_GIT_NAME] ?? cfg?.name ?? '', url: cfg?.url ?? '', ref: cfg?.ref ?? '', commit: cfg?.commit ?? '', ...(cfg?.manifests ? { manifests: cfg.manifests } : {}) });
    } else if (kind === 'manifests') {
      const cfg = configOf<ManifestSetConfig>(d, metadata);
      manifests.push({ name: d.annotations?.[ANNOTATION_MANIFESTS_NAME] ?? cfg?.name ?? '', files: cfg?.files ?? [] });
    }
  }
  const charts = chartSummaries(rootIndex, metadata);
  const plan = planBundle(statement.root, metadata);
  const contentBytes = [...plan.metadata, ...plan.blobs].reduce((n, d) => n + d.size, 0);
  return {
    name: statement.name,
    channel: statement.channel,
    sequence: statement.sequence,
    created: statement.created,
    ...(statement.expires ? { expires: statement.expires } : {}),
    ...(statement.base ? { base: statement.base } : {}),
    rootDigest: statement.root.digest,
    signers,
    images,
    git,
    manifests,
    ...(charts.length ? { charts } : {}),
    contentBytes,
    blobs: plan.metadata.length + plan.blobs.length,
  };
}

/** Bytes of an image: its manifests, configs and layers, each once. */
function graphSize(desc: Descriptor, metadata: (digest: string) => Uint8Array | undefined): number {
  const plan = planBundle(desc, metadata);
  return [...plan.metadata, ...plan.blobs].reduce((n, d) => n + d.size, 0);
}

function configOf<T>(desc: Descriptor, metadata: (digest: string) => Uint8Array | undefined): T | undefined {
  const manifest = metadata(desc.digest);
  if (!manifest) return undefined;
  const config = parseJson<{ config?: Descriptor }>(manifest, desc.digest).config;
  const bytes = config ? metadata(config.digest) : undefined;
  return bytes ? parseJson<T>(bytes, config?.digest ?? '') : undefined;
}
