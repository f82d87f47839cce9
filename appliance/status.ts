/** Per-channel status: what is in force and how the cluster stands. Shared by `GET /status` and site receipts. */
import type { ApplianceContext } from './context.js';

export interface ChannelStatus {
  channel: string;
  name: string;
  sequence: number;
  rootDigest: string;
  appliedAt: string;
  images: number;
  git: { name: string; ref: string; commit: string }[];
  sync: string;
  health: string;
  drifted?: number;
  reason?: string;
  lastSync?: unknown;
}

export function channelStatus(ctx: ApplianceContext): ChannelStatus[] {
  return ctx.state.status().map((c) => ({
    channel: c.channel,
    name: c.name,
    sequence: c.sequence,
    rootDigest: c.rootDigest,
    appliedAt: c.appliedAt,
    images: c.summary.images.length,
    git: c.summary.git.map((g) => ({ name: g.name, ref: g.ref, commit: g.commit })),
    ...reconcileSummary(ctx, c.channel, c.rootDigest),
  }));
}

function reconcileSummary(ctx: ApplianceContext, channel: string, rootDigest: string): { sync: string; health: string; drifted?: number; reason?: string; lastSync?: unknown } {
  const r = ctx.reconciler?.status(channel);
  if (!r) return { sync: 'Unknown', health: 'Unknown', ...(ctx.reconcileDisabled ? { reason: ctx.reconcileDisabled } : {}) };
  // A sync of the new bundle not finished yet: whatever is known is about the previous one.
  const current = r.rootDigest === rootDigest;
  return {
    sync: current ? r.sync : 'OutOfSync',
    health: r.health,
    drifted: r.drifted,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.lastSync ? { lastSync: r.lastSync } : {}),
  };
}

/** One placement (channel on cluster) as `GET /api/v1/status` lists it. */
export interface PlacementView {
  cluster: string;
  channel: string;
  rootDigest: string;
  sync: string;
  health: string;
  drifted: number;
  lastSync: unknown;
  checkedAt: string | null;
  reason?: string;
}

export function placementStatus(ctx: ApplianceContext): PlacementView[] {
  return (ctx.reconciler?.placements() ?? []).map((p) => ({
    cluster: p.cluster,
    channel: p.channel,
    rootDigest: p.rootDigest,
    // A sync of the bundle in force not finished yet: what is known is about the previous one.
    sync: p.rootDigest && p.rootDigest === ctx.state.lastAccepted(p.channel)?.rootDigest ? p.sync : p.sync === 'Unknown' ? 'Unknown' : 'OutOfSync',
    health: p.health,
    drifted: p.drifted,
    lastSync: p.lastSync ?? null,
    checkedAt: p.checkedAt ?? null,
    ...(p.reason ? { reason: p.reason } : {}),
  }));
}
