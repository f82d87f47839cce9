/**
 * The base of a delta (`bundle create --base`): an earlier bundle (file or split parts) or a site receipt. Either
 * way it comes down to what the site holds: blob digests (left out of the delta) and Git commits (whose objects
 * are left out of the new git bundles, which then name them as prerequisites).
 */
import { open, readFile, stat } from 'node:fs/promises';
import { openBundleSource } from '../src/bundle/parts-source.js';
import { planBundle } from '../src/bundle/plan.js';
import { readBundle } from '../src/bundle/reader.js';
import { summarize } from '../src/bundle/summary.js';
import { AirlockError } from '../src/errors.js';
import { unverifiedPartsIndex } from '../keys/parts.js';
import type { PublicKey } from '../keys/key-file.js';
import { RECEIPT_PAYLOAD_TYPE, verifyReceipt } from '../keys/receipt.js';
import { unverifiedStatement } from '../keys/statement-verifier.js';

export interface DeltaBase {
  kind: 'bundle' | 'receipt';
  /** For a bundle: its channel. */
  channel?: string;
  /** What the statement records: the base bundle's root (for a receipt: the root in force on the channel, if any). */
  base?: string;
  /** For a receipt: the key id of the appliance that signed it. */
  baseSite?: string;
  /** Every blob digest the site holds. */
  blobs: Set<string>;
  /** Commits the site holds, per Git snapshot name. */
  commits: Map<string, string[]>;
  /** For messages: "bundle X (sequence N)" or "receipt of appliance K". */
  description: string;
}

export interface BaseOptions {
  path: string;
  /** The channel the new bundle is for: a base bundle must be on it (unset: not checked here). */
  channel?: string;
  /** Appliance public keys trusted to sign receipts (required for a receipt base). */
  applianceKeys: PublicKey[];
}

export async function loadBase(opts: BaseOptions): Promise<DeltaBase> {
  const receipt = await receiptText(opts.path);
  return receipt === undefined ? bundleBase(opts.path, opts.channel) : receiptBase(opts, receipt);
}

/** The file's text when it is a JSON envelope with the receipt payload type; undefined for anything else. */
async function receiptText(path: string): Promise<string | undefined> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new AirlockError('NOT_FOUND', `--base ${path}: ${err.code ?? err.message}`);
  });
  if (!info.isFile() || info.size > 512 * 1024 * 1024) return undefined;
  const handle = await open(path, 'r');
  try {
    const first = Buffer.alloc(1);
    await handle.read(first, 0, 1, 0);
    if (first.toString() !== '{') return undefined;
  } finally {
    await handle.close();
  }
  const text = await readFile(path, 'utf8');
  try {
    return (JSON.parse(text) as { payloadType?: unknown }).payloadType === RECEIPT_PAYLOAD_TYPE ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The signed metadata of an earlier bundle: its root's whole graph is what a site that imported it holds (a delta
 * base's left-out blobs included: the site needed them to import it). Only the head of the archive is read.
 */
async function bundleBase(path: string, channel: string | undefined): Promise<DeltaBase> {
  const opened = await openBundleSource(path, { readIndex: unverifiedPartsIndex, highWaterMark: 256 * 1024, hashParts: false });
  try {
    const contents = await readBundle({ source: opened.source, verifyStatement: unverifiedStatement, metadataOnly: true });
    if (channel !== undefined && contents.statement.channel !== channel) {
      throw new AirlockError('USAGE', `it is a bundle for channel ${contents.statement.channel}; this bundle is for channel ${channel} (a delta's base must be on its channel)`);
    }
    const metadata = (d: string) => contents.metadata.get(d);
    const plan = planBundle(contents.root, metadata);
    const summary = summarize(contents.statement, contents.signers, contents.rootIndex, metadata);
    const commits = new Map<string, string[]>();
    for (const g of summary.git) commits.set(g.name, [g.commit]);
    return {
      kind: 'bundle',
      channel: contents.statement.channel,
      base: contents.root.digest,
      blobs: new Set([...plan.metadata, ...plan.blobs].map((d) => d.digest)),
      commits,
      description: `bundle ${path} (${contents.statement.name}, channel ${contents.statement.channel}, sequence ${contents.statement.sequence})`,
    };
  } catch (err) {
    throw new AirlockError((err as AirlockError).code ?? 'BUNDLE_CORRUPT', `--base ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    opened.close();
  }
}

function receiptBase({ path, channel, applianceKeys }: BaseOptions, text: string): DeltaBase {
  if (!applianceKeys.length) throw new AirlockError('USAGE', `--base ${path} is a site receipt: give the appliance's public key with --appliance-key to verify it`);
  const { receipt, signer } = verifyReceipt(text, applianceKeys, path);
  const inForce = channel === undefined ? undefined : receipt.channels.find((c) => c.channel === channel);
  return {
    kind: 'receipt',
    ...(inForce ? { base: inForce.root } : {}),
    baseSite: signer,
    blobs: new Set(receipt.blobs),
    commits: new Map(receipt.git.map((g) => [g.name, g.commits])),
    description: `receipt ${path} of appliance ${signer.slice(0, 12)} (${receipt.created})`,
  };
}
