/** Collects a spec's `manifests:` entries: files or directories of YAML, validated, as manifest-set artifacts. */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { artifactManifest, jsonBlob, type BuiltBlob } from '../src/bundle/artifact.js';
import { ANNOTATION_KIND, ANNOTATION_MANIFESTS_NAME, MANIFESTS_ARTIFACT_TYPE, MANIFESTS_CONFIG_MEDIA_TYPE, MANIFESTS_LAYER_MEDIA_TYPE } from '../src/bundle/format.js';
import { ANNOTATION_TITLE, type Descriptor } from '../src/descriptor.js';
import { sha256Digest } from '../src/digest.js';
import { AirlockError } from '../src/errors.js';
import { type ManifestDocument, isManifestFile, parseManifests } from '../src/manifests/documents.js';
import { buildManifestTar } from '../src/manifests/manifest-tar.js';
import type { OciLayoutStore } from '../src/oci-layout.js';
import type { SourceIntent } from '../src/render/types.js';
import { discoveryDocuments } from '../src/render/discover.js';

/** The intent recorded in a config: only what is set, so a source without any keeps the config it always had. */
export function intentFields(intent: SourceIntent): SourceIntent {
  return {
    ...(intent.placement?.clusterSelector ? { placement: intent.placement } : {}),
    ...(intent.overrides?.length ? { overrides: intent.overrides } : {}),
    ...(intent.values && Object.keys(intent.values).length ? { values: intent.values } : {}),
  };
}

export interface CollectedManifestSet {
  /** Descriptor for the bundle root. */
  desc: Descriptor;
  metadata: BuiltBlob[];
  documents: ManifestDocument[];
}

/** `intent` (placement, overrides, the spec's values) is recorded in the set's signed config for the site's render. */
export async function collectManifestSet(path: string, baseDir: string, scratch: OciLayoutStore, specFile: string, line: number, intent: SourceIntent = {}): Promise<CollectedManifestSet> {
  const full = resolve(baseDir, path);
  let files: string[];
  try {
    files = (await stat(full)).isDirectory() ? await listFiles(full) : [full];
  } catch (err) {
    throw new AirlockError('SPEC_INVALID', `${specFile}:${line}: manifests path ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const root = (await stat(full)).isDirectory() ? full : resolve(full, '..');
  const entries: { path: string; content: Buffer }[] = [];
  const documents: ManifestDocument[] = [];
  for (const file of files.filter(isManifestFile).sort()) {
    const content = await readFile(file);
    parseManifests(content.toString('utf8'), relative(process.cwd(), file) || file); // checks the YAML, naming file:line
    entries.push({ path: relative(root, file), content });
  }
  // Images are found in the objects as the sites will see them: spec values, and each override's values and images.
  documents.push(...discoveryDocuments({ kind: 'manifests', name: path, files: entries.map((e) => ({ path: e.path, text: e.content.toString('utf8') })), ...intent }));
  if (!entries.length) throw new AirlockError('SPEC_INVALID', `${specFile}:${line}: manifests path ${path} holds no .yaml, .yml or .json files`);

  const tar = buildManifestTar(entries);
  const layer: Descriptor = { mediaType: MANIFESTS_LAYER_MEDIA_TYPE, digest: sha256Digest(tar), size: tar.length, annotations: { [ANNOTATION_TITLE]: `${path}.tar` } };
  await scratch.push(layer, Readable.from([tar]));
  const config = jsonBlob(MANIFESTS_CONFIG_MEDIA_TYPE, { name: path, files: entries.map((e) => e.path).sort(), ...intentFields(intent) });
  const manifest = artifactManifest(MANIFESTS_ARTIFACT_TYPE, config.desc, [layer], { [ANNOTATION_MANIFESTS_NAME]: path });
  return {
    desc: { ...manifest.desc, artifactType: MANIFESTS_ARTIFACT_TYPE, annotations: { [ANNOTATION_KIND]: 'manifests', [ANNOTATION_MANIFESTS_NAME]: path } },
    metadata: [config, manifest],
    documents,
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
