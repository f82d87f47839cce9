/**
 * `bundle create`: collect manifests, Git snapshots and images (metadata only), sign the statement over the
 * root, then stream every large blob from its source into the archive. Reads as the pipeline it is.
 */
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Writable } from 'node:stream';
import { basename, dirname, join, resolve } from 'node:path';
import { jsonBlob, type BuiltBlob } from '../src/bundle/artifact.js';
import { ANNOTATION_BUNDLE_NAME, BUNDLE_ARTIFACT_TYPE, STATEMENT_PAYLOAD_TYPE, type Statement } from '../src/bundle/format.js';
import type { PartEntry, PartsIndex } from '../src/bundle/parts.js';
import { indexPathFor } from '../src/bundle/parts-source.js';
import { planBundle } from '../src/bundle/plan.js';
import { writeBundle } from '../src/bundle/writer.js';
import { streamOutput } from '../src/bundle/archive-output.js';
import { ANNOTATION_CREATED, type Descriptor, MediaType } from '../src/descriptor.js';
import { AirlockError, errorMessage, isAirlockError } from '../src/errors.js';
import type { ManifestDocument } from '../src/manifests/documents.js';
import { imagesOf } from '../src/manifests/images.js';
import { MemoryStore } from '../src/memory-store.js';
import { OciLayoutStore } from '../src/oci-layout.js';
import { formatReference, parseReference } from '../src/reference.js';
import { type AccessOptions, RegistryAccess } from '../src/registry/access.js';
import type { FetchFn } from '../src/registry/client.js';
import type { CredentialLookup } from '../src/registry/credentials.js';
import { formatBytes, parseDuration } from '../src/units.js';
import { writeFileAtomic } from '../src/fs-atomic.js';
import { carriedTrustRoot } from './trust-root-file.js';
import { serializeEnvelope, signEnvelope } from '../keys/dsse.js';
import { signPartsIndex } from '../keys/parts.js';
import type { SecretKey } from '../keys/key-file.js';
import { type CollectedImage, type ImageRequest, SourceOpener, checkServedTags, collectImage } from './collect-images.js';
import { collectGit } from './collect-git.js';
import { collectManifestSet } from './collect-manifests.js';
import { collectChart } from './collect-charts.js';
import { Tools } from '../src/charts/tools.js';
import type { DeltaBase } from './base.js';
import type { BundleSpec } from './spec.js';

export type BuildEvent =
  | { type: 'step'; message: string }
  | { type: 'plan'; totalBytes: number; blobs: number }
  | { type: 'bytes'; n: number };

export interface BuildOptions {
  spec: BundleSpec;
  keys: SecretKey[];
  out: string;
  /** With out `-`: the stream the bundle goes to as it is written (standard output). */
  stdout?: Writable;
  sequence?: number;
  /** Overrides the spec's `expires`. */
  expires?: string;
  now?: Date;
  credentials?: CredentialLookup;
  /** `--cacert`, `--insecure` and the environment's proxy settings; the spec's `registries:` are added. */
  access?: Omit<AccessOptions, 'registries' | 'baseDir' | 'settingsOrigin'>;
  fetch?: FetchFn;
  onEvent?: (e: BuildEvent) => void;
  /** Build a delta: leave out what this base (an earlier bundle or a site receipt) holds. */
  base?: DeltaBase;
  /** Write split parts of this many bytes and a signed `OUT.parts.json` instead of one file. */
  splitSize?: number;
  /** Free bytes at the output's file system; injectable for tests. */
  freeSpace?: (dir: string) => Promise<number>;
  /** helm (and kustomize) for `charts:`; default: found on PATH when a chart needs it. */
  tools?: Tools;
}

export interface BuildResult {
  path: string;
  size: number;
  statement: Statement;
  images: { name: string; digest: string }[];
  git: { name: string; commit: string }[];
  manifests: string[];
  /** Charts with the version each resolved to. */
  charts: { name: string; chart: string; version: string }[];
  /** Delta bundles: the large blobs left out because the base holds them. */
  leftOut: { blobs: number; bytes: number };
  /** Split bundles: the parts index and the parts, in order. */
  parts?: { index: string; parts: PartEntry[] };
}

