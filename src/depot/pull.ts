/**
 * `bundle pull`: the channel tag's root, its signature artifact (checked against the trust root before any blob
 * when one is given), every manifest and config, then the archive rebuilt by the bundle writer from the
 * registry's blobs, each verified as it streams. The archive's sha256 must equal the one recorded at push
 * (byte-identical to the pushed file) before it is moved into place; nothing is left behind on failure.
 */
import { createHash } from 'node:crypto';
import type { Descriptor } from '../descriptor.js';
import { MediaType } from '../descriptor.js';
import { verifyBytes } from '../digest.js';
import { AirlockError, isAirlockError } from '../errors.js';
import { childrenOf, hasChildren, parseJson, platformsOf } from '../graph.js';
import type { VerifiedStatement } from '../bundle/reader.js';
import { type ArchiveOutput, fileOutput } from '../bundle/archive-output.js';
import { writeBundle } from '../bundle/writer.js';
import { BUNDLE_ARTIFACT_TYPE } from '../bundle/format.js';
import type { RegistryRepository } from '../registry/repository.js';
import { fetchAll } from '../storage.js';
import { ANNOTATION_SEQUENCE, DEPOT_LAYOUT_MEDIA_TYPE, type DepotLayout, SIGNATURE_ARTIFACT_TYPE } from './layout.js';
import { listReferrers } from './referrers.js';

export interface PullOptions {
  repo: RegistryRepository;
  /** Channel tag or root digest. */
  reference: string;
  out: string;
  /** Write here instead of to a file (standard output). */
  output?: ArchiveOutput;
  /** Checks the envelope (trust, expiry); throws to refuse. Without it the statement is only parsed. */
  verifyStatement: (text: string) => VerifiedStatement;
  onPlan?: (total: number) => void;
  onBytes?: (n: number) => void;
}

export interface PullResult {
  root: string;
  size: number;
  sha256: string;
  statement: VerifiedStatement['statement'];
  signers: string[];
}

export async function pullBundle(opts: PullOptions): Promise<PullResult> {
  const { repo, reference } = opts;
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

  // The signature first: nothing else is fetched for a release the trust root refuses.
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
  const signature = envelopeBytes.toString('utf8');
  const verified = opts.verifyStatement(signature);
  if (verified.statement.root.digest !== root.digest) {
    throw new AirlockError('SIGNATURE_INVALID', `${where}: the signature found for ${root.digest} signs another root, ${verified.statement.root.digest}`);
  }

  const metadata = await fetchMetadata(repo, root, rootBytes);
  const leftOut = new Set(layout.leftOut);
  const hash = createHash('sha256');
  let size = 0;
  const inner = opts.output ?? fileOutput(opts.out);
  const output: ArchiveOutput = {
    async write(chunk) {
      hash.update(chunk);
      size += chunk.length;
      await inner.write(chunk);
    },
    async finish() {
      const sha256 = hash.digest('hex');
      if (size !== layout.size || sha256 !== layout.sha256) {
        throw new AirlockError('DIGEST_MISMATCH', `${where}: the rebuilt bundle (${size} bytes, sha256 ${sha256}) is not the one pushed (${layout.size} bytes, sha256 ${layout.sha256}); the depot's content was changed`);
      }
      return inner.finish();
    },
    abort: () => inner.abort(),
  };
  const written = await writeBundle({
    out: opts.out,
    output,
    root,
    metadata: (d) => metadata.get(d),
    signature,
    openBlob: (d) => repo.fetch(d),
    describeBlob: (d) => `${where} blob ${d.digest}`,
    leaveOut: (d) => leftOut.has(d.digest),
    ...(opts.onPlan ? { onPlan: (total: number) => opts.onPlan?.(total) } : {}),
    ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
  });
  return { root: root.digest, size: written.size, sha256: layout.sha256, statement: verified.statement, signers: verified.signers };
}

async function fetchVerified(repo: RegistryRepository, desc: Descriptor, limit: number): Promise<Buffer> {
  const bytes = await fetchAll(repo, desc, limit);
  verifyBytes(bytes, desc, `${repo.client.registry}/${repo.name} blob ${desc.digest}`);
  return bytes;
}

/** Every manifest, index and config below the root, each verified against its digest. */
async function fetchMetadata(repo: RegistryRepository, root: Descriptor, rootBytes: Buffer): Promise<Map<string, Buffer>> {
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
