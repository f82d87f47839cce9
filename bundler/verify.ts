/** `bundle verify` and `bundle inspect` over a bundle file or its split parts: one forward pass, never extracted. */
import { readBundle } from '../src/bundle/reader.js';
import { type BundleSummary, summarize } from '../src/bundle/summary.js';
import { openBundleSource } from '../src/bundle/parts-source.js';
import { unverifiedPartsIndex, verifyPartsIndex } from '../keys/parts.js';
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
  /** The parts checked, in order, when the bundle came in split parts. */
  parts?: string[];
}

/**
 * Verifies a bundle file, or split parts (a parts directory or `NAME.parts.json`): the parts index's signature,
 * every part's presence and size, then one streaming pass over the joined parts that checks each part's sha256
 * and the bundle itself. A failure names the bad or missing part.
 */
export async function verifyBundleFile({ path, trust, now = new Date(), onProgress }: VerifyOptions): Promise<VerifyReport> {
  const opened = await openBundleSource(path, { readIndex: (text, label) => verifyPartsIndex(text, trust, label) });
  const check = statementVerifier({ trust, now });
  try {
    const contents = await readBundle({
      source: opened.source,
      verifyStatement: (text) => {
        const verified = check(text);
        opened.checkRoot(verified.statement.root.digest);
        return verified;
      },
      ...(onProgress ? { onBytes: (p: number) => onProgress(p, opened.size) } : {}),
    });
    const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
    const signerNames = Object.fromEntries(contents.signers.map((id) => [id, trust.keys[id]?.name ?? '']).filter(([, name]) => name));
    return { ...summary, verified: true, archiveBytes: contents.bytesRead, signerNames, ...(opened.parts ? { parts: opened.parts.parts.map((p) => p.name) } : {}) };
  } catch (err) {
    throw await opened.explain(err);
  } finally {
    opened.close();
  }
}

export interface InspectReport extends BundleSummary {
  verified: false;
  archiveBytes: number;
}

/** Reads the signed metadata at the head of the archive; signatures are listed, not checked (use verify). */
export async function inspectBundleFile(path: string): Promise<InspectReport> {
  const opened = await openBundleSource(path, { readIndex: unverifiedPartsIndex, highWaterMark: 256 * 1024, hashParts: false });
  try {
    const contents = await readBundle({ source: opened.source, verifyStatement: unverifiedStatement, metadataOnly: true });
    const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
    return { ...summary, verified: false, archiveBytes: opened.size };
  } finally {
    opened.close();
  }
}
