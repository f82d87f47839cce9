/**
 * Retention and garbage collection (ADR 009). Per channel the bundle in force and the newest others up to `keep`
 * releases are held (for rollback); older releases are dropped. Blobs no held release names, partial ingest files
 * and Git objects only dropped releases reached are removed. The caller runs this while no import runs (the import
 * manager's `exclusive`), so no blob of a running import can be taken; the bundle in force is always held.
 *
 * Order: the state database forgets first (releases marked dropped, blobs unpublished, in one transaction), then
 * files go. A crash in between leaves only files nothing names, which the next collection removes.
 */
import { rm } from 'node:fs/promises';
import type { Descriptor } from '../../src/descriptor.js';
import { AirlockError } from '../../src/errors.js';
import { childrenOf, hasChildren, platformsOf } from '../../src/graph.js';
import { planBundle } from '../../src/bundle/plan.js';
import { fetchAll } from '../../src/storage.js';
import type { ApplianceContext } from '../context.js';
import { heldRoot } from '../reconcile/bundle-objects.js';
import { collectGit } from './git.js';

export const DEFAULT_KEEP = 3;

export interface Release {
  channel: string;
  sequence: number;
  rootDigest: string;
  name: string;
  inForce: boolean;
}

export interface GcReport {
  dryRun: boolean;
  keep: number;
  kept: Release[];
  dropped: Release[];
  blobs: { count: number; bytes: number; digests: string[] };
  ingest: { count: number; bytes: number };
  git: { refs: number; bytes: number };
  /** Bytes removed (or that would be), all kinds together. */
  bytes: number;
}

/** Per channel: the bundle in force, then the highest sequences, up to `keep`; the rest is dropped. */
export function retention(releases: Release[], keep: number): { kept: Release[]; dropped: Release[] } {
  const kept: Release[] = [];
  const dropped: Release[] = [];
  const channels = [...new Set(releases.map((r) => r.channel))];
  for (const channel of channels) {
    const of = releases.filter((r) => r.channel === channel).sort((a, b) => Number(b.inForce) - Number(a.inForce) || b.sequence - a.sequence);
    kept.push(...of.slice(0, Math.max(1, keep)));
    dropped.push(...of.slice(Math.max(1, keep)));
  }
  return { kept, dropped };
}

/** Every blob below a held bundle root, read back from the store; throws if any metadata is missing. */
async function blobsOf(ctx: ApplianceContext, rootDigest: string): Promise<string[]> {
  const root = await heldRoot(ctx.cas, rootDigest);
  const metadata = new Map<string, Buffer>();
  const queue: Descriptor[] = [root];
  for (let desc = queue.shift(); desc; desc = queue.shift()) {
    if (metadata.has(desc.digest) || !hasChildren(desc)) continue;
    const bytes = await fetchAll(ctx.cas, desc);
    metadata.set(desc.digest, bytes);
    queue.push(...childrenOf(desc, bytes, platformsOf(desc)).metadata);
  }
  const plan = planBundle(root, (d) => metadata.get(d));
  return [...plan.metadata, ...plan.blobs].map((d) => d.digest);
}

export async function collectGarbage(ctx: ApplianceContext, { keep, dryRun }: { keep: number; dryRun: boolean }): Promise<GcReport> {
  const { state, cas } = ctx;
  const { kept, dropped } = retention(state.heldReleases(), keep);

  // What the held releases need. A release that cannot be read through stops the collection: removing blobs
  // without knowing what it names could take some of its own.
  const needed = new Set<string>();
  const gitKeep = new Map<string, Set<string>>();
  for (const release of kept) {
    try {
      for (const digest of await blobsOf(ctx, release.rootDigest)) needed.add(digest);
    } catch (err) {
      throw new AirlockError('BLOB_UNKNOWN', `garbage collection stopped, nothing removed: held release ${release.name} (channel ${release.channel}, sequence ${release.sequence}) cannot be read from the store (${(err as Error).message})`, { cause: err });
    }
    for (const g of state.heldBundleRecord(release.rootDigest)?.summary.git ?? []) {
      const commits = gitKeep.get(g.name) ?? new Set<string>();
      commits.add(g.commit);
      gitKeep.set(g.name, commits);
    }
  }

  const unneeded = (await cas.listBlobs()).filter((b) => !needed.has(b.digest));
  const leftovers = await cas.ingestLeftovers();
  const report: GcReport = {
    dryRun,
    keep,
    kept,
    dropped,
    blobs: { count: unneeded.length, bytes: unneeded.reduce((n, b) => n + b.size, 0), digests: unneeded.map((b) => b.digest).sort() },
    ingest: { count: leftovers.length, bytes: leftovers.reduce((n, f) => n + f.size, 0) },
    git: { refs: 0, bytes: 0 },
    bytes: 0,
  };
  if (!dryRun) {
    state.dropReleases(dropped.map((r) => r.rootDigest), report.blobs.digests, ctx.now());
    await cas.removeBlobs(report.blobs.digests);
    for (const f of leftovers) await rm(f.path, { force: true });
  }
  const git = await collectGit(ctx.mirror.root, gitKeep, dryRun);
  report.git = { refs: git.refs.reduce((n, r) => n + r.commits.length, 0), bytes: git.bytes };
  report.bytes = report.blobs.bytes + report.ingest.bytes + report.git.bytes;
  return report;
}

/** One log line for a collection. */
export function gcFields(report: GcReport): Record<string, unknown> {
  return {
    keep: report.keep,
    dropped: report.dropped.map((r) => `${r.channel}#${r.sequence}`),
    blobs: report.blobs.count,
    blobBytes: report.blobs.bytes,
    ingestFiles: report.ingest.count,
    ingestBytes: report.ingest.bytes,
    gitRefs: report.git.refs,
    gitBytes: report.git.bytes,
    bytes: report.bytes,
  };
}
