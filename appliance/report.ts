/**
 * The verification report of an import: who signed (key ids and the names the trust root gives them), sequence,
 * created and expiry, and what changes against the bundle that was in force: images added and removed, Git
 * commits, objects added, changed and removed.
 */
import type { BundleSummary } from '../src/bundle/summary.js';
import { errorMessage } from '../src/errors.js';
import type { ApplianceContext } from './context.js';
import { bundleObjects } from './reconcile/bundle-objects.js';
import type { ImportRecord } from './state/store.js';

export interface VerificationReport {
  signers: { keyid: string; name?: string }[];
  name: string | null;
  channel: string | null;
  sequence: number | null;
  created?: string;
  expires?: string;
  rootDigest: string | null;
  previousRoot: string | null;
  changes?: {
    imagesAdded: string[];
    imagesRemoved: string[];
    git: { name: string; from?: string; to: string }[];
    objectsAdded: string[];
    objectsChanged: string[];
    objectsRemoved: string[];
  };
  /** Per cluster of the site, what the bundle places there (its render, as the placement applies it). */
  clusters?: ClusterPlan[];
}

export interface ClusterPlan {
  cluster: string;
  reconcile: 'airlock' | 'none';
  ok: boolean;
  /** Sources placed on the cluster (`manifests app`, `git platform`). */
  placed: string[];
  /** Sources whose selector does not match the cluster. */
  notPlaced: string[];
  objects: number;
  /** Overrides applied, in order (`manifests app: override 1 (airlock.yaml:14)`). */
  overrides: string[];
  /** Values used and where each came from (`storeNumber=0042 (site store-0042)`). */
  values: string[];
  errors: string[];
  warnings: string[];
}

export async function verificationReport(ctx: ApplianceContext, record: ImportRecord): Promise<VerificationReport> {
  const held = record.rootDigest ? ctx.state.heldBundleRecord(record.rootDigest) : undefined;
  const report: VerificationReport = {
    signers: record.signers.map((keyid) => ({ keyid, ...(ctx.trust.keys[keyid]?.name ? { name: ctx.trust.keys[keyid]?.name } : {}) })),
    name: record.name,
    channel: record.channel,
    sequence: record.sequence,
    ...(held ? { created: held.created, ...(held.expires ? { expires: held.expires } : {}) } : {}),
    rootDigest: record.rootDigest,
    previousRoot: record.previousRoot,
  };
  if (!held || !record.rootDigest) return report;
  const before = record.previousRoot ? ctx.state.heldBundleRecord(record.previousRoot) : undefined;
  const images = (s: BundleSummary | undefined) => new Set((s?.images ?? []).map((i) => `${i.ref}@${i.digest}`));
  const now = images(held.summary);
  const then = images(before?.summary);
  const objectsNow = await objectsOf(ctx, record.rootDigest, held.channel);
  const objectsThen = record.previousRoot && before ? await objectsOf(ctx, record.previousRoot, held.channel) : new Map<string, string>();
  report.changes = {
    imagesAdded: [...now].filter((i) => !then.has(i)),
    imagesRemoved: [...then].filter((i) => !now.has(i)),
    git: held.summary.git
      .map((g) => ({ name: g.name, to: g.commit, from: before?.summary.git.find((b) => b.name === g.name)?.commit }))
      .filter((g) => g.from !== g.to)
      .map((g) => ({ name: g.name, to: g.to, ...(g.from ? { from: g.from } : {}) })),
    objectsAdded: [...objectsNow.keys()].filter((k) => !objectsThen.has(k)),
    objectsChanged: [...objectsNow.keys()].filter((k) => objectsThen.has(k) && objectsThen.get(k) !== objectsNow.get(k)),
    objectsRemoved: [...objectsThen.keys()].filter((k) => !objectsNow.has(k)),
  };
  const clusters = await clusterPlans(ctx, held.channel, record.rootDigest);
  if (clusters) report.clusters = clusters;
  return report;
}

/** Each cluster's render of the bundle (the same the placement applies and `airlock render` shows). */
async function clusterPlans(ctx: ApplianceContext, channel: string, rootDigest: string): Promise<ClusterPlan[] | undefined> {
  const r = ctx.reconciler;
  if (!r) return undefined;
  const out: ClusterPlan[] = [];
  for (const c of r.opts.clusters) {
    try {
      const render = await r.renderFor(channel, c.name, rootDigest);
      const sources = render.account.sources;
      out.push({
        cluster: c.name,
        reconcile: c.reconcile,
        ok: render.ok,
        placed: sources.filter((s) => s.placed).map((s) => `${s.kind} ${s.name}`),
        notPlaced: sources.filter((s) => !s.placed).map((s) => `${s.kind} ${s.name} (${s.selector})`),
        objects: render.objects.length,
        overrides: sources.flatMap((s) => s.overrides.map((o) => `${s.kind} ${s.name}: override ${o.index}${o.origin ? ` (${o.origin})` : ''}`)),
        values: [...new Map(sources.flatMap((s) => s.values.map((v) => [v.name, `${v.name}=${v.value} (${v.from})`] as const))).values()].sort(),
        errors: render.errors,
        warnings: render.account.warnings,
      });
    } catch (err) {
      out.push({ cluster: c.name, reconcile: c.reconcile, ok: false, placed: [], notPlaced: [], objects: 0, overrides: [], values: [], errors: [errorMessage(err)], warnings: [] });
    }
  }
  return out;
}

/** The bundle's objects by readable name (`ConfigMap shop/a`), each as the JSON that would be applied. */
async function objectsOf(ctx: ApplianceContext, rootDigest: string, channel: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    for (const d of await bundleObjects(ctx.cas, ctx.mirror, rootDigest, { channel, rootDigest: '', rules: { registry: 'site', held: new Map() } })) {
      const m = d.object.metadata;
      out.set(`${d.object.kind} ${m?.namespace ? `${m.namespace}/` : ''}${m?.name}`, JSON.stringify(d.object));
    }
  } catch {
    // objects that are not valid are reported by the sync, not here
  }
  return out;
}
