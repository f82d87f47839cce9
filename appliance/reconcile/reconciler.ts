/**
 * Keeps every placement — each channel in force on each cluster of the site — at its bundle, the way Argo CD's
 * automated sync (prune + self-heal) and Flux's Kustomization do. Each placement has its own loop
 * (placement.ts); this class makes the loops (one per channel × reconciled cluster, as channels come into force),
 * hands imports to them, and reports their status, per placement and summed up per channel.
 */
import type { ClusterApi } from '../../src/kube/cluster-api.js';
import type { DesiredObject } from '../../src/kube/desired.js';
import { worstHealth } from '../../src/kube/health.js';
import { formatReference, parseReference } from '../../src/reference.js';
import { type SourceExpander, identityExpander } from '../../src/render/expand.js';
import { type PlacementRender, renderPlacement } from '../../src/render/placement.js';
import type { RenderSource } from '../../src/render/types.js';
import { objectFiles } from '../../src/render/files.js';
import { errorMessage } from '../../src/errors.js';
import type { ApplianceContext } from '../context.js';
import type { RenderedRepo } from '../git/rendered.js';
import { heldSources } from './held-sources.js';
import { PlacementLoop, type PlacementStatus, RenderFailure, placementId } from './placement.js';

export interface ReconcileCluster {
  name: string;
  api: ClusterApi;
  labels: Record<string, string>;
  values: Record<string, string>;
  /** `none`: listed, never written to. */
  reconcile: 'airlock' | 'none';
  /** The cluster's own labels and values, before the site's are merged in (the render layers them itself). */
  own?: { labels: Record<string, string>; values: Record<string, string> };
}

export interface ReconcileOptions {
  /** The site's name: it goes into every object's ownership labels. */
  site: string;
  /** The site's own labels and values (the render layers site, then cluster). */
  siteLabels?: Record<string, string>;
  siteValues?: Record<string, string>;
  /** Expands charts and overlays per cluster before the pure render (identity by default; src/render/expand.ts). */
  expandSources?: SourceExpander;
  /** Where each applied bundle's render is committed, one branch per placement (`/git/rendered.git`). */
  rendered?: RenderedRepo;
  clusters: ReconcileCluster[];
  /** host:port images are pulled from on site (the appliance itself, or --registry's host). */
  registryHost: string;
  intervalMs: number;
  selfHeal: boolean;
  forceConflicts: boolean;
  waveTimeoutMs?: number;
  healthPollMs?: number;
  /** [0, 1) for jitter (Math.random by default). */
  random?: () => number;
  onSync?: (p: PlacementStatus, ms: number) => void;
}

/** A placement's rendered branch (`CHANNEL/CLUSTER` of `/git/rendered.git`): its last commit, or why it has none. */
export interface BranchStatus {
  branch: string;
  channel: string;
  cluster: string;
  reconcile: 'airlock' | 'none';
  /** The bundle the branch's tip was rendered from. */
  rootDigest?: string;
  commit?: string;
  /** The render errors of the bundle in force, when it could not be rendered (the tip stays at the last good one). */
  errors?: string[];
}

/** A channel summed up over its placements (the shape of status before placements). */
export type ChannelReconcile = Pick<PlacementStatus, 'channel' | 'rootDigest' | 'sync' | 'health' | 'reason' | 'drifted' | 'objects' | 'lastSync' | 'checkedAt'>;

/** How many bundles' sources are kept in memory (the one in force per channel, and the one an import just brought). */
const SOURCES_KEPT = 4;

export class Reconciler {
  private readonly loops = new Map<string, PlacementLoop>();
  private readonly sources = new Map<string, Promise<RenderSource[]>>();
  private readonly branchState = new Map<string, BranchStatus>();
  private branchWork: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The first reconciled cluster (what `--kubeconfig` gives); kept for callers that know one cluster. */
  readonly opts: ReconcileOptions & { cluster: ClusterApi };

  constructor(
    private readonly ctx: ApplianceContext,
    opts: ReconcileOptions,
  ) {
    const first = opts.clusters.find((c) => c.reconcile === 'airlock') ?? opts.clusters[0];
    if (!first) throw new Error('a reconciler needs a cluster');
    this.opts = { ...opts, cluster: first.api };
  }

  /** The cluster that takes over the inventory a data directory kept before placements: `local`, or the only one. */
  private legacyCluster(): string | undefined {
    const reconciled = this.opts.clusters.filter((c) => c.reconcile === 'airlock');
    return reconciled.find((c) => c.name === 'local')?.name ?? (reconciled.length === 1 ? reconciled[0]?.name : undefined);
  }

