/**
 * Per-channel status: what is in force and how the cluster stands. Shared by `GET /status` and site receipts. And
 * the trust root's lifecycle: status, UI banner, log.
 */
import { type TrustLifecycle, trustLifecycle } from '../keys/rotation.js';
import type { ApplianceContext } from './context.js';
import { Tools } from '../src/charts/tools.js';

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

/** The trust root in force and where it stands: `trust` in GET /api/v1/status. */
export function trustStatus(ctx: ApplianceContext): TrustLifecycle {
  return trustLifecycle(ctx.trust, ctx.now());
}

/** One line for the top of every UI page while the trust root is expiring or expired; undefined when all is well. */
export function trustBanner(ctx: ApplianceContext): { level: 'warn' | 'error'; text: string } | undefined {
  const t = trustStatus(ctx);
  if (t.state === 'ok') return undefined;
  return { level: t.state === 'expired' ? 'error' : 'warn', text: t.warnings.join(' ') };
}

/**
 * Says where the trust root stands in the log now and once a day: a warning from 30 days before expiry, an error
 * once expired. Returns the function that stops it.
 */
export function watchTrust(ctx: ApplianceContext, intervalMs = 86_400_000): () => void {
  const report = () => {
    const t = trustStatus(ctx);
    const fields = { version: t.version, expires: t.expires, daysLeft: t.daysLeft, state: t.state };
    if (t.state === 'expired') ctx.log.error(t.warnings.join(' '), fields);
    else if (t.state === 'expiring') ctx.log.warn(t.warnings.join(' '), fields);
    else ctx.log.info('trust root in force', fields);
  };
  report();
  const timer = setInterval(report, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
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
  /** The placement's render errors when the bundle in force could not be rendered for its cluster. */
  renderErrors?: string[];
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
    ...(p.renderErrors ? { renderErrors: p.renderErrors } : {}),
  }));
}

const found = new WeakMap<Tools, Promise<{ helm: string | null; kustomize: string | null }>>();
const pathTools = new Tools();

/** The helm and kustomize this appliance renders charts and overlays with (null: not found), looked up once. */
export function toolStatus(ctx: ApplianceContext): Promise<{ helm: string | null; kustomize: string | null }> {
  const tools = ctx.tools ?? pathTools;
  let v = found.get(tools);
  if (!v) found.set(tools, (v = tools.versions()));
  return v;
}
