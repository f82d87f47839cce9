/**
 * `fleet status --write-deltas DIR --bundle NEW.airlock --key K.key`: per site, the delta of the new release
 * against what its receipt says the site holds (`DIR/SITE.airlock`), as `bundle create --base RECEIPT` makes
 * it: every blob the site holds is left out, and the statement, signed again with the release keys, names the
 * site's appliance (`baseSite`) and the root in force there (`base`). The new bundle is read and verified once
 * into a scratch store; each delta is written from there.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openBundleSource } from '../../src/bundle/parts-source.js';
import { readBundle } from '../../src/bundle/reader.js';
import { STATEMENT_PAYLOAD_TYPE, type Statement } from '../../src/bundle/format.js';
import { writeBundle } from '../../src/bundle/writer.js';
import { AirlockError, isAirlockError } from '../../src/errors.js';
import { OciLayoutStore } from '../../src/oci-layout.js';
import { depotReceipt, type ReadResult } from '../../src/fleet/receipts.js';
import { serializeEnvelope, signEnvelope } from '../../keys/dsse.js';
import { readSecretKey } from '../../keys/key-file.js';
import { unverifiedPartsIndex } from '../../keys/parts.js';
import { verifyReceipt } from '../../keys/receipt.js';
import { unverifiedStatement } from '../../keys/statement-verifier.js';
import type { Opened } from './fleet-common.js';

export interface DeltaOptions {
  opened: Opened;
  reports: ReadResult;
  bundle: string;
  keyPaths: string[];
  dir: string;
  now: Date;
  log: (line: string) => void;
}

export async function writeDeltas({ opened, reports, bundle, keyPaths, dir, log }: DeltaOptions): Promise<{ site: string; path: string; leftOut: number }[]> {
  const keys = await Promise.all(keyPaths.map(readSecretKey));
  await mkdir(dir, { recursive: true });
  const scratchDir = await mkdtemp(join(dir, '.scratch-'));
  try {
    const store = await OciLayoutStore.open(scratchDir, { create: true });
    const source = await openBundleSource(bundle, { readIndex: unverifiedPartsIndex });
    let contents;
    try {
      contents = await readBundle({ source: source.source, verifyStatement: unverifiedStatement, blobSink: store });
    } catch (err) {
      if (isAirlockError(err, 'BUNDLE_TRUNCATED') || isAirlockError(err, 'BASE_MISSING')) {
        throw new AirlockError('USAGE', `--bundle ${bundle} is itself a delta: give the full release to make per-site deltas from`, { cause: err });
      }
      throw err;
    } finally {
      source.close();
    }
    const statement = contents.statement as Statement & Record<string, unknown>;
    const written: { site: string; path: string; leftOut: number }[] = [];
    for (const site of opened.fleet.sites) {
      const latest = reports.reports.get(site.name)?.latest;
      if (!latest) continue;
      const text = opened.source.kind === 'depot' ? await depotReceipt(opened.source.repo, site.name) : await readFile(latest.where, 'utf8');
      if (text === undefined) continue;
      const { receipt, signer } = verifyReceipt(text, [site.key], latest.where);
      const held = new Set(receipt.blobs);
      const inForce = receipt.channels.find((c) => c.channel === statement.channel);
      const { base: _b, baseSite: _s, ...rest } = statement;
      const delta = { ...rest, ...(inForce ? { base: inForce.root } : {}), baseSite: signer };
      const signature = serializeEnvelope(signEnvelope(STATEMENT_PAYLOAD_TYPE, Buffer.from(JSON.stringify(delta)), keys));
      const out = join(dir, `${site.name}.airlock`);
      const result = await writeBundle({
        out,
        root: contents.root,
        metadata: (d) => contents.metadata.get(d),
        signature,
        openBlob: (d) => store.fetch(d),
        leaveOut: (d) => held.has(d.digest),
      });
      log(`${site.name}: ${out}, ${result.leftOut.length} blob(s) the site holds left out`);
      written.push({ site: site.name, path: out, leftOut: result.leftOut.length });
    }
    return written;
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}
