/**
 * Reading one release from the depot, shared by `bundle pull` and the appliance's `--depot`: the root a channel tag
 * (or digest) names, its signature artifact (envelope and depot layout, each checked against its digest) found
 * through the referrers, and every manifest and config below the root. Large blobs are the caller's business.
 */
import type { Descriptor } from '../descriptor.js';
import { MediaType } from '../descriptor.js';
import { verifyBytes } from '../digest.js';
import { AirlockError, isAirlockError } from '../errors.js';
import { childrenOf, hasChildren, parseJson, platformsOf } from '../graph.js';
import { BUNDLE_ARTIFACT_TYPE } from '../bundle/format.js';
import type { RegistryRepository } from '../registry/repository.js';
import { fetchAll } from '../storage.js';
import { ANNOTATION_SEQUENCE, DEPOT_LAYOUT_MEDIA_TYPE, type DepotLayout, SIGNATURE_ARTIFACT_TYPE } from './layout.js';
import { listReferrers } from './referrers.js';

/** The bundle root `reference` (channel tag or root digest) names; refuses anything but an airlock bundle root. */
export async function resolveRoot(repo: RegistryRepository, reference: string): Promise<{ root: Descriptor; rootBytes: Buffer }> {
  const where = `${repo.client.registry}/${repo.name}`;
  let root: Descriptor;
  let rootBytes: Buffer;
  try {
    ({ desc: root, bytes: rootBytes } = await repo.getManifest(reference));
  } catch (err) {
    if (isAirlockError(err, 'MANIFEST_UNKNOWN')) {
      throw new AirlockError('MANIFEST_UNKNOWN', `${where} has no ${reference.startsWith('sha256:') ? 'bundle root' : `channel tag "${reference}"`}: nothing has been pushed there with airlock bundle push (check the channel name)`, { cause: err });
    }
    throw err;
  }
  const rootIndex = parseJson<{ artifactType?: string; manifests?: Descriptor[] }>(rootBytes, `${where}:${reference}`);
  if (root.mediaType !== MediaType.ociIndex || rootIndex.artifactType !== BUNDLE_ARTIFACT_TYPE) {
    throw new AirlockError('MANIFEST_UNSUPPORTED', `${where}:${reference} is not an airlock bundle root (${rootIndex.artifactType ?? root.mediaType}); pull images with skopeo or podman`);
  }
  return { root, rootBytes };
}

/**
 * The signature of `root` with the highest sequence among its referrers (the last listed on a tie): the envelope
 * text exactly as pushed, and the depot layout. The caller checks the envelope before fetching any blob.
 */
export async function readSignature(repo: RegistryRepository, root: Descriptor): Promise<{ signature: string; layout: DepotLayout }> {
  const where = `${repo.client.registry}/${repo.name}`;
  const sigs = (await listReferrers(repo, root.digest)).filter((d) => d.artifactType === SIGNATURE_ARTIFACT_TYPE);
  if (!sigs.length) throw new AirlockError('SIGNATURE_INVALID', `${where}: no airlock signature refers to ${root.digest}; push the bundle with airlock bundle push`);
  const sequence = (d: Descriptor) => Number(d.annotations?.[ANNOTATION_SEQUENCE] ?? 0);
  const chosen = sigs.reduce((best, d) => (sequence(d) >= sequence(best) ? d : best));
  const { bytes: sigManifestBytes } = await repo.getManifest(chosen.digest);
  const sigManifest = parseJson<{ config?: Descriptor; layers?: Descriptor[]; subject?: Descriptor }>(sigManifestBytes, `signature ${chosen.digest}`);
  const envelopeDesc = sigManifest.layers?.[0];
  if (sigManifest.subject?.digest !== root.digest || !envelopeDesc || sigManifest.config?.mediaType !== DEPOT_LAYOUT_MEDIA_TYPE) {
    throw new AirlockError('SIGNATURE_INVALID', `${where}: signature artifact ${chosen.digest} is not one airlock bundle push writes`);
  }
  const envelopeBytes = await fetchVerified(repo, envelopeDesc, 1024 * 1024);
  const layout = parseJson<DepotLayout>(await fetchVerified(repo, sigManifest.config, 1024 * 1024), `depot layout ${sigManifest.config.digest}`);
  if (layout.type !== 'airlock-depot-layout' || layout.format !== 1 || !Array.isArray(layout.leftOut)) {
    throw new AirlockError('MANIFEST_UNSUPPORTED', `${where}: depot layout ${sigManifest.config.digest} has an unknown format; upgrade airlock`);
  }
  return { signature: envelopeBytes.toString('utf8'), layout };
}

export async function fetchVerified(repo: RegistryRepository, desc: Descriptor, limit: number): Promise<Buffer> {
  const bytes = await fetchAll(repo, desc, limit);
  verifyBytes(bytes, desc, `${repo.client.registry}/${repo.name} blob ${desc.digest}`);
  return bytes;
}

/** Every manifest, index and config below the root, each verified against its digest. */
export async function fetchMetadata(repo: RegistryRepository, root: Descriptor, rootBytes: Buffer): Promise<Map<string, Buffer>> {
  const metadata = new Map<string, Buffer>([[root.digest, rootBytes]]);
  const queue: Descriptor[] = [root];
  for (let desc = queue.shift(); desc; desc = queue.shift()) {
    const bytes = metadata.get(desc.digest);
    if (!bytes || !hasChildren(desc)) continue;
    const children = childrenOf(desc, bytes, platformsOf(desc));
    const fresh = children.metadata.filter((c) => !metadata.has(c.digest));
    const fetched = await Promise.all(fresh.map((c) => fetchVerified(repo, c, 16 * 1024 * 1024)));
    fresh.forEach((c, i) => {
      if (metadata.has(c.digest)) return;
      metadata.set(c.digest, fetched[i] ?? Buffer.alloc(0));
      queue.push(c);
    });
  }
  return metadata;
}