  /** One loop per channel in force × reconciled cluster; new channels get theirs when they first come into force. */
  private ensureLoops(): PlacementLoop[] {
    const made: PlacementLoop[] = [];
    if (this.stopped) return made;
    const legacy = this.legacyCluster();
    for (const c of this.ctx.state.status()) {
      for (const cluster of this.opts.clusters) {
        if (cluster.reconcile !== 'airlock') continue;
        const id = placementId(c.channel, cluster.name);
        if (this.loops.has(id)) continue;
        const loop = new PlacementLoop(c.channel, { name: cluster.name, api: cluster.api, legacy: cluster.name === legacy }, this.deps());
        this.loops.set(id, loop);
        made.push(loop);
      }
    }
    return made;
  }

  private deps() {
    const { ctx, opts } = this;
    return {
      site: opts.site,
      rootInForce: (channel: string) => ctx.state.lastAccepted(channel)?.rootDigest,
      load: (channel: string, cluster: string, root: string) => this.load(channel, cluster, root),
      inventory: (id: string) => ctx.state.inventory(id),
      setInventory: (id: string, entries: Parameters<ApplianceContext['state']['setInventory']>[1]) => ctx.state.setInventory(id, entries),
      audit: (action: string, detail: Record<string, unknown>) => ctx.state.audit('system', action, detail, ctx.now()),
      log: ctx.log,
      now: ctx.now,
      random: opts.random ?? Math.random,
      intervalMs: opts.intervalMs,
      selfHeal: opts.selfHeal,
      forceConflicts: opts.forceConflicts,
      ...(opts.waveTimeoutMs ? { waveTimeoutMs: opts.waveTimeoutMs } : {}),
      ...(opts.healthPollMs ? { healthPollMs: opts.healthPollMs } : {}),
      ...(opts.onSync ? { onSync: opts.onSync } : {}),
    };
  }

  /** The sources of a bundle held here, read once per root (a few roots are kept). */
  private heldSources(rootDigest: string): Promise<RenderSource[]> {
    let got = this.sources.get(rootDigest);
    if (!got) {
      got = heldSources(this.ctx.cas, this.ctx.mirror, rootDigest);
      got.catch(() => this.sources.delete(rootDigest));
      this.sources.set(rootDigest, got);
      for (const old of [...this.sources.keys()].slice(0, Math.max(0, this.sources.size - SOURCES_KEPT))) this.sources.delete(old);
    }
    return got;
  }

