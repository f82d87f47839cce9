/**
 * Bundle format v1: names, media types and the statement. A bundle is an uncompressed POSIX tar whose entries form
 * an OCI image layout, in this order: `oci-layout`, `index.json`, `airlock/signature.json`, then every manifest,
 * index and config blob (parents before children, root first), then every large blob; each blob once.
 */
import { ANNOTATION_REF_NAME, type Descriptor, MediaType } from '../descriptor.js';
import type { OciIndex } from '../oci-layout.js';

export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.airlock.bundle.v1+json';
export const GIT_ARTIFACT_TYPE = 'application/vnd.airlock.git.v1+json';
export const GIT_CONFIG_MEDIA_TYPE = 'application/vnd.airlock.git.config.v1+json';
export const GIT_BUNDLE_MEDIA_TYPE = 'application/vnd.airlock.git.bundle.v2';
export const MANIFESTS_ARTIFACT_TYPE = 'application/vnd.airlock.manifests.v1+json';
export const MANIFESTS_CONFIG_MEDIA_TYPE = 'application/vnd.airlock.manifests.config.v1+json';
export const MANIFESTS_LAYER_MEDIA_TYPE = 'application/vnd.airlock.manifests.layer.v1.tar';
/** Helm's own OCI chart media types (a chart artifact `helm pull oci://…` reads); see docs/adr/018-charts-and-tools.md. */
export const HELM_CONFIG_MEDIA_TYPE = 'application/vnd.cncf.helm.config.v1+json';
export const HELM_CHART_LAYER_MEDIA_TYPE = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
export const STATEMENT_PAYLOAD_TYPE = 'application/vnd.airlock.statement.v1+json';

/** Annotations on the root's descriptors saying what each one is. */
export const ANNOTATION_KIND = 'dev.airlock.kind';
export const ANNOTATION_GIT_NAME = 'dev.airlock.git.name';
export const ANNOTATION_MANIFESTS_NAME = 'dev.airlock.manifests.name';
export const ANNOTATION_CHART_NAME = 'dev.airlock.chart.name';
/** On a chart's manifest: the JSON of its ChartSourceConfig (src/charts/format.ts), signed with the manifest. */
export const ANNOTATION_CHART_CONFIG = 'dev.airlock.chart.config';
export const ANNOTATION_BUNDLE_NAME = 'dev.airlock.bundle.name';

export const ENTRY_LAYOUT = 'oci-layout';
export const ENTRY_INDEX = 'index.json';
export const ENTRY_SIGNATURE = 'airlock/signature.json';
export const BLOB_ENTRY_RE = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** Limits on what a reader buffers: metadata is small by nature. */
export const MAX_METADATA_BLOB = 8 * 1024 * 1024;
export const MAX_INDEX_JSON = 8 * 1024 * 1024;
export const MAX_SIGNATURE_JSON = 1024 * 1024;

export interface Statement {
  type: 'airlock-statement';
  name: string;
  channel: string;
  sequence: number;
  created: string;
  expires?: string;
  root: Descriptor;
  /**
   * Delta bundles: root digest of the bundle this delta was built against (from a site receipt: the root the
   * receipt says is in force on this channel, when there is one).
   */
  base?: string;
  /** Delta bundles built from a site receipt: key id of the appliance that signed it. */
  baseSite?: string;
}

export interface GitSnapshotConfig {
  name: string;
  url: string;
  ref: string;
  commit: string;
  manifests?: string;
  /** Kustomize overlays chosen per override (docs/adr/018-charts-and-tools.md); absent: the manifests path. */
  overlays?: { override: number; path: string }[];
  /** Commits the receiving repository must already hold (delta bundles). */
  prerequisites?: string[];
}

export interface ManifestSetConfig {
  name: string;
  files: string[];
}

export function blobEntryName(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

/**
 * The layout's `index.json` is a function of the root: the root itself, then each image it lists with its
 * reference name, so `skopeo copy oci:DIR:REF` finds it. Readers recompute it and require the same bytes.
 */
export function layoutIndexFor(root: Descriptor, rootIndex: OciIndex): string {
  const images = rootIndex.manifests
    .filter((d) => d.annotations?.[ANNOTATION_KIND] === 'image' && d.annotations?.[ANNOTATION_REF_NAME])
    .map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { [ANNOTATION_REF_NAME]: d.annotations?.[ANNOTATION_REF_NAME] ?? '' } }));
  const rootEntry = { mediaType: root.mediaType, digest: root.digest, size: root.size, artifactType: BUNDLE_ARTIFACT_TYPE, annotations: { [ANNOTATION_KIND]: 'bundle' } };
  return JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [rootEntry, ...images] });
}
