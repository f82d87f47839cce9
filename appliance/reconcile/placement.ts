/**
 * One placement — one channel on one cluster — and its own loop: its own queue of passes, failure count and
 * backoff, jittered interval, desired-object cache, inventory and status. Loops never wait for each other, so a
 * cluster whose API is down, slow or hung holds up only its own placements.
 *
 * A pass syncs when the placement has not synced the bundle in force (or its last sync failed), and otherwise
 * checks: reads every object back, reports drift and, with self-heal, re-applies what drifted. A check in which
 * nothing drifted sends no write.
 */
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import type { ClusterApi } from '../../src/kube/cluster-api.js';
import type { DesiredObject } from '../../src/kube/desired.js';
import { type Health, worstHealth } from '../../src/kube/health.js';
import type { Logger } from '../context.js';
import { type InventoryEntry, type ObjectStatus, SyncFailure, checkChannel, heal, syncChannel } from './sync.js';

export interface PlacementStatus {
  /** `CHANNEL@CLUSTER` */
  id: string;
  channel: string;
  cluster: string;
  rootDigest: string;
  sync: 'Synced' | 'OutOfSync' | 'Unknown';
  health: 'Healthy' | 'Progressing' | 'Degraded' | 'Unknown';
  /** Why health is Degraded or sync Unknown, when it is the sync or the API server that failed. */
  reason?: string;
  drifted: number;
  /** The errors of the placement's render when it failed (a value with no default, an absent patch path…). */
  renderErrors?: string[];
  objects: ObjectStatus[];
  lastSync?: { at: string; ok: boolean; applied: number; pruned: string[]; error?: string; ms?: number };
  checkedAt?: string;
}

export interface Desired {
  rootDigest: string;
  objects: DesiredObject[];
}

/** What a loop is given: everything it touches outside its own state. */
export interface PlacementDeps {
  site: string;
  /** The root in force on the channel (undefined: nothing in force, nothing to do). */
  rootInForce(channel: string): string | undefined;
  /** The placement's desired objects for that root (labelled with its channel, site and cluster). */
  load(channel: string, cluster: string, rootDigest: string): Promise<DesiredObject[]>;
  inventory(id: string): InventoryEntry[];
  setInventory(id: string, entries: InventoryEntry[]): void;
  audit(action: string, detail: Record<string, unknown>): void;
  log: Logger;
  now(): Date;
  /** [0, 1): jitter. */
  random(): number;
  intervalMs: number;
  selfHeal: boolean;
  forceConflicts: boolean;
  waveTimeoutMs?: number;
  healthPollMs?: number;
  /** Observed after every sync (metrics). */
  onSync?(p: PlacementStatus, ms: number): void;
}

/** A placement's render failed: nothing of it is applied; the objects in force stay. */
export class RenderFailure extends AirlockError {
  constructor(
    cluster: string,
    readonly errors: string[],
  ) {
    super('RENDER_FAILED', `the render for cluster ${cluster} failed, nothing of it was applied (the objects in force stay): ${errors.join('; ')}`);
  }
}

export function placementId(channel: string, cluster: string): string {
  return `${channel}@${cluster}`;
}

export class PlacementLoop {
  readonly id: string;
  private state: PlacementStatus;
  private running: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private cache: Desired | undefined;

  constructor(
    readonly channel: string,
    readonly cluster: { name: string; api: ClusterApi; legacy?: boolean },
    private readonly deps: PlacementDeps,
  ) {
    this.id = placementId(channel, cluster.name);
    this.state = { id: this.id, channel, cluster: cluster.name, rootDigest: '', sync: 'Unknown', health: 'Unknown', drifted: 0, objects: [] };
  }

  status(): PlacementStatus {
    return this.state;
  }

  /** The delay before the next pass: the interval, or after failures 1 s, 2 s, 4 s … up to it; ±10% jitter. */
  nextDelay(): number {
    const base = this.failures ? Math.min(this.deps.intervalMs, 1000 * 2 ** (this.failures - 1)) : this.deps.intervalMs;
    return Math.round(base * (0.9 + this.deps.random() * 0.2));
  }

  get failureCount(): number {
    return this.failures;
  }

  /** Syncs now, then keeps checking. */
  start(): Promise<void> {
    return this.enqueue(() => this.pass());
  }

  /** After an import: sync to the new bundle unless a pass already did. */
  requestSync(): Promise<void> {
    return this.enqueue(async () => {
      if (this.state.lastSync?.ok && this.state.rootDigest === this.deps.rootInForce(this.channel)) return;
      await this.pass();
    });
  }

  /** A pass now (tests and `checkNow`). */
  passNow(): Promise<void> {
    return this.enqueue(() => this.pass());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Waits for the pass in progress, with a bound (a hung API server must not hold a stop forever). */
  async settle(ms: number): Promise<void> {
    await Promise.race([this.running, new Promise((r) => setTimeout(r, ms).unref())]);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.running.then(work).catch((err: unknown) => this.deps.log.error('reconcile pass failed', { placement: this.id, message: errorMessage(err) }));
    this.running = next;
    return next;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.enqueue(() => this.pass()), this.nextDelay());
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    try {
      const root = this.deps.rootInForce(this.channel);
      if (!root) return;
      if (!this.state.lastSync?.ok || this.state.rootDigest !== root) await this.sync(root);
      else await this.check(root);
    } finally {
      this.schedule();
    }
  }

