/** The site receipt: what this appliance holds, signed with its own key (keys/receipt.ts has the format). */
import { DRIFTED_NAMES, type Receipt, signReceipt } from '../keys/receipt.js';
import type { ApplianceContext } from './context.js';
import type { ObjectStatus } from './reconcile/sync.js';
import { channelStatus, placementStatus } from './status.js';

export async function siteReceipt(ctx: ApplianceContext): Promise<string> {
  const placements = placementStatus(ctx);
  // The objects each placement found drifted at its last check (those its `drifted` counts), by name.
  const objects = new Map((ctx.reconciler?.placements() ?? []).map((p) => [`${p.channel}@${p.cluster}`, p.objects]));
  const receipt: Receipt = {
    type: 'airlock-receipt',
    created: ctx.now().toISOString(),
    appliance: ctx.siteKey.keyid,
    // the site file's name and labels, where the appliance runs with one (contract B: fleet reads them)
    ...(ctx.site ? { site: ctx.site.name, labels: { ...ctx.site.labels } } : {}),
    channels: channelStatus(ctx).map((c) => ({
      channel: c.channel,
      name: c.name,
      sequence: c.sequence,
      root: c.rootDigest,
      appliedAt: c.appliedAt,
      sync: c.sync,
      health: c.health,
    })),
    ...(ctx.reconciler
      ? {
          placements: placements.map((p) => ({
            cluster: p.cluster,
            channel: p.channel,
            root: p.rootDigest,
            sync: p.sync,
            health: p.health,
            drifted: p.drifted,
            ...(p.drifted ? { driftedObjects: driftedNames(objects.get(`${p.channel}@${p.cluster}`) ?? []) } : {}),
            checkedAt: p.checkedAt,
            ...(p.reason ? { reason: p.reason } : {}),
          })),
        }
      : {}),
    blobs: ctx.state.publishedBlobs(),
    git: await ctx.mirror.heldCommits(),
  };
  return signReceipt(receipt, ctx.siteKey);
}

/** The name a site's receipts go under at the depot: the site file's name, else this appliance's key id. */
export function receiptSiteName(ctx: ApplianceContext): string {
  return ctx.site?.name ?? ctx.siteKey.keyid;
}

/** `Deployment shop/web` (`Namespace shop` for a cluster-wide object) of each object not Synced: sorted, at most DRIFTED_NAMES. */
export function driftedNames(objects: Pick<ObjectStatus, 'kind' | 'namespace' | 'name' | 'sync'>[]): string[] {
  return objects
    .filter((o) => o.sync !== 'Synced')
    .map((o) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`)
    .sort()
    .slice(0, DRIFTED_NAMES);
}
