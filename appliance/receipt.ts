/** The site receipt: what this appliance holds, signed with its own key (keys/receipt.ts has the format). */
import { type Receipt, signReceipt } from '../keys/receipt.js';
import type { ApplianceContext } from './context.js';
import { channelStatus } from './status.js';

export async function siteReceipt(ctx: ApplianceContext): Promise<string> {
  const receipt: Receipt = {
    type: 'airlock-receipt',
    created: ctx.now().toISOString(),
    appliance: ctx.siteKey.keyid,
    channels: channelStatus(ctx).map((c) => ({
      channel: c.channel,
      name: c.name,
      sequence: c.sequence,
      root: c.rootDigest,
      appliedAt: c.appliedAt,
      sync: c.sync,
      health: c.health,
    })),
    blobs: ctx.state.publishedBlobs(),
    git: await ctx.mirror.heldCommits(),
  };
  return signReceipt(receipt, ctx.siteKey);
}
