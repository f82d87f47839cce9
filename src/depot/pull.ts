/**
 * `bundle pull`: the channel tag's root, its signature artifact (checked against the trust root before any blob
 * when one is given), every manifest and config, then the archive rebuilt by the bundle writer from the
 * registry's blobs, each verified as it streams. The archive's sha256 must equal the one recorded at push
 * (byte-identical to the pushed file) before it is moved into place; nothing is left behind on failure.
 */
import { createHash } from 'node:crypto';
import { AirlockError } from '../errors.js';
import type { VerifiedStatement } from '../bundle/reader.js';
import { type ArchiveOutput, fileOutput } from '../bundle/archive-output.js';
import { writeBundle } from '../bundle/writer.js';
import type { RegistryRepository } from '../registry/repository.js';
import { fetchMetadata, readSignature, resolveRoot } from './release.js';

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
  const { root, rootBytes } = await resolveRoot(repo, reference);
  // The signature first: nothing else is fetched for a release the trust root refuses.
  const { signature, layout } = await readSignature(repo, root);
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