  private async desired(root: string): Promise<Desired> {
    if (this.cache?.rootDigest === root) return this.cache;
    this.cache = { rootDigest: root, objects: await this.deps.load(this.channel, this.cluster.name, root) };
    return this.cache;
  }

  /**
   * What the placement applied before. A data directory from before placements keeps one inventory per channel;
   * the cluster that stands for the old single cluster takes it over (its objects are adopted, not pruned).
   */
  private previous(): { entries: InventoryEntry[]; legacy: boolean } {
    const own = this.deps.inventory(this.id);
    if (own.length || !this.cluster.legacy) return { entries: own, legacy: false };
    const old = this.deps.inventory(this.channel);
    return { entries: old, legacy: old.length > 0 };
  }

  private saveInventory(entries: InventoryEntry[], legacy: boolean): void {
    this.deps.setInventory(this.id, entries);
    if (legacy) this.deps.setInventory(this.channel, []);
  }

  private async sync(root: string): Promise<void> {
    const at = this.deps.now().toISOString();
    const started = Date.now();
    const fields = { channel: this.channel, cluster: this.cluster.name };
    try {
      const want = await this.desired(root);
      const prev = this.previous();
      if (prev.legacy) this.deps.log.info('adopting the inventory of the release before placements', { ...fields, objects: prev.entries.length });
      let outcome;
      try {
        outcome = await syncChannel(this.cluster.api, want.objects, prev.entries, {
          channel: this.channel,
          placement: { site: this.deps.site, cluster: this.cluster.name },
          forceConflicts: this.deps.forceConflicts,
          ...(this.deps.waveTimeoutMs ? { waveTimeoutMs: this.deps.waveTimeoutMs } : {}),
          ...(this.deps.healthPollMs ? { healthPollMs: this.deps.healthPollMs } : {}),
        });
      } catch (err) {
        if (err instanceof SyncFailure) this.saveInventory(err.inventory, prev.legacy);
        throw err;
      }
      this.saveInventory(outcome.inventory, prev.legacy);
      this.deps.audit('cluster.synced', { ...fields, root, applied: outcome.applied.length, pruned: outcome.pruned });
      this.deps.log.info('cluster synced', { ...fields, applied: outcome.applied.length, pruned: outcome.pruned });
      const lastSync = { at, ok: true, applied: outcome.applied.length, pruned: outcome.pruned, ms: Date.now() - started };
      await this.checkWith(want, lastSync);
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const message = errorMessage(err);
      this.deps.log.warn('cluster sync failed', { ...fields, code: isAirlockError(err) ? err.code : 'INTERNAL', message });
      const current = { ...this.state };
      delete current.renderErrors;
      this.state = {
        ...current,
        sync: current.sync === 'Synced' && current.rootDigest === root ? 'Synced' : 'OutOfSync',
        health: 'Degraded',
        reason: message,
        ...(err instanceof RenderFailure ? { renderErrors: err.errors } : {}),
        lastSync: { at, ok: false, applied: 0, pruned: [], error: message, ms: Date.now() - started },
      };
    }
    this.deps.onSync?.(this.state, Date.now() - started);
  }

  private async check(root: string): Promise<void> {
    try {
      await this.checkWith(await this.desired(root), this.state.lastSync);
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const message = errorMessage(err);
      this.deps.log.warn('cluster check failed', { channel: this.channel, cluster: this.cluster.name, message });
      this.state = { ...this.state, health: 'Degraded', reason: message };
    }
  }

  private async checkWith(want: Desired, lastSync: PlacementStatus['lastSync']): Promise<void> {
    const api = this.cluster.api;
    const fields = { channel: this.channel, cluster: this.cluster.name };
    let objects = await checkChannel(api, want.objects);
    const drifted = objects.filter((o) => o.sync !== 'Synced');
    for (const o of drifted) this.deps.log.warn('drift', { ...fields, object: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`, sync: o.sync, diff: o.diff ?? null });
    if (drifted.length && this.deps.selfHeal) {
      const healed = await heal(api, want.objects, new Set(drifted.map((o) => o.key)));
      this.deps.audit('cluster.healed', { ...fields, objects: healed });
      this.deps.log.info('self-heal re-applied drifted objects', { ...fields, objects: healed });
      objects = await checkChannel(api, want.objects);
    }
    const still = objects.filter((o) => o.sync !== 'Synced').length;
    this.state = {
      id: this.id,
      channel: this.channel,
      cluster: this.cluster.name,
      rootDigest: want.rootDigest,
      sync: still ? 'OutOfSync' : 'Synced',
      health: worstHealth(objects.map((o) => o.health as Health)),
      drifted: still,
      objects,
      ...(lastSync ? { lastSync } : {}),
      checkedAt: this.deps.now().toISOString(),
    };
  }
}
