/**
 * `bundle push`: a verified local bundle into a registry. Order matters (ADR 016): every blob and manifest below
 * the root (the copy engine: what the registry has is skipped, shared layers mounted), the root, the signature
 * artifact and its referrers record, and only then the channel tag. A push that fails anywhere leaves the
 * channel tag where it was.
 */
import { Readable } from 'node:stream';
import type { Descriptor } from '../descriptor.js';
import { copyGraph } from '../copy.js';
import { hasChildren } from '../graph.js';
import { AirlockError } from '../errors.js';
import type { RegistryRepository } from '../registry/repository.js';
import type { ScannedBundle } from './bundle-source.js';
import { ANNOTATION_CHANNEL, ANNOTATION_SEQUENCE, SIGNATURE_ARTIFACT_TYPE, DEPOT_LAYOUT_MEDIA_TYPE, DSSE_MEDIA_TYPE, type DepotLayout, descriptorOf, signatureManifest } from './layout.js';
import { addReferrer } from './referrers.js';

export interface PushResult {
  root: string;
  channel: string;
  sequence: number;
  signature: string;
  /** How the signature was recorded as a referrer of the root. */
  referrers: 'api' | 'tag';
  /** Blobs uploaded (manifests are not counted). */
  uploaded: number;
  uploadedBytes: number;
  /** Blobs the registry already had or that were mounted. */
  skipped: number;
}

export interface PushOptions {
  bundle: ScannedBundle;
  repo: RegistryRepository;
  /** Another repository of the same registry to mount shared blobs from. */
  mountFrom?: string;
  onBytes?: (n: number) => void;
}

export async function pushBundle({ bundle, repo, mountFrom, onBytes }: PushOptions): Promise<PushResult> {
  const { contents } = bundle;
  const { root, statement } = contents;
  const leftOut = new Set(contents.leftOut.map((d) => d.digest));
  for (const d of contents.leftOut) {
    if (!(await repo.exists(d))) {
      throw new AirlockError('BASE_MISSING', `this delta leaves out blob ${d.digest}, which ${repo.client.registry}/${repo.name} does not hold: push the full bundle of its base there first`);
    }
  }
  let uploaded = 0;
  let uploadedBytes = 0;
  let skipped = 0;
  const rootBytes = contents.metadata.get(root.digest);
  if (!rootBytes) throw new AirlockError('BUNDLE_CORRUPT', 'the bundle lacks its root');
  await copyGraph({
    src: bundle.storage,
    ...(onBytes ? { onBytes } : {}),
    dst: repo,
    root,
    includeBlob: (d) => !leftOut.has(d.digest),
    ...(mountFrom ? { mountFrom } : {}),
    onCopied: (d, wasSkipped) => {
      if (hasChildren(d)) return;
      if (wasSkipped) skipped++;
      else {
        uploaded++;
        uploadedBytes += d.size;
      }
    },
  });

  // The signature artifact: envelope and layout blobs, then the manifest naming the root as its subject.
  const envelopeBytes = Buffer.from(bundle.signature);
  const envelope = descriptorOf(envelopeBytes, DSSE_MEDIA_TYPE);
  const layout: DepotLayout = { type: 'airlock-depot-layout', format: 1, size: bundle.size, sha256: bundle.sha256, leftOut: [...leftOut] };
  const layoutBytes = Buffer.from(JSON.stringify(layout));
  const layoutDesc = descriptorOf(layoutBytes, DEPOT_LAYOUT_MEDIA_TYPE);
  await repo.push(envelope, Readable.from([envelopeBytes]));
  await repo.push(layoutDesc, Readable.from([layoutBytes]));
  const manifestBytes = signatureManifest(root, envelope, layoutDesc, statement.channel, statement.sequence);
  const manifest = descriptorOf(manifestBytes, 'application/vnd.oci.image.manifest.v1+json');
  await repo.putManifest(manifest, manifestBytes, manifest.digest);
  const referrer: Descriptor = {
    ...manifest,
    artifactType: SIGNATURE_ARTIFACT_TYPE,
    annotations: { [ANNOTATION_CHANNEL]: statement.channel, [ANNOTATION_SEQUENCE]: String(statement.sequence) },
  };
  const referrers = await addReferrer(repo, root.digest, referrer);

  // Last: the channel tag moves to the root.
  await repo.putManifest(root, rootBytes, statement.channel);
  return { root: root.digest, channel: statement.channel, sequence: statement.sequence, signature: manifest.digest, referrers, uploaded, uploadedBytes, skipped };
}
