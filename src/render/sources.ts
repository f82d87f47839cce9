/**
 * A bundle's sources as plain data for the render: each manifest set's files and each Git snapshot's manifests
 * path, with the placement intent recorded in its signed config (absent: every cluster, no overrides). Reading
 * bytes is the caller's (injected); this only walks the signed root and checks the intent.
 */
import { ANNOTATION_KIND, ANNOTATION_MANIFESTS_NAME, type GitSnapshotConfig, type ManifestSetConfig } from '../bundle/format.js';
import type { Descriptor } from '../descriptor.js';
import { AirlockError } from '../errors.js';
import { parseJson } from '../graph.js';
import { isManifestFile } from '../manifests/documents.js';
import type { OciIndex } from '../oci-layout.js';
import { checkOverride, checkSelector, checkValues } from './intent.js';
import type { Override, RenderSource, SourceIntent } from './types.js';

export interface SourceReaders {
  /** A metadata blob (manifest or config) of the bundle. */
  metadata(digest: string): Buffer | undefined;
  /** The files of a manifest set's layer. */
  manifestFiles(layer: Descriptor): Promise<{ path: string; content: Buffer }[]>;
  /** The files under the snapshot's manifests path at its commit. */
  gitFiles(config: GitSnapshotConfig, layer: Descriptor): Promise<{ path: string; content: Buffer }[]>;
}

/** The intent of a config, checked: a bundle from another bundler version cannot smuggle in a malformed one. */
export function intentOf(config: SourceIntent, what: string): SourceIntent {
  const problems: string[] = [];
  const raw = config as Record<string, unknown>;
  const placement = raw.placement as { clusterSelector?: unknown } | undefined;
  const clusterSelector = checkSelector(placement?.clusterSelector, `${what}: placement.clusterSelector`, problems);
  const overrides = Array.isArray(raw.overrides)
    ? raw.overrides.map((o, i) => checkOverride(o, `${what}: overrides[${i}]`, problems)).filter((o): o is Override => !!o)
    : [];
  if (raw.overrides !== undefined && !Array.isArray(raw.overrides)) problems.push(`${what}: overrides must be a list`);
  const values = checkValues(raw.values, `${what}: values`, problems);
  if (problems.length) throw new AirlockError('RENDER_FAILED', `the bundle's placement intent is not valid: ${problems.join('; ')}`);
  return { ...(clusterSelector ? { placement: { clusterSelector } } : {}), ...(overrides.length ? { overrides } : {}), ...(values ? { values } : {}) };
}

export async function bundleSources(rootIndex: OciIndex, readers: SourceReaders): Promise<RenderSource[]> {
  const json = <T>(digest: string): T => {
    const bytes = readers.metadata(digest);
    if (!bytes) throw new AirlockError('BUNDLE_CORRUPT', `metadata blob ${digest} is not in the bundle`);
    return parseJson<T>(bytes, digest);
  };
  const out: RenderSource[] = [];
  for (const d of rootIndex.manifests) {
    const kind = d.annotations?.[ANNOTATION_KIND];
    if (kind !== 'manifests' && kind !== 'git') continue;
    const manifest = json<{ config: Descriptor; layers: Descriptor[] }>(d.digest);
    if (kind === 'manifests') {
      const config = json<ManifestSetConfig & SourceIntent>(manifest.config.digest);
      const name = d.annotations?.[ANNOTATION_MANIFESTS_NAME] ?? config.name ?? 'manifests';
      const files: RenderSource['files'] = [];
      for (const layer of manifest.layers) for (const f of await readers.manifestFiles(layer)) files.push({ path: f.path, text: f.content.toString('utf8') });
      out.push({ kind, name, files: files.filter((f) => isManifestFile(f.path)), ...intentOf(config, `manifests ${name}`) });
    } else {
      const config = json<GitSnapshotConfig & SourceIntent>(manifest.config.digest);
      const layer = manifest.layers[0];
      if (!config.manifests || !layer) continue;
      const files = (await readers.gitFiles(config, layer)).filter((f) => isManifestFile(f.path)).map((f) => ({ path: f.path, text: f.content.toString('utf8') }));
      out.push({ kind, name: config.name, files, ...intentOf(config, `git ${config.name}`) });
    }
  }
  return out;
}
