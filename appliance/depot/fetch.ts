/**
 * Taking one release from the depot: the signature is fetched and checked with this appliance's policy (trust,
 * channel, sequence, expiry) before any blob; then the manifests; then the import runs through the same pipeline as
 * a stick (appliance/import/pipeline.ts), fed with the archive the bundle writer makes of the release — blobs this
 * appliance holds read from its own store, the others fetched (resumable, appliance/depot/ingest.ts). The pipeline
 * verifies every byte and records, finishes and syncs exactly as for a stick; a fetched blob's ingest file becomes
 * the store's blob by rename once verified (written once).
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { layoutIndexFor } from '../../src/bundle/format.js';
import { planBundle } from '../../src/bundle/plan.js';
import { writeBundle } from '../../src/bundle/writer.js';
import type { ArchiveOutput } from '../../src/bundle/archive-output.js';
import type { Descriptor } from '../../src/descriptor.js';
import { AirlockError } from '../../src/errors.js';
import { fetchMetadata, readSignature, resolveRoot } from '../../src/depot/release.js';
import { OCI_LAYOUT_CONTENT, type OciIndex } from '../../src/oci-layout.js';
import type { RegistryRepository } from '../../src/registry/repository.js';
import { BLOCK, paddingFor } from '../../src/tar/header.js';
import { statementVerifier } from '../../keys/statement-verifier.js';
import type { ApplianceContext } from '../context.js';
import type { ImportManager } from '../import/manager.js';
import type { ImportOutcome } from '../import/pipeline.js';
import { type IngestOptions, fetchBlob, ingestPath, ingested } from './ingest.js';
import { drainedOrClosed } from '../../src/drained.js';

/** Refusals of the policy: the same release is not asked for again until the tag moves (or the trust root changes). */
export const POLICY_CODES = new Set(['SIGNATURE_INVALID', 'THRESHOLD_NOT_MET', 'EXPIRED', 'TRUST_ROOT_EXPIRED', 'CHANNEL_MISMATCH', 'ROLLBACK', 'MANIFEST_UNSUPPORTED', 'PLAN_INVALID']);

export interface ReleaseInfo {
  root: string;
  channel: string;
  sequence: number;
  expires: string | null;
}

export interface StartedRelease extends ReleaseInfo {
  importId: string;
  /** Bytes of the release's large blobs, of those this appliance held (not fetched) and of those it lacked. */
  totalBlobBytes: number;
  savedBytes: number;
  missingBytes: number;
  /** Of the missing bytes, those already in ingest files from an earlier attempt. */
  resumedBytes: number;
  done: Promise<ImportOutcome>;
}

export interface FetchDeps {
  ctx: ApplianceContext;
  imports: ImportManager;
  repo: RegistryRepository;
  ingest: Omit<IngestOptions, 'repo'>;
}

/** Checks the signature of the release at `rootDigest` against this appliance's policy; throws to refuse. */
export async function checkRelease(deps: FetchDeps, rootDigest: string) {
  const { ctx, repo } = deps;
  const { root, rootBytes } = await resolveRoot(repo, rootDigest);
  const { signature } = await readSignature(repo, root);
  const channel = ctx.channel;
  // the same policy as the pipeline applies (statementVerifier), before a single blob is asked for
  const lastAccepted = ctx.state.lastAccepted(channel ?? '');
  const verified = statementVerifier({ trust: ctx.trust, now: ctx.now(), ...(channel ? { channel } : {}), ...(lastAccepted ? { lastAccepted } : {}) })(signature);
  if (verified.statement.root.digest !== root.digest) {
    throw new AirlockError('SIGNATURE_INVALID', `${repo.client.registry}/${repo.name}: the signature found for ${root.digest} signs another root, ${verified.statement.root.digest}`);
  }
  const info: ReleaseInfo = { root: root.digest, channel: verified.statement.channel, sequence: verified.statement.sequence, expires: verified.statement.expires ?? null };
  return { root, rootBytes, signature, verified, info };
}