export async function buildBundle(opts: BuildOptions): Promise<BuildResult> {
  const { spec, keys, now = new Date(), onEvent = () => undefined } = opts;
  if (!keys.length) throw new AirlockError('USAGE', 'at least one signing key (--key) is required');
  const stream = opts.out === '-' ? opts.stdout : undefined;
  const out = stream ? '-' : resolve(opts.out);
  const expiresIn = opts.expires ?? spec.expires;
  const expiresMs = expiresIn === undefined ? undefined : parseDuration(expiresIn);
  if (expiresIn !== undefined && expiresMs === undefined) throw new AirlockError('USAGE', `--expires "${expiresIn}" is not a duration like 30d or 12h`);
  const sequence = opts.sequence ?? Math.floor(now.getTime() / 1000);

  const access = await RegistryAccess.load({ ...opts.access, registries: spec.registries, baseDir: spec.baseDir, settingsOrigin: spec.file });
  const scratch = await OciLayoutStore.open(await mkdtemp(join(stream ? tmpdir() : dirname(out), `.airlock-build-`)), { create: true });
  try {
    const metadata = new MemoryStore();
    const addMeta = (blobs: BuiltBlob[]) => blobs.forEach((b) => metadata.pushBytes(b.desc, b.bytes));
    const documents: ManifestDocument[] = [];
    const rootEntries: Descriptor[] = [];

    const manifestNames: string[] = [];
    for (const m of spec.manifests) {
      onEvent({ type: 'step', message: `reading manifests ${m.path}` });
      const set = await collectManifestSet(m.path, spec.baseDir, scratch, spec.file, m.line, { ...m, values: spec.values });
      addMeta(set.metadata);
      documents.push(...set.documents);
      rootEntries.push(set.desc);
      manifestNames.push(m.path);
    }

    const gitResults: { name: string; commit: string }[] = [];
    for (const g of spec.git) {
      onEvent({ type: 'step', message: `snapshotting git ${g.name} (${g.url} at ${g.ref})` });
      const snap = await collectGit(g, spec.baseDir, scratch, opts.base?.commits.get(g.name) ?? [], spec.values, opts.tools);
      addMeta(snap.metadata);
      documents.push(...snap.documents);
      rootEntries.push(snap.desc);
      gitResults.push({ name: g.name, commit: snap.config.commit });
    }

    const chartResults: BuildResult['charts'] = [];
    for (const c of spec.charts) {
      onEvent({ type: 'step', message: `resolving chart ${c.name} (${c.repo ? `${c.repo} ` : ''}${c.chart}${c.version ? ` ${c.version}` : ''})` });
      const chart = await collectChart(c, spec.values, scratch, {
        tools: opts.tools ?? new Tools(),
        access,
        baseDir: spec.baseDir,
        specFile: spec.file,
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      addMeta(chart.metadata);
      documents.push(...chart.documents);
      rootEntries.push(chart.desc);
      chartResults.push({ name: c.name, chart: chart.config.chart, version: chart.config.version });
    }

    const opener = new SourceOpener({
      access,
      baseDir: spec.baseDir,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    const collected: CollectedImage[] = [];
    for (const req of imageRequests(spec, documents)) {
      onEvent({ type: 'step', message: `resolving ${req.ref}` });
      const image = await collectImage(req, opener, metadata);
      if (collected.some((i) => i.name === image.name)) continue;
      collected.push(image);
    }
    // Before anything is written: two images served under one repository:tag stop the build.
    const images = checkServedTags(collected);
    rootEntries.push(...images.map((i) => i.desc));

    const root = jsonBlob(MediaType.ociIndex, {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      artifactType: BUNDLE_ARTIFACT_TYPE,
      manifests: rootEntries,
      annotations: { [ANNOTATION_BUNDLE_NAME]: spec.name, [ANNOTATION_CREATED]: now.toISOString() },
    });
    metadata.pushBytes(root.desc, root.bytes);

    const trustRoot = spec.trustRoot ? await carriedTrustRoot(spec, now) : undefined;
    const statement: Statement & { trustRoot?: string } = {
      type: 'airlock-statement',
      name: spec.name,
      channel: spec.channel,
      sequence,
      created: now.toISOString(),
      ...(expiresMs !== undefined ? { expires: new Date(now.getTime() + expiresMs).toISOString() } : {}),
      root: root.desc,
      ...(opts.base?.base ? { base: opts.base.base } : {}),
      ...(opts.base?.baseSite ? { baseSite: opts.base.baseSite } : {}),
      ...(trustRoot ? { trustRoot } : {}),
    };
    const signature = serializeEnvelope(signEnvelope(STATEMENT_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), keys));

    const sourceOf = blobSources(images, metadata);
    const free = stream ? Infinity : await (opts.freeSpace ?? freeBytes)(dirname(out));
    onEvent({ type: 'step', message: `writing ${out}` });
    const base = opts.base;
    const written = await writeBundle({
      out,
      ...(stream ? { output: streamOutput(stream) } : {}),
      ...(opts.splitSize ? { splitSize: opts.splitSize } : {}),
      ...(base ? { leaveOut: (d: Descriptor) => base.blobs.has(d.digest) } : {}),
      root: root.desc,
      metadata: (d) => metadata.get(d),
      signature,
      openBlob: async (desc) => {
        const image = sourceOf.get(desc.digest);
        if (image) return image.source.fetch(desc).catch((err: unknown) => {
          throw new AirlockError(isAirlockError(err) ? err.code : 'REGISTRY_ERROR', `image ${image.name}: ${errorMessage(err)}`, { cause: err });
        });
        if (await scratch.exists(desc)) return scratch.fetch(desc);
        throw new AirlockError('BLOB_UNKNOWN', `no source for blob ${desc.digest}`);
      },
      describeBlob: (desc) => {
        const image = sourceOf.get(desc.digest);
        return image ? `image ${image.name}: layer ${desc.digest}` : `blob ${desc.digest}`;
      },
      onPlan: (totalBytes, blobs) => {
        if (totalBytes > free) {
          throw new AirlockError('INSUFFICIENT_STORAGE', `not enough free space in ${dirname(out)}: the bundle needs ${formatBytes(totalBytes)}, ${formatBytes(free)} is free (${formatBytes(totalBytes - free)} missing)`);
        }
        onEvent({ type: 'plan', totalBytes, blobs: blobs.length });
      },
      onBytes: (n) => onEvent({ type: 'bytes', n }),
    });
    let parts: BuildResult['parts'];
    if (written.parts) {
      const index = indexPathFor(out);
      const partsIndex: PartsIndex = { type: 'airlock-parts', bundle: basename(out), root: root.desc.digest, size: written.size, parts: written.parts };
      await writeFileAtomic(index, signPartsIndex(partsIndex, keys));
      parts = { index, parts: written.parts };
    }
    return {
      path: parts ? parts.index : written.path,
      size: written.size,
      leftOut: { blobs: written.leftOut.length, bytes: written.leftOut.reduce((n, d) => n + d.size, 0) },
      ...(parts ? { parts } : {}),
      statement,
      images: images.map((i) => ({ name: i.name, digest: i.desc.digest })),
      git: gitResults,
      manifests: manifestNames,
      charts: chartResults,
    };
  } finally {
    access.close();
    await rm(scratch.dir, { recursive: true, force: true });
  }
}

/** Explicit images first, then (unless disabled) those the manifests use, each once by normalised name. */
export function imageRequests(spec: BundleSpec, documents: ManifestDocument[]): ImageRequest[] {
  const requests: ImageRequest[] = spec.images.map((i) => ({ ref: i.ref, ...(i.platforms ? { platforms: i.platforms } : {}), origin: `${spec.file}:${i.line}` }));
  if (!spec.discoverImages) return requests;
  const known = new Set(requests.map((r) => normalised(r.ref)));
  for (const doc of documents) {
    for (const image of imagesOf(doc.object)) {
      const key = normalised(image);
      if (known.has(key)) continue;
      known.add(key);
      requests.push({ ref: image, origin: `${doc.file}:${doc.line}` });
    }
  }
  return requests;
}

function normalised(ref: string): string {
  if (ref.startsWith('oci:')) return ref;
  try {
    return formatReference(parseReference(ref));
  } catch {
    return ref;
  }
}

/** Which image (and so which source) serves each layer: the first that lists it. */
function blobSources(images: CollectedImage[], metadata: MemoryStore): Map<string, CollectedImage> {
  const sourceOf = new Map<string, CollectedImage>();
  for (const image of images) {
    for (const blob of planBundle(image.desc, (d) => metadata.get(d)).blobs) {
      if (!sourceOf.has(blob.digest)) sourceOf.set(blob.digest, image);
    }
  }
  return sourceOf;
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
