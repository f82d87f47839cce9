/**
 * The import pipeline, in one place: receive → verify → store (one streaming pass) → load images → stage Git
 * snapshots → record (one transaction publishes everything) → finish (move Git refs and external tags to what is
 * in force), and only then `applied`. Until `record`, nothing of the import is visible; a crash before it leaves
 * the previous bundle in force; a crash after it is completed at start-up (settleInterrupted + finishPublish).
 */
import { Readable } from 'node:stream';
import { planBundle } from '../../src/bundle/plan.js';
import { type RangedArchive, readBundle } from '../../src/bundle/reader.js';
import { summarize } from '../../src/bundle/summary.js';
import type { Descriptor } from '../../src/descriptor.js';
import type { OciIndex } from '../../src/oci-layout.js';
import { parseJson } from '../../src/graph.js';
import type { Statement } from '../../src/bundle/format.js';
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import { statementVerifier, unverifiedStatement } from '../../keys/statement-verifier.js';
import type { CarriedRoot } from '../../keys/rotation.js';
import type { ApplianceContext } from '../context.js';
import { adoptTrustRoot } from '../trust-store.js';
import { HeldBlobs } from '../gc/held-blobs.js';
import { type GitSnapshot, gitSnapshotsIn, imagesIn, visibility } from './contents.js';

export interface ImportOutcome {
  state: 'applied' | 'failed';
  idempotent: boolean;
}

/** Where an import's bytes come from; split parts add a root check and name bad parts after a failure. */
export interface ImportSource {
  /** The bundle as one stream, or a bundle file read at offsets (ADR 022). */
  source: AsyncIterable<Buffer | Uint8Array> | RangedArchive;
  checkRoot?: (rootDigest: string) => void;
  explain?: (err: unknown) => Promise<unknown>;
  /**
   * Sources of unknown length (a chunked upload): called once the metadata tells how many bytes of blobs the bundle
   * still needs on disk; throws (INSUFFICIENT_STORAGE) to stop the import before they are written.
   */
  checkNeeded?: (bytes: number) => Promise<void>;
  /**
   * A large blob whose bytes the source writes to a file of its own as it hands them on (the depot's ingest file):
   * its path. The pipeline still hashes every byte; once the blob checks out the store takes that file by rename
   * instead of writing the bytes again (ADR 016). Undefined: written to the store as usual.
   */
  fileOf?: (desc: Descriptor) => string | undefined;
  /**
   * Called once the whole archive is read and every byte of it verified and durable, before anything is applied: an
   * upload answers "accepted" only then, never while a blob's verdict is still out.
   */
  onRead?: () => void;
}

