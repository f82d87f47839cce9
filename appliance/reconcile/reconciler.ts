/**
 * Keeps the cluster at the bundles in force, the way Argo CD's automated sync (prune + self-heal) and Flux's
 * Kustomization do: a sync after every applied import (and at start), then a check every `interval` (with
 * jitter) that reads every object back, reports drift with a diff and, with self-heal, re-applies what drifted.
 * A check in which nothing drifted sends no write. API failures are retried with backoff; status says Degraded
 * with the reason meanwhile, and the process never falls over for it.
 */
import { errorMessage, isAirlockError } from '../../src/errors.js';
import type { DesiredObject } from '../../src/kube/desired.js';
import { type Health, worstHealth } from '../../src/kube/health.js';
import { formatReference, parseReference } from '../../src/reference.js';
import type { ApplianceContext } from '../context.js';
import { bundleObjects } from './bundle-objects.js';
import type { Cluster } from './cluster.js';
import { type ObjectStatus, checkChannel, heal, syncChannel } from './sync.js';

export interface ReconcileOptions {
  cluster: Cluster;
  /** host:port images are pulled from on site (the appliance itself, or --registry's host). */
  registryHost: string;
  intervalMs: number;
  selfHeal: boolean;
  forceConflicts: boolean;
}

export interface ChannelReconcile {
  channel: string;
  rootDigest: string;
  sync: 'Synced' | 'OutOfSync' | 'Unknown';
  health: 'Healthy' | 'Progressing' | 'Degraded' | 'Unknown';
  /** Why health is Degraded or sync Unknown, when it is the sync or the API server that failed. */
  reason?: string;
  drifted: number;
  objects: ObjectStatus[];
  lastSync?: { at: string; ok: boolean; applied: number; pruned: string[]; error?: string };
  checkedAt?: string;
}

