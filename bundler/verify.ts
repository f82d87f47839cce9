/** `bundle verify` and `bundle inspect` over a bundle file: one forward pass, never extracted. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { readBundle } from '../src/bundle/reader.js';
import { type BundleSummary, summarize } from '../src/bundle/summary.js';
import { AirlockError } from '../src/errors.js';
import { statementVerifier, unverifiedStatement } from '../keys/statement-verifier.js';
import type { TrustRoot } from '../keys/trust-root.js';

export interface VerifyOptions {
  path: string;
  trust: TrustRoot;
  now?: Date;
  onProgress?: (position: number, total: number) => void;
}

export interface VerifyReport extends BundleSummary {
  verified: true;
  archiveBytes: number;
  /** Names the trust root gives the signing keys, by key id. */
  signerNames: Record<string, string>;
}

export async function verifyBundleFile({ path, trust, now = new Date(), onProgress }: VerifyOptions): Promise<VerifyReport> {
  const total = await fileSize(path);
  const contents = await readBundle({
    source: createReadStream(path, { highWaterMark: 1024 * 1024 }),
    verifyStatement: statementVerifier({ trust, now }),
    ...(onProgress ? { onBytes: (p: number) => onProgress(p, total) } : {}),
  });
  const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
  const signerNames = Object.fromEntries(contents.signers.map((id) => [id, trust.keys[id]?.name ?? '']).filter(([, name]) => name));
  return { ...summary, verified: true, archiveBytes: contents.bytesRead, signerNames };
}

export interface InspectReport extends BundleSummary {
  verified: false;
  archiveBytes: number;
}

/** Reads the signed metadata at the head of the archive; signatures are listed, not checked (use verify). */
export async function inspectBundleFile(path: string): Promise<InspectReport> {
  const total = await fileSize(path);
  const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
  try {
    const contents = await readBundle({ source: stream, verifyStatement: unverifiedStatement, metadataOnly: true });
    const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
    return { ...summary, verified: false, archiveBytes: total };
  } finally {
    stream.destroy();
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new AirlockError('NOT_FOUND', `${path} is not a file`);
    return info.size;
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    throw new AirlockError('NOT_FOUND', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