export async function runImport(ctx: ApplianceContext, id: string, input: ImportSource): Promise<ImportOutcome> {
  const { source } = input;
  const { state, cas, now } = ctx;
  let lastProgress = 0;
  const load = ctx.external?.session(cas, (desc, err) => ctx.log.warn('streaming a layer to the registry failed; it is pushed from the store after the import checks out', { id, digest: desc.digest, message: errorMessage(err) }));
  // Every blob is fsynced with its directory before `verified_blobs` names it, and the `record` transaction comes
  // after all of them and after the Git pack is durable: the database never vouches for bytes not on disk (ADR 009).
  const held = new HeldBlobs(cas, state, now, ctx.log, input.fileOf);
  const seen = new Map<string, Buffer>();
  let root: Descriptor | undefined;
  let channel = '';
  let firstRepository: Map<string, string> | undefined;
  // The bundle in force, sent again: it is still read through and every byte verified (held blobs are not
  // written again), so that a tampered copy fails as `bundle verify` fails instead of passing as "idempotent".
  let inForce = false;
  let spaceChecked = !input.checkNeeded;
  const checkSpaceOnce = async () => {
    if (!spaceChecked && input.checkNeeded) {
      spaceChecked = true;
      await input.checkNeeded(await bytesNeeded(ctx, seen));
    }
  };
  const sink = load ? load.tee(held, (desc) => {
    if (!root) return undefined;
    firstRepository ??= layerRepositories(root, seen);
    return firstRepository.get(desc.digest);
  }) : held;
  let nextRoot: CarriedRoot | undefined; // the next trust root the bundle carries, taken when the import is recorded
  try {
    let contents;
    try {
      contents = await readBundle({
        source,
        // A bundle file (media) has its blobs hashed and written at their offsets by pool threads (ADR 022, through
        // `ingestFile` below). A stream's blobs are hashed in the read loop. An upload is answered "accepted" only after `onRead`,
        // once every verdict is in (upload.ts), so the pool would be safe here too; measured on the 1 GiB bench
        // bundle it saved no time (2.3-3.1 s against 2.3-2.9 s: the import waits on the disk's writeback) and cost
        // 0.5-1.3 s more CPU and 16 MiB more RSS (the copy into the ring).
        inlineTail: Number.POSITIVE_INFINITY,
        verifyStatement: (text) => {
          // The channel is read before verification only to find its last accepted sequence; the verifier then
          // checks the same payload.
          const lastAccepted = state.lastAccepted(unverifiedStatement(text).statement.channel);
          const verified = statementVerifier({
            trust: ctx.trust,
            now: now(),
            ...(ctx.channel ? { channel: ctx.channel } : {}),
            ...(lastAccepted ? { lastAccepted } : {}),
          })(text);
          state.setStatement(id, verified.statement, verified.signers, lastAccepted?.rootDigest);
          input.checkRoot?.(verified.statement.root.digest);
          nextRoot = verified.nextRoot;
          inForce = verified.sameAsAccepted === true;
          if (!inForce) checkDeltaBase(ctx, verified.statement);
          root = verified.statement.root;
          channel = verified.statement.channel;
          return verified;
        },
        onMetadata: (desc, bytes) => {
          seen.set(desc.digest, bytes);
          if (root && desc.digest === root.digest) checkTagOwnership(ctx, channel, parseJson<OciIndex>(bytes, 'the bundle root'));
          return held.push(desc, Readable.from([bytes]));
        },
        onBlob: () => ctx.failpoint('mid-receive'), // after the first layer is stored, with the rest still unread
        // With --registry, each layer also streams to the registry as it arrives (the signed root listed its
        // digest before the first blob; the registry checks the digest, and nothing is tagged before `finish`).
        blobSink: {
          ingest: async (desc) => {
            await checkSpaceOnce();
            return inForce ? held.ingest(desc) : sink.ingest(desc);
          },
          // A bundle file (not --registry, whose layers stream through this thread): each blob is read, hashed and
          // written to its ingest file by a pool thread, two side by side (ADR 022).
          ...(load
            ? {}
            : {
                ingestFile: async (desc: Descriptor) => {
                  await checkSpaceOnce();
                  return held.ingestFile(desc);
                },
              }),
        },
        // a delta's base blob counts only when known whole, not merely of the right size
        isHeld: async (desc) => state.isPublished(desc.digest) && (await held.isSound(desc)),
        onBytes: (position) => {
          if (position - lastProgress >= 4 * 1024 * 1024) {
            lastProgress = position;
            state.setProgress(id, position);
          }
        },
      });
    } catch (err) {
      // The disk can fill under a blob's file (ENOSPC) or under the state database recording a blob (SQLITE_FULL).
      const code = (err as { code?: string }).code;
      if (code === 'ENOSPC' || code === 'SQLITE_FULL') throw new AirlockError('INSUFFICIENT_STORAGE', 'the data directory filled up while the bundle was received; free space there and import again', { cause: err });
      throw err;
    }
    input.onRead?.();
    if (inForce) {
      state.setProgress(id, contents.bytesRead);
      if (nextRoot) await adoptTrustRoot(ctx, nextRoot, id);
      state.finishIdempotent(id, now());
      ctx.log.info('import is the bundle in force, read through and verified; nothing to do', { id });
      return { state: 'applied', idempotent: true };
    }
    state.setProgress(id, contents.bytesRead);
    ctx.failpoint('after-receive');
    const metadata = (d: string) => contents.metadata.get(d);
    await checkPrerequisites(ctx, gitSnapshotsIn(contents.rootIndex, metadata));

    state.setStage(id, 'load-images', now());
    const images = imagesIn(contents.rootIndex);
    await load?.load(images);
    ctx.failpoint('after-load-images');

    state.setStage(id, 'git-mirror', now());
    for (const snap of gitSnapshotsIn(contents.rootIndex, metadata)) {
      await ctx.mirror.stage(snap.config.name, cas.blobPath(snap.bundle.digest), snap.config.commit);
    }
    ctx.failpoint('after-git-mirror');

    if (nextRoot) await adoptTrustRoot(ctx, nextRoot, id);
    await recordAndFinish(ctx, id, { statement: contents.statement, signers: contents.signers, root: contents.root, rootIndex: contents.rootIndex, metadata }, 'bundle.applied');
    return { state: 'applied', idempotent: false };
  } catch (caught) {
    const err = input.explain ? await input.explain(caught) : caught;
    await load?.settle();
    const code = isAirlockError(err) ? err.code : 'INTERNAL';
    state.failImport(id, code, errorMessage(err), now());
    state.audit('system', 'import.failed', { id, code, message: errorMessage(err) }, now());
    ctx.log.warn('import failed', { id, code, message: errorMessage(err) });
    return { state: 'failed', idempotent: false };
  }
}

