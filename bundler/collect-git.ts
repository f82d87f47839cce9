/** Collects a spec's `git:` entries: a git bundle per snapshot, as Git artifacts, plus the YAML at its manifests path. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { artifactManifest, jsonBlob, type BuiltBlob } from '../src/bundle/artifact.js';
import { ANNOTATION_GIT_NAME, ANNOTATION_KIND, GIT_ARTIFACT_TYPE, GIT_BUNDLE_MEDIA_TYPE, GIT_CONFIG_MEDIA_TYPE, type GitSnapshotConfig } from '../src/bundle/format.js';
import { ANNOTATION_TITLE, type Descriptor } from '../src/descriptor.js';
import { type ManifestDocument, isManifestFile, parseManifests } from '../src/manifests/documents.js';
import type { OciLayoutStore } from '../src/oci-layout.js';
import { fetchSource, readTreeFiles, writeSnapshotBundle } from '../src/git/snapshot.js';
import type { GitSpec } from './spec.js';
import { intentFields } from './collect-manifests.js';
import { discoveryDocuments } from '../src/render/discover.js';
import type { Override, SourceIntent, Values } from '../src/render/types.js';
import { hasKustomization, kustomizeBuild } from '../src/charts/kustomize.js';
import { Tools } from '../src/charts/tools.js';


export interface CollectedGit {
  desc: Descriptor;
  metadata: BuiltBlob[];
  config: GitSnapshotConfig & SourceIntent;
  documents: ManifestDocument[];
}

/** `values` are the spec's; the entry's placement and overrides and these are recorded in the signed config. */
export async function collectGit(spec: GitSpec, baseDir: string, scratch: OciLayoutStore, haves: string[] = [], values: Values = {}, tools: Tools = new Tools()): Promise<CollectedGit> {
  const work = await mkdtemp(join(scratch.dir, 'git-'));
  try {
    const source = await fetchSource({ url: spec.url, ref: spec.ref, workDir: work, baseDir });
    const file = join(work, 'snapshot.bundle');
    const written = await writeSnapshotBundle({ source, out: file, haves });
    const layer: Descriptor = { mediaType: GIT_BUNDLE_MEDIA_TYPE, digest: written.digest, size: written.size, annotations: { [ANNOTATION_TITLE]: `${spec.name}.bundle` } };
    await scratch.push(layer, createReadStream(file));

    const documents: ManifestDocument[] = [];
    const atPath = spec.manifests ? await readTreeFiles(source.gitdir, source.commit, spec.manifests) : [];
    if (spec.manifests && (hasKustomization(atPath, spec.manifests) || spec.overlays?.length)) {
      const tree = await readTreeFiles(source.gitdir, source.commit, '');
      // Kustomize: built here as on site (the manifests path, and each override's overlay) to find images and
      // fail at headquarters on a broken overlay or a reference leaving the repository.
      const label = `git ${spec.name}`;
      const kustomize = await tools.kustomize(label);
      const variants: { dir: string; override?: Override }[] = [{ dir: spec.manifests }, ...(spec.overrides ?? []).map((o, i) => ({ dir: spec.overlays?.find((x) => x.override === i)?.path ?? spec.manifests ?? '', override: o }))];
      for (const v of variants) {
        const built = await kustomizeBuild(kustomize, tree, v.dir, `${label} (${v.dir})`, scratch.dir);
        documents.push(...discoveryDocuments({ kind: 'git', name: spec.name, files: [{ path: `${v.dir}/(kustomize build)`, text: built }], values, ...(v.override ? { overrides: [v.override] } : {}) }));
      }
    } else if (spec.manifests) {
      const files: { path: string; text: string }[] = [];
      for (const f of atPath) {
        if (!isManifestFile(f.path)) continue;
        parseManifests(f.content.toString('utf8'), `${spec.name}:${f.path}`); // checks the YAML, naming file:line
        files.push({ path: f.path, text: f.content.toString('utf8') });
      }
      // Images as the sites will see them: spec values, and each override's values and images.
      documents.push(...discoveryDocuments({ kind: 'git', name: spec.name, files, values, ...(spec.overrides ? { overrides: spec.overrides } : {}) }));
    }
    const config: GitSnapshotConfig & SourceIntent = {
      name: spec.name,
      url: spec.url,
      ref: source.refName,
      commit: source.commit,
      ...(spec.manifests ? { manifests: spec.manifests } : {}),
      ...(spec.overlays?.length ? { overlays: spec.overlays } : {}),
      ...(written.prerequisites.length ? { prerequisites: written.prerequisites } : {}),
      ...intentFields({ ...(spec.placement ? { placement: spec.placement } : {}), ...(spec.overrides ? { overrides: spec.overrides } : {}), values }),
    };
    const configBlob = jsonBlob(GIT_CONFIG_MEDIA_TYPE, config);
    const manifest = artifactManifest(GIT_ARTIFACT_TYPE, configBlob.desc, [layer], { [ANNOTATION_GIT_NAME]: spec.name });
    return {
      desc: { ...manifest.desc, artifactType: GIT_ARTIFACT_TYPE, annotations: { [ANNOTATION_KIND]: 'git', [ANNOTATION_GIT_NAME]: spec.name } },
      metadata: [configBlob, manifest],
      config,
      documents,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