/**
 * Starts the import of a release whose signature `checkRelease` accepted. Throws ImportBusy while another import
 * runs, INSUFFICIENT_STORAGE when the missing blobs do not fit.
 */
export async function startRelease(deps: FetchDeps, checked: Awaited<ReturnType<typeof checkRelease>>): Promise<StartedRelease> {
  const { ctx, imports, repo } = deps;
  const { root, rootBytes, signature, info } = checked;
  const metadata = await fetchMetadata(repo, root, rootBytes);
  const plan = planBundle(root, (d) => metadata.get(d));
  const held = new Set<string>();
  let savedBytes = 0;
  let missingBytes = 0;
  let resumedBytes = 0;
  for (const blob of plan.blobs) {
    if (ctx.state.isVerified(blob.digest, blob.size) && (await ctx.cas.exists(blob))) {
      held.add(blob.digest);
      savedBytes += blob.size;
    } else {
      missingBytes += blob.size;
      resumedBytes += await ingested(deps.ingest.dir, blob);
    }
  }
  await imports.checkSpace(missingBytes - resumedBytes);
  const entry = (n: number) => BLOCK + n + paddingFor(n);
  const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  const total = archiveSize(plan.metadata.map((d) => d.size), plan.blobs.map((d) => d.size), Buffer.byteLength(signature), root, rootBytes, entry);
  // A fetched blob's ingest file holds exactly the bytes handed on: the store takes it by rename once the pipeline
  // has verified them (one write per blob, ADR 016).
  const fetched = new Set(plan.blobs.filter((b) => !held.has(b.digest)).map((b) => b.digest));
  const started = imports.start('depot', total, { source: stream, fileOf: (d) => (fetched.has(d.digest) ? ingestPath(deps.ingest.dir, d) : undefined) });
  const output: ArchiveOutput = {
    write: async (chunk) => {
      if (stream.destroyed) throw new AirlockError('IO_ERROR', 'the import stopped reading the release');
      if (!stream.write(chunk)) await drainedOrClosed(stream);
    },
    finish: async () => {
      stream.end();
      return {};
    },
    abort: async () => undefined,
  };
  const openBlob = async (d: Descriptor): Promise<Readable> =>
    held.has(d.digest) ? ctx.cas.fetch(d) : Readable.from(fetchBlob(d, { ...deps.ingest, repo }), { objectMode: false });
  writeBundle({ out: '', output, sizesOnly: true, root, metadata: (d) => metadata.get(d), signature, openBlob, describeBlob: (d) => `${repo.client.registry}/${repo.name} blob ${d.digest}` }).catch((err: unknown) => {
    stream.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  const done = started.done.then(async (outcome) => {
    if (!stream.destroyed) stream.destroy();
    // Applied: the blobs are in the store now, and what is left in the ingest directory belongs to releases no
    // longer wanted. Failed: partial ingest files stay for the next attempt.
    if (outcome.state === 'applied') {
      for (const name of await readdir(deps.ingest.dir).catch(() => [] as string[])) await rm(join(deps.ingest.dir, name), { force: true });
    }
    return outcome;
  });
  return { ...info, importId: started.id, totalBlobBytes: savedBytes + missingBytes, savedBytes, missingBytes, resumedBytes, done };
}

/** The size of the archive the bundle writer makes of the release (every blob carried). */
function archiveSize(metaSizes: number[], blobSizes: number[], signatureLen: number, root: Descriptor, rootBytes: Buffer, entry: (n: number) => number): number {
  return (
    entry(Buffer.byteLength(OCI_LAYOUT_CONTENT)) +
    entry(Buffer.byteLength(layoutIndexFor(root, JSON.parse(rootBytes.toString('utf8')) as OciIndex))) +
    entry(signatureLen) +
    metaSizes.reduce((n, s) => n + entry(s), 0) +
    blobSizes.reduce((n, s) => n + entry(s), 0) +
    2 * BLOCK
  );
}