/**
 * A delta names its base: the bundle it was built against must be one this appliance has applied on the channel,
 * and a delta built from a site receipt must be from this appliance's receipt. Checked before any blob is read.
 */
/**
 * A `repository:tag` belongs to the channel whose bundle holds it (docs/adr/014): a bundle of another channel that
 * names it is refused at its root, before any blob is stored or streamed to --registry.
 */
function checkTagOwnership(ctx: ApplianceContext, channel: string, rootIndex: OciIndex): void {
  const held = imagesIn(rootIndex)
    .filter((i) => i.tag)
    .map((i) => ({ ref: `${i.repository}:${i.tag ?? ''}`, owner: ctx.state.tagOwner(i.repository, i.tag ?? '') }))
    .filter((t) => t.owner !== undefined && t.owner !== channel);
  if (held.length) {
    throw new AirlockError(
      'TAG_OWNED',
      `${held.map((t) => `${t.ref} belongs to channel ${t.owner ?? ''}`).join('; ')}: a tag is served for one channel only; publish it under another name or tag in this channel's bundle, or drop it from channel ${held[0]?.owner ?? ''} first`,
    );
  }
}

function checkDeltaBase(ctx: ApplianceContext, statement: Statement): void {
  if (statement.baseSite && statement.baseSite !== ctx.siteKey.keyid) {
    throw new AirlockError('BASE_MISMATCH', `this delta was built from the receipt of appliance ${statement.baseSite.slice(0, 12)}; this is appliance ${ctx.siteKey.keyid.slice(0, 12)}`);
  }
  if (statement.base && !ctx.state.heldBundle(statement.channel, statement.base)) {
    const inForce = ctx.state.lastAccepted(statement.channel)?.rootDigest;
    throw new AirlockError(
      'BASE_MISMATCH',
      `this delta was built against bundle ${statement.base}, which this appliance has never applied on channel ${statement.channel} (${inForce ? `in force: ${inForce}` : 'nothing applied there yet'}); bring a full bundle or a delta against this site's receipt`,
    );
  }
}

/** Every prerequisite commit of the delta's git bundles is held by the mirror, or one error listing what is missing. */
async function checkPrerequisites(ctx: ApplianceContext, snapshots: GitSnapshot[]): Promise<void> {
  const missing: string[] = [];
  for (const snap of snapshots) {
    const lacking = await ctx.mirror.missingCommits(snap.config.name, snap.config.prerequisites ?? []);
    if (lacking.length) missing.push(`git ${snap.config.name}: ${lacking.join(', ')}`);
  }
  if (missing.length) throw new AirlockError('BASE_MISSING', `this delta bundle needs commits that are not held here: ${missing.join('; ')}`);
}

