/**
 * `airlock render`'s reading side: one pass over a bundle file (verified against a trust root, or only read when
 * none is given), keeping manifest-set layers in memory and Git snapshots in a scratch repository, then the
 * bundle's sources as plain data for the pure render (src/render/).
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { GIT_BUNDLE_MEDIA_TYPE, HELM_CHART_LAYER_MEDIA_TYPE, MANIFESTS_LAYER_MEDIA_TYPE } from '../src/bundle/format.js';
import { expandableSources } from '../src/charts/sources.js';
import { readBundle } from '../src/bundle/reader.js';
import type { Statement } from '../src/bundle/format.js';
import { summarize } from '../src/bundle/summary.js';
import { AirlockError } from '../src/errors.js';
import { readManifestTar } from '../src/manifests/manifest-tar.js';
import { readTreeFiles } from '../src/git/snapshot.js';
import { type SourceExpander, identityExpander } from '../src/render/expand.js';
import { type PlacementRender, renderPlacement } from '../src/render/placement.js';
import { bundleSources } from '../src/render/sources.js';
import type { RenderSource } from '../src/render/types.js';
import type { Site, SiteCluster } from '../src/site/site-file.js';
import { formatReference, parseReference } from '../src/reference.js';
import { statementVerifier, unverifiedStatement } from '../keys/statement-verifier.js';
import type { TrustRoot } from '../keys/trust-root.js';

const run = promisify(execFile);

export interface LoadedBundle {
  statement: Statement;
  signers: string[];
  verified: boolean;
  sources: RenderSource[];
  /** Digest of each image the bundle holds, by normalised reference (for pinning, as the site does). */
  images: { ref: string; digest: string }[];
}

export interface RenderBundleOptions {
  /** Expands charts and overlays per cluster before the pure render (identity by default; src/render/expand.ts). */
  expandSources?: SourceExpander;
}

/** The images the bundle holds by tag-level reference → digest: images are pinned to them, as the site does. */
export function heldImages(images: { ref: string; digest: string }[]): Map<string, string> {
  const held = new Map<string, string>();
  for (const image of images) {
    try {
      const ref = parseReference(image.ref);
      held.set(formatReference({ registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) }), image.digest);
    } catch {
      // an image the bundle names oddly is served under no tag; nothing to pin
    }
  }
  return held;
}

/**
 * One cluster of a site file, rendered exactly as the appliance renders its placement (src/render/placement.ts):
 * expanded, rendered, marked and pointed at the site file's `registryHost`.
 */
export function renderBundleForCluster(bundle: LoadedBundle, site: Site, cluster: SiteCluster, opts: RenderBundleOptions = {}): Promise<PlacementRender> {
  return renderPlacement(bundle.sources, site, cluster, {
    expandSources: opts.expandSources ?? identityExpander,
    desired: {
      channel: bundle.statement.channel,
      rootDigest: bundle.statement.root.digest,
      rules: { registry: site.registryHost ?? 'unused.invalid', held: heldImages(bundle.images) },
      placement: { site: site.name, cluster: cluster.name },
    },
  });
}

export async function loadBundleForRender(path: string, trust: TrustRoot | undefined, now: Date): Promise<LoadedBundle> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('NOT_FOUND', `cannot read the bundle ${path}: ${err.code ?? err.message}`);
  });
  if (!info.isFile()) throw new AirlockError('USAGE', `${path} is not a bundle file (render reads one .airlock file; join split parts first)`);
  const blobs = new Map<string, Buffer>();
  const contents = await readBundle({
    source: createReadStream(path, { highWaterMark: 1024 * 1024 }),
    verifyStatement: trust ? statementVerifier({ trust, now }) : unverifiedStatement,
    blobSink: {
      async ingest(desc) {
        if (desc.mediaType !== MANIFESTS_LAYER_MEDIA_TYPE && desc.mediaType !== GIT_BUNDLE_MEDIA_TYPE && desc.mediaType !== HELM_CHART_LAYER_MEDIA_TYPE) return undefined;
        const chunks: Buffer[] = [];
        return {
          write: async (c) => void chunks.push(c),
          commit: async () => void blobs.set(desc.digest, Buffer.concat(chunks)),
          abort: async () => undefined,
        };
      },
    },
  });
  if (contents.leftOut.length) throw new AirlockError('USAGE', `${path} is a delta bundle: render needs the full bundle (its base holds blobs it leaves out)`);
  const work = await mkdtemp(join(tmpdir(), 'airlock-render-'));
  try {
    const gitdirs = new Map<string, string>();
    const plainSources = await bundleSources(contents.rootIndex, {
      metadata: (digest) => contents.metadata.get(digest),
      manifestFiles: async (layer) => readManifestTar(Readable.from([blobs.get(layer.digest) ?? Buffer.alloc(0)])),
      gitFiles: async (config, layer) => {
        const bytes = blobs.get(layer.digest);
        if (!bytes) throw new AirlockError('BUNDLE_CORRUPT', `the Git snapshot ${config.name} is not in the bundle`);
        if (config.prerequisites?.length) throw new AirlockError('USAGE', `${path}: the Git snapshot ${config.name} builds on commits of an earlier bundle; render needs a full bundle`);
        const gitdir = join(work, `${config.name}.git`);
        const file = join(work, `${config.name}.bundle`);
        await writeFile(file, bytes);
        await run('git', ['init', '-q', '--bare', gitdir]);
        await run('git', ['-C', gitdir, 'fetch', '-q', file, '+refs/*:refs/*']).catch(async () => run('git', ['-C', gitdir, 'fetch', '-q', file, config.commit]));
        gitdirs.set(config.name, gitdir);
        return readTreeFiles(gitdir, config.commit, config.manifests ?? '');
      },
    });
    // Charts and Kustomize trees for the expander (src/charts/expand.ts).
    const sources = await expandableSources(contents.rootIndex, plainSources, {
      metadata: (digest) => contents.metadata.get(digest),
      chartArchive: async (layer) => blobs.get(layer.digest) ?? Buffer.alloc(0),
      repositoryFiles: async (config) => readTreeFiles(gitdirs.get(config.name) ?? '', config.commit, ''),
    });
    const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
    return { statement: contents.statement, signers: contents.signers, verified: !!trust, sources, images: summary.images.map((i) => ({ ref: i.ref, digest: i.digest })) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
