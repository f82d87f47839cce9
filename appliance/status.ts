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
    // Reconciling the cluster is not built yet: nothing is known of sync or health.
    sync: 'Unknown',
    health: 'Unknown',
  }));
}