export interface RecordInput {
  statement: Statement;
  signers: string[];
  root: Descriptor;
  rootIndex: OciIndex;
  metadata: (digest: string) => Uint8Array | undefined;
}

/**
 * `record` (one transaction makes the bundle the one in force: blobs and tags visible), then `finish` (Git refs
 * and external tags move), then `applied`, then a sync of the cluster. Shared by imports and re-applies.
 */
export async function recordAndFinish(ctx: ApplianceContext, id: string, input: RecordInput, action: string): Promise<void> {
  const { state, now } = ctx;
  const { statement, root } = input;
  state.setStage(id, 'record', now());
  const summary = summarize(statement, input.signers, input.rootIndex, input.metadata);
  const { blobs, repositoryBlobs } = visibility(root, input.rootIndex, input.metadata);
  const tags = imagesIn(input.rootIndex)
    .filter((i) => i.tag)
    .map((i) => ({ repository: i.repository, tag: i.tag ?? '', desc: stripAnnotations(i.desc) }));
  state.publish({ importId: id, statement, summary, blobs, tags, repositoryBlobs, now: now() });
  state.audit('system', action, { id, channel: statement.channel, sequence: statement.sequence, root: root.digest }, now());
  ctx.log.info(action === 'bundle.applied' ? 'bundle applied' : 'bundle re-applied', { id, name: statement.name, channel: statement.channel, sequence: statement.sequence, root: root.digest });
  ctx.failpoint('after-record');
  await finishPublish(ctx);
  state.markApplied(id, now());
  void ctx.reconciler?.requestSync(statement.channel);
}

/** Moves Git refs and external registry tags to the bundles in force. Idempotent; run after every publish and at start. */
export async function finishPublish(ctx: ApplianceContext): Promise<void> {
  for (const channel of ctx.state.status()) {
    for (const g of channel.summary.git) await ctx.mirror.publish(g.name, g.ref, g.commit);
    if (ctx.external) await ctx.external.tag(ctx.state.tagsOfChannel(channel.channel));
  }
}

/** For each layer, the first image repository that uses it (metadata is complete once layers arrive). */
function layerRepositories(root: Descriptor, metadata: Map<string, Buffer>): Map<string, string> {
  const out = new Map<string, string>();
  const rootBytes = metadata.get(root.digest);
  if (!rootBytes) return out;
  for (const image of imagesIn(JSON.parse(rootBytes.toString('utf8')) as OciIndex)) {
    for (const blob of planBundle(image.desc, (d) => metadata.get(d)).blobs) if (!out.has(blob.digest)) out.set(blob.digest, image.repository);
  }
  return out;
}

/**
 * Bytes of blobs the metadata received so far lists and the store does not hold: what the rest of the bundle
 * needs on disk (known once the metadata is in, before the first large blob).
 */
async function bytesNeeded(ctx: ApplianceContext, metadata: Map<string, Buffer>): Promise<number> {
  const listed = new Map<string, Descriptor>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (!value || typeof value !== 'object') return;
    const d = value as Partial<Descriptor>;
    if (typeof d.digest === 'string' && typeof d.size === 'number' && typeof d.mediaType === 'string') listed.set(d.digest, d as Descriptor);
    for (const v of Object.values(value)) walk(v);
  };
  for (const bytes of metadata.values()) {
    try {
      walk(JSON.parse(bytes.toString('utf8')));
    } catch {
      // not JSON: lists nothing
    }
  }
  let total = 0;
  for (const desc of listed.values()) if (!metadata.has(desc.digest) && !(await ctx.cas.exists(desc))) total += desc.size;
  return total;
}

function stripAnnotations(desc: Descriptor): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}