  /** Digests of the images a bundle holds, by tag-level reference: images are pinned to them. */
  private heldImages(rootDigest: string): Map<string, string> {
    const held = new Map<string, string>();
    for (const image of this.ctx.state.heldBundleRecord(rootDigest)?.summary.images ?? []) {
      try {
        const ref = parseReference(image.ref);
        held.set(formatReference({ registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) }), image.digest);
      } catch {
        // an image the bundle names oddly is served under no tag; nothing to pin
      }
    }
    return held;
  }

  /**
   * One placement's render of a bundle held here (src/render/placement.ts, what `airlock render` runs): the sources
   * placed on the cluster, overrides and values applied, marked for the placement, images at the site registry.
   */
  async renderFor(channel: string, clusterName: string, rootDigest: string): Promise<PlacementRender> {
    const cluster = this.opts.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`no cluster ${clusterName} in the site`);
    const site = { name: this.opts.site, labels: this.opts.siteLabels ?? {}, values: this.opts.siteValues ?? {} };
    const own = cluster.own ?? { labels: cluster.labels, values: cluster.values };
    return renderPlacement(await this.heldSources(rootDigest), site, { name: cluster.name, ...own }, {
      expandSources: this.opts.expandSources ?? identityExpander,
      desired: { channel, rootDigest, rules: { registry: this.opts.registryHost, held: this.heldImages(rootDigest) }, placement: { site: this.opts.site, cluster: cluster.name } },
    });
  }

  private async load(channel: string, cluster: string, rootDigest: string): Promise<DesiredObject[]> {
    const r = await this.renderFor(channel, cluster, rootDigest);
    if (!r.ok) throw new RenderFailure(cluster, r.errors);
    return r.objects;
  }

  /**
   * Commits the bundle in force of `channel` (every channel when none is given) to each cluster's rendered branch,
   * unless the branch's tip is already that bundle's render. Clusters with `reconcile: none` get their branch too:
   * it is all airlock does for them. A render that fails leaves the branch where it was. Serialised.
   */
  renderBranches(channel?: string): Promise<void> {
    const repo = this.opts.rendered;
    if (!repo || this.stopped) return Promise.resolve();
    const work = async () => {
      for (const c of this.ctx.state.status()) {
        if (channel !== undefined && c.channel !== channel) continue;
        for (const cluster of this.opts.clusters) await this.renderBranch(repo, c.channel, cluster.name, cluster.reconcile, c.rootDigest);
      }
    };
    this.branchWork = this.branchWork.then(work).catch((err: unknown) => this.ctx.log.error('rendered branches failed', { message: errorMessage(err) }));
    return this.branchWork;
  }

  private async renderBranch(repo: RenderedRepo, channel: string, cluster: string, reconcile: 'airlock' | 'none', root: string): Promise<void> {
    const branch = `${channel}/${cluster}`;
    const base: BranchStatus = { branch, channel, cluster, reconcile };
    try {
      const tip = await repo.tip(branch);
      if (tip?.root === root) {
        this.branchState.set(branch, { ...base, rootDigest: root, commit: tip.commit });
        return;
      }
      const held = this.ctx.state.heldBundleRecord(root);
      if (!held) return;
      const r = await this.renderFor(channel, cluster, root);
      if (!r.ok) {
        this.branchState.set(branch, { ...base, ...(tip?.root ? { rootDigest: tip.root, commit: tip.commit } : {}), errors: r.errors });
        this.ctx.log.warn('rendered branch not updated: the render failed', { branch, errors: r.errors });
        return;
      }
      const commit = await repo.commit({
        branch,
        files: objectFiles(r.objects.map((o) => o.object)),
        bundle: { name: held.name, channel, sequence: held.sequence, root },
        cluster,
        site: this.opts.site,
        when: this.ctx.now(),
      });
      this.branchState.set(branch, { ...base, rootDigest: root, commit });
      this.ctx.log.info('rendered branch updated', { branch, commit, objects: r.objects.length });
    } catch (err) {
      this.branchState.set(branch, { ...base, errors: [errorMessage(err)] });
      this.ctx.log.warn('rendered branch not updated', { branch, message: errorMessage(err) });
    }
  }

  /** The rendered branches this process has written or checked, by branch name. */
  branches(): BranchStatus[] {
    return [...this.branchState.values()].sort((a, b) => a.branch.localeCompare(b.branch));
  }

  /** Every placement's status, by cluster then channel. */
  placements(): PlacementStatus[] {
    return [...this.loops.values()].map((l) => l.status()).sort((a, b) => a.cluster.localeCompare(b.cluster) || a.channel.localeCompare(b.channel));
  }

  /** A channel summed up over its placements: the worst sync and health, drift added up, reasons by cluster. */
  status(channel: string): ChannelReconcile | undefined {
    const mine = this.placements().filter((p) => p.channel === channel && p.lastSync);
    if (!mine.length) return undefined;
    if (mine.length === 1) return mine[0];
    const roots = new Set(mine.map((p) => p.rootDigest));
    const reasons = mine.filter((p) => p.reason).map((p) => `${p.cluster}: ${p.reason}`);
    const syncs = mine.map((p) => p.sync);
    const healths = mine.map((p) => p.health);
    return {
      channel,
      rootDigest: roots.size === 1 ? (mine[0]?.rootDigest ?? '') : '',
      sync: syncs.every((s) => s === 'Synced') ? 'Synced' : syncs.includes('OutOfSync') ? 'OutOfSync' : 'Unknown',
      health: healths.includes('Unknown') && !healths.includes('Degraded') ? 'Unknown' : worstHealth(healths.filter((h) => h !== 'Unknown')),
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
      drifted: mine.reduce((n, p) => n + p.drifted, 0),
      objects: mine.flatMap((p) => p.objects),
      ...(mine[0]?.lastSync ? { lastSync: mine[0].lastSync } : {}),
    };
  }

  /** Channels summed up (the view before placements). */
  all(): ChannelReconcile[] {
    const channels = [...new Set(this.placements().map((p) => p.channel))];
    return channels.map((c) => this.status(c)).filter((c): c is ChannelReconcile => c !== undefined);
  }

  /** Starts a loop for every placement: each syncs now, then keeps checking. */
  start(): void {
    for (const loop of this.ensureLoops()) void loop.start();
    void this.renderBranches();
  }

  /** After an import of `channel`: each of its placements syncs to the new bundle (each in its own loop). */
  requestSync(channel: string): Promise<void> {
    void this.renderBranches(channel);
    for (const loop of this.ensureLoops()) if (loop.channel !== channel) void loop.start();
    return Promise.all([...this.loops.values()].filter((l) => l.channel === channel).map((l) => l.requestSync())).then(() => undefined);
  }

  /** A pass of every placement now, side by side (tests; the loops run them on their own). */
  checkNow(): Promise<void> {
    this.start();
    return Promise.all([...this.loops.values()].map((l) => l.passNow())).then(() => undefined);
  }

  loop(channel: string, cluster: string): PlacementLoop | undefined {
    return this.loops.get(placementId(channel, cluster));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.race([this.branchWork, new Promise((r) => setTimeout(r, 5000).unref())]);
    await Promise.all([...this.loops.values()].map(async (l) => {
      const stopping = l.stop();
      await Promise.race([stopping, new Promise((r) => setTimeout(r, 5000).unref())]);
    }));
    for (const c of this.opts.clusters) c.api.close();
  }
}
