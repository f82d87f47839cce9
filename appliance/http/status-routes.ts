/**
 * The reconcile part of the JSON API: the views behind `GET /api/v1/status` (placements and clusters) and
 * `GET /api/v1/objects[?cluster=NAME]` (objects per placement).
 */
import type { ApplianceContext } from '../context.js';
import { placementStatus } from '../status.js';

/** What `/status` says about reconciling: enabled or why not, the site, its clusters and every placement. */
export function reconcileView(ctx: ApplianceContext) {
  const r = ctx.reconciler;
  if (!r) return { reconcile: { enabled: false, reason: ctx.reconcileDisabled ?? 'not configured' }, placements: [], clusters: [] };
  return {
    reconcile: { enabled: true, site: r.opts.site, server: r.opts.cluster.server, intervalSeconds: r.opts.intervalMs / 1000, selfHeal: r.opts.selfHeal, registryHost: r.opts.registryHost },
    clusters: r.opts.clusters.map((c) => ({ name: c.name, server: c.api.server, labels: c.labels, reconcile: c.reconcile })),
    placements: placementStatus(ctx),
  };
}

/** `/objects`: each placement's objects (of one cluster with `?cluster=NAME`); undefined for an unknown cluster. */
export function objectsView(ctx: ApplianceContext, cluster: string | undefined) {
  const r = ctx.reconciler;
  if (cluster !== undefined && !r?.opts.clusters.some((c) => c.name === cluster)) return undefined;
  const placements = (r?.placements() ?? []).filter((p) => cluster === undefined || p.cluster === cluster);
  const view = (p: (typeof placements)[number]) => ({
    cluster: p.cluster,
    channel: p.channel,
    rootDigest: p.rootDigest,
    sync: p.sync,
    health: p.health,
    drifted: p.drifted,
    ...(p.reason ? { reason: p.reason } : {}),
    checkedAt: p.checkedAt ?? null,
    objects: p.objects.map(({ drift: _drift, ...o }) => o),
  });
  return {
    enabled: r !== undefined,
    placements: placements.map(view),
    // Per channel, summed over clusters (the view before placements).
    channels: (r?.all() ?? []).map((c) => ({
      channel: c.channel,
      rootDigest: c.rootDigest,
      sync: c.sync,
      health: c.health,
      drifted: c.drifted,
      ...(c.reason ? { reason: c.reason } : {}),
      checkedAt: c.checkedAt ?? null,
      objects: c.objects.map(({ drift: _drift, ...o }) => o),
    })),
  };
}
