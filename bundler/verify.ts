/**
 * `bundle verify` and `bundle inspect` over a bundle file (its blobs read at their offsets, ADR 022), its split
 * parts, or standard input (one forward pass); never extracted. A delta is verified like any bundle (every byte it carries); what it leaves out for its base
 * to provide is reported, and checked against a base when one is given.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../src/descriptor.js';
import { AirlockError } from '../src/errors.js';
import { parseJson } from '../src/graph.js';
import { ANNOTATION_KIND, type GitSnapshotConfig } from '../src/bundle/format.js';
import { type BundleContents, type RangedArchive, readBundle } from '../src/bundle/reader.js';
import { openRangedFile } from '../src/bundle/ranged-file.js';
import { HashPool } from '../src/hash-pool.js';
import { type BundleSummary, summarize } from '../src/bundle/summary.js';
import { type BundleSource, locateBundle, openBundleSource } from '../src/bundle/parts-source.js';
import { unverifiedPartsIndex, verifyPartsIndex } from '../keys/parts.js';
import type { PartsIndex } from '../src/bundle/parts.js';
import { statementVerifier, unverifiedStatement } from '../keys/statement-verifier.js';
import type { TrustRoot } from '../keys/trust-root.js';
import type { DeltaBase } from './base.js';

export interface VerifyOptions {
  /** A bundle file, a parts directory, a parts index, or `-` for `stdin`. */
  path: string;
  trust: TrustRoot;
  now?: Date;
  onProgress?: (position: number, total: number) => void;
  stdin?: Readable;
  /** Check that this base holds everything the delta leaves out. */
  base?: DeltaBase;
}

/** What a delta leaves out for its base to provide. */
export interface DeltaReport {
  /** The statement's base: the root digest of the bundle it was built against, and/or the site whose receipt it was. */
  base?: string;
  baseSite?: string;
  /** Blobs the signed root lists that the archive does not carry. */
  blobs: { digest: string; size: number; mediaType: string }[];
  bytes: number;
  /** Commits each Git snapshot builds on, which the receiving mirror must hold. */
  git: { name: string; prerequisites: string[] }[];
  /** With --base: what the base was, once it was found to hold every blob and commit above. */
  checkedAgainst?: string;
}

export interface VerifyReport extends BundleSummary {
  verified: true;
  archiveBytes: number;
  /** Names the trust root gives the signing keys, by key id. */
  signerNames: Record<string, string>;
  /** The parts checked, in order, when the bundle came in split parts. */
  parts?: string[];
  /** Set for a delta bundle. */
  delta?: DeltaReport;
}

/**
 * Verifies a bundle file, or split parts (a parts directory or `NAME.parts.json`): the parts index's signature,
 * every part's presence and size, then one streaming pass over the joined parts that checks each part's sha256
 * and the bundle itself. A failure names the bad or missing part.
 */
export async function verifyBundleFile({ path, trust, now = new Date(), onProgress, stdin, base }: VerifyOptions): Promise<VerifyReport> {
  // A bundle file is read at offsets (ADR 022): this thread walks the headers and the metadata, and each large blob
  // is read and hashed at its offset by one of two threads, so both cores hash, side by side, whatever the blobs'
  // sizes. Split parts and standard input are one stream: one pool reads it into its ring and hashes the blobs (and
  // the parts) from there, on two threads; 24 MiB of ring lets the next blob start while the last one's tail (up to
  // the ring) is hashed. The threads start now, while this one checks the signature.
  const whole = path !== '-' && (await locateBundle(path)).kind === 'file';
  const pool = new HashPool({ slots: whole ? 1 : 24, eager: true });
  const opened = await (whole ? openWhole(path, pool) : openInput(path, stdin, { readIndex: (text, label) => verifyPartsIndex(text, trust, label), pool })).catch((err: unknown) => {
    pool.close();
    throw err;
  });
  const check = statementVerifier({ trust, now });
  let contents: BundleContents;
  try {
    contents = await readBundle({
      source: opened.source,
      hashPool: pool,
      verifyStatement: (text) => {
        const verified = check(text);
        opened.checkRoot(verified.statement.root.digest);
        return verified;
      },
      // Every blob the archive carries is checked; one it leaves out is for the base to provide (reported below).
      isHeld: () => true,
      ...(onProgress ? { onBytes: (p: number) => onProgress(p, opened.size) } : {}),
    });
  } catch (err) {
    throw await opened.explain(err);
  } finally {
    await pool.stop(); // the ranges in flight after a failure let go of the file first
    await opened.close();
  }
  const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
  const signerNames = Object.fromEntries(contents.signers.map((id) => [id, trust.keys[id]?.name ?? '']).filter(([, name]) => name));
  const delta = deltaOf(contents);
  if (base) {
    if (!delta) throw new AirlockError('USAGE', `--base was given, but ${path} is a full bundle, not a delta: it needs no base`);
    checkBase(delta, base, contents.statement.channel);
    delta.checkedAgainst = base.description;
  }
  return {
    ...summary,
    verified: true,
    archiveBytes: contents.bytesRead,
    signerNames,
    ...(opened.parts ? { parts: opened.parts.parts.map((p) => p.name) } : {}),
    ...(delta ? { delta } : {}),
  };
}

