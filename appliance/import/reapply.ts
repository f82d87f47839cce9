/**
 * Re-applying a bundle held on site (a rollback, or a roll forward again): the operator's deliberate choice, so the
 * sequence check does not apply, but everything else does. Every blob of the bundle must still be held; it then
 * goes through the same `record` and `finish` as an import, and the cluster through the same sync. Rollback
 * protection is kept: the highest sequence seen on the channel does not go down.
 */
import type { Statement } from '../../src/bundle/format.js';
import { planBundle } from '../../src/bundle/plan.js';
import type { Descriptor } from '../../src/descriptor.js';
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import { childrenOf, hasChildren, parseJson, platformsOf } from '../../src/graph.js';
import type { OciIndex } from '../../src/oci-layout.js';
import type { ApplianceContext } from '../context.js';
import { HeldBlobs } from '../gc/held-blobs.js';
import { heldRoot } from '../reconcile/bundle-objects.js';
import { type ImportOutcome, recordAndFinish } from './pipeline.js';

export async function reapplyBundle(ctx: ApplianceContext, id: string, rootDigest: string): Promise<ImportOutcome> {
  const { state, cas, now } = ctx;
  try {
    const held = state.heldBundleRecord(rootDigest);
    if (!held) throw new AirlockError('NOT_FOUND', `no bundle ${rootDigest} was ever applied here`);
    const root = await heldRoot(cas, rootDigest);
    const metadata = await loadMetadata(ctx, root);
    const lookup = (d: string) => metadata.get(d);
    const missing: string[] = [];
    const blobs = new HeldBlobs(cas, state, now, ctx.log); // whole, not merely present (ADR 009)
    for (const blob of planBundle(root, lookup).blobs) if (!(await blobs.isSound(blob))) missing.push(blob.digest);
    if (missing.length) throw new AirlockError('BASE_MISSING', `bundle ${rootDigest} is no longer complete here: ${missing.length} blob(s) are gone (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`);
    const statement: Statement = {
      type: 'airlock-statement',
      name: held.name,
      channel: held.channel,
      sequence: held.sequence,
      created: held.created,
      ...(held.expires ? { expires: held.expires } : {}),
      root,
    };
    state.setStatement(id, statement, held.summary.signers, state.lastAccepted(held.channel)?.rootDigest);
    const rootIndex = parseJson<OciIndex>(metadata.get(rootDigest) ?? Buffer.alloc(0), 'the bundle root');
    await recordAndFinish(ctx, id, { statement, signers: held.summary.signers, root, rootIndex, metadata: lookup }, 'bundle.reapplied');
    return { state: 'applied', idempotent: false };
  } catch (err) {
    const code = isAirlockError(err) ? err.code : 'INTERNAL';
    state.failImport(id, code, errorMessage(err), now());
    ctx.log.warn('re-apply failed', { id, code, message: errorMessage(err) });
    return { state: 'failed', idempotent: false };
  }
}

/** Every manifest, index and config below the root, read back from the blob store. */
async function loadMetadata(ctx: ApplianceContext, root: Descriptor): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const queue: Descriptor[] = [root];
  while (queue.length) {
    const desc = queue.shift() as Descriptor;
    if (out.has(desc.digest)) continue;
    const chunks: Buffer[] = [];
    for await (const c of await ctx.cas.fetch(desc)) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    out.set(desc.digest, bytes);
    if (hasChildren(desc)) queue.push(...childrenOf(desc, bytes, platformsOf(desc)).metadata);
  }
  return out;
}