export class Reconciler {
  private readonly channels = new Map<string, ChannelReconcile>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly ctx: ApplianceContext,
    readonly opts: ReconcileOptions,
  ) {}

  status(channel: string): ChannelReconcile | undefined {
    return this.channels.get(channel);
  }

  all(): ChannelReconcile[] {
    return [...this.channels.values()];
  }

  /** Syncs every channel in force now, then keeps checking. */
  start(): void {
    this.enqueue(() => this.syncAll());
  }

  /**
   * After an import: sync the channel to its new bundle (queued behind any pass already running, which may have
   * synced it already: then there is nothing to do).
   */
  requestSync(channel: string): Promise<void> {
    return this.enqueue(async () => {
      const known = this.channels.get(channel);
      if (known?.lastSync?.ok && known.rootDigest === this.ctx.state.lastAccepted(channel)?.rootDigest) return;
      await this.syncOne(channel);
    });
  }

  /** Runs a check pass now (tests; the loop runs them on its own). */
  checkNow(): Promise<void> {
    return this.enqueue(() => this.checkAll());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    this.opts.cluster.close();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.running.then(work).catch((err: unknown) => this.ctx.log.error('reconcile pass failed', { message: errorMessage(err) }));
    this.running = next;
    return next;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    // Backoff after failures (1 s, 2 s, 4 s … up to the interval); jitter of ±10% so sites do not beat in step.
    const base = this.failures ? Math.min(this.opts.intervalMs, 1000 * 2 ** (this.failures - 1)) : this.opts.intervalMs;
    const delay = Math.round(base * (0.9 + Math.random() * 0.2));
    this.timer = setTimeout(() => void this.enqueue(() => this.checkAll()), delay);
    this.timer.unref();
  }

  private async syncAll(): Promise<void> {
    for (const c of this.ctx.state.status()) await this.syncOne(c.channel, false);
    this.schedule();
  }

  /** Each channel's desired objects with the root they came from: a bundle's objects never change, so passes do not re-read them. */
  private readonly desiredCache = new Map<string, { rootDigest: string; objects: DesiredObject[] }>();

  private async desired(channel: string): Promise<{ rootDigest: string; objects: DesiredObject[] } | undefined> {
    const inForce = this.ctx.state.status().find((c) => c.channel === channel);
    if (!inForce) return undefined;
    const cached = this.desiredCache.get(channel);
    if (cached?.rootDigest === inForce.rootDigest) return cached;
    const held = new Map<string, string>();
    for (const image of inForce.summary.images) {
      try {
        const ref = parseReference(image.ref);
        held.set(formatReference({ registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) }), image.digest);
      } catch {
        // an image the bundle names oddly is served under no tag; nothing to pin
      }
    }
    const objects = await bundleObjects(this.ctx.cas, this.ctx.mirror, inForce.rootDigest, { channel, rootDigest: inForce.rootDigest, rules: { registry: this.opts.registryHost, held } });
    const want = { rootDigest: inForce.rootDigest, objects };
    this.desiredCache.set(channel, want);
    return want;
  }

  private async syncOne(channel: string, reschedule = true): Promise<void> {
    const at = this.ctx.now().toISOString();
    const current = this.channels.get(channel);
    try {
      const want = await this.desired(channel);
      if (!want) return;
      const outcome = await syncChannel(this.opts.cluster, want.objects, this.ctx.state.inventory(channel), { channel, forceConflicts: this.opts.forceConflicts });
      this.ctx.state.setInventory(channel, outcome.inventory);
      this.ctx.state.audit('system', 'cluster.synced', { channel, root: want.rootDigest, applied: outcome.applied.length, pruned: outcome.pruned }, this.ctx.now());
      this.ctx.log.info('cluster synced', { channel, applied: outcome.applied.length, pruned: outcome.pruned });
      const lastSync = { at, ok: true, applied: outcome.applied.length, pruned: outcome.pruned };
      await this.checkOne(channel, want, lastSync);
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const message = errorMessage(err);
      this.ctx.log.warn('cluster sync failed', { channel, code: isAirlockError(err) ? err.code : 'INTERNAL', message });
      this.channels.set(channel, {
        ...(current ?? { channel, rootDigest: '', drifted: 0, objects: [] }),
        sync: current?.sync === 'Synced' && current.rootDigest === this.ctx.state.lastAccepted(channel)?.rootDigest ? 'Synced' : 'OutOfSync',
        health: 'Degraded',
        reason: message,
        lastSync: { at, ok: false, applied: 0, pruned: [], error: message },
      });
    }
    if (reschedule) this.schedule();
  }

  private async checkAll(): Promise<void> {
    for (const c of this.ctx.state.status()) {
      const known = this.channels.get(c.channel);
      try {
        // A channel whose last sync failed (or never ran) is synced again rather than only checked.
        if (!known?.lastSync?.ok || known.rootDigest !== c.rootDigest) {
          await this.syncOne(c.channel, false);
          continue;
        }
        const want = await this.desired(c.channel);
        if (!want) continue;
        await this.checkOne(c.channel, want, known.lastSync);
        this.failures = 0;
      } catch (err) {
        this.failures++;
        const message = errorMessage(err);
        this.ctx.log.warn('cluster check failed', { channel: c.channel, message });
        this.channels.set(c.channel, { ...(known ?? { channel: c.channel, rootDigest: c.rootDigest, sync: 'Unknown', drifted: 0, objects: [] }), health: 'Degraded', reason: message });
      }
    }
    this.schedule();
  }

  private async checkOne(channel: string, want: { rootDigest: string; objects: DesiredObject[] }, lastSync: ChannelReconcile['lastSync']): Promise<void> {
    let objects = await checkChannel(this.opts.cluster, want.objects);
    const drifted = objects.filter((o) => o.sync !== 'Synced');
    for (const o of drifted) this.ctx.log.warn('drift', { channel, object: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`, sync: o.sync, diff: o.diff ?? null });
    if (drifted.length && this.opts.selfHeal) {
      const healed = await heal(this.opts.cluster, want.objects, new Set(drifted.map((o) => o.key)));
      this.ctx.state.audit('system', 'cluster.healed', { channel, objects: healed }, this.ctx.now());
      this.ctx.log.info('self-heal re-applied drifted objects', { channel, objects: healed });
      objects = await checkChannel(this.opts.cluster, want.objects);
    }
    const still = objects.filter((o) => o.sync !== 'Synced').length;
    this.channels.set(channel, {
      channel,
      rootDigest: want.rootDigest,
      sync: still ? 'OutOfSync' : 'Synced',
      health: worstHealth(objects.map((o) => o.health as Health)),
      drifted: still,
      objects,
      ...(lastSync ? { lastSync } : {}),
      checkedAt: this.ctx.now().toISOString(),
    });
  }
}