function deltaOf(contents: BundleContents): DeltaReport | undefined {
  const { statement } = contents;
  if (!statement.base && !statement.baseSite) return undefined;
  const git: DeltaReport['git'] = [];
  for (const d of contents.rootIndex.manifests) {
    if (d.annotations?.[ANNOTATION_KIND] !== 'git') continue;
    const config = gitConfig(d, contents.metadata);
    if (config?.prerequisites?.length) git.push({ name: config.name, prerequisites: config.prerequisites });
  }
  return {
    ...(statement.base ? { base: statement.base } : {}),
    ...(statement.baseSite ? { baseSite: statement.baseSite } : {}),
    blobs: contents.leftOut.map((d) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType })),
    bytes: contents.leftOut.reduce((n, d) => n + d.size, 0),
    git,
  };
}

function gitConfig(desc: Descriptor, metadata: Map<string, Buffer>): GitSnapshotConfig | undefined {
  const manifest = metadata.get(desc.digest);
  const config = manifest ? parseJson<{ config?: Descriptor }>(manifest, desc.digest).config : undefined;
  const bytes = config ? metadata.get(config.digest) : undefined;
  return bytes && config ? parseJson<GitSnapshotConfig>(bytes, config.digest) : undefined;
}

/** The base is the one the delta names (where that can be told) and holds every blob and commit it leaves out. */
function checkBase(delta: DeltaReport, base: DeltaBase, channel: string): void {
  if (base.kind === 'bundle' && base.channel !== channel) {
    throw new AirlockError('BASE_MISMATCH', `the base ${base.description} is on channel ${base.channel}; this delta is for channel ${channel}`);
  }
  if (base.kind === 'bundle' && delta.base && base.base !== delta.base) {
    throw new AirlockError('BASE_MISMATCH', `this delta was built against bundle ${delta.base}; the base given is ${base.description}, root ${base.base}`);
  }
  if (base.kind === 'receipt' && delta.baseSite && base.baseSite !== delta.baseSite) {
    throw new AirlockError('BASE_MISMATCH', `this delta was built from the receipt of appliance ${delta.baseSite}; the base given is the ${base.description}`);
  }
  const missing = delta.blobs.filter((b) => !base.blobs.has(b.digest)).map((b) => b.digest);
  const commits = delta.git.flatMap((g) => {
    const held = new Set(base.commits.get(g.name) ?? []);
    const lacking = g.prerequisites.filter((c) => !held.has(c));
    return lacking.length ? [`git ${g.name}: ${lacking.join(', ')}`] : [];
  });
  if (missing.length || commits.length) {
    const parts = [
      ...(missing.length ? [`${missing.length} of the ${delta.blobs.length} blob(s) this delta leaves out: ${missing.join(', ')}`] : []),
      ...(commits.length ? [`commit(s) its Git snapshots build on: ${commits.join('; ')}`] : []),
    ];
    throw new AirlockError('BASE_MISSING', `the base ${base.description} lacks ${parts.join('; and ')}`);
  }
}

export interface InspectReport extends BundleSummary {
  verified: false;
  archiveBytes: number;
}

/** Reads the signed metadata at the head of the archive; signatures are listed, not checked (use verify). */
export async function inspectBundleFile(path: string, stdin?: Readable): Promise<InspectReport> {
  const opened = await openInput(path, stdin, { readIndex: unverifiedPartsIndex, highWaterMark: 256 * 1024, hashParts: false });
  try {
    const contents = await readBundle({ source: opened.source, verifyStatement: unverifiedStatement, metadataOnly: true });
    const summary = summarize(contents.statement, contents.signers, contents.rootIndex, (d) => contents.metadata.get(d));
    return { ...summary, verified: false, archiveBytes: opened.size || contents.bytesRead };
  } finally {
    opened.close();
  }
}

type Opened = Omit<BundleSource, 'source' | 'close'> & { source: BundleSource['source'] | RangedArchive; close(): void | Promise<void> };

/** A bundle file, to be read at offsets. */
async function openWhole(path: string, pool: HashPool): Promise<Opened> {
  const file = await openRangedFile(path, pool);
  return { label: path, size: file.size, source: file, checkRoot: () => undefined, explain: async (err) => err, close: () => file.close() };
}

/** `-` is standard input, read once as it arrives (its size is not known up front); anything else a path. */
async function openInput(path: string, stdin: Readable | undefined, opts: Parameters<typeof openBundleSource>[1] & { readIndex: (text: string, label: string) => PartsIndex }): Promise<BundleSource> {
  if (path !== '-') return openBundleSource(path, opts);
  const input = stdin ?? process.stdin;
  return { label: 'standard input', size: 0, source: input, checkRoot: () => undefined, explain: async (err) => err, close: () => input.destroy() };
}
