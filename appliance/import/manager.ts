/**
 * Runs one import at a time. Starting an import records it, then runs the pipeline in the background; callers get
 * the id at once and follow progress through the state store.
 */
import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { AirlockError } from '../../src/errors.js';
import { formatBytes } from '../../src/units.js';
import type { ApplianceContext } from '../context.js';
import { type ImportOutcome, type ImportSource, runImport } from './pipeline.js';
import { reapplyBundle } from './reapply.js';

export class ImportBusy extends Error {
  constructor(readonly runningId: string) {
    super(`another import (${runningId}) is running`);
  }
}

export class ImportManager {
  private running: { id: string; done: Promise<ImportOutcome> } | undefined;
  /** Garbage collection in progress (or settled): imports start only after it (ADR 009). */
  private collecting: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: ApplianceContext,
    private readonly dataDir: string,
    private readonly freeBytes: (dir: string) => Promise<number> = async (dir) => {
      const s = await statfs(dir);
      return s.bavail * s.bsize;
    },
    /** Runs after each import that applied something new (garbage collection), while no import runs. */
    private readonly afterApplied?: () => Promise<void>,
  ) {}

  get current(): string | undefined {
    return this.running?.id;
  }

  /** Refuses up front when the data directory cannot hold `declaredBytes`. */
  async checkSpace(declaredBytes: number | null): Promise<void> {
    if (declaredBytes === null) return;
    const free = await this.freeBytes(this.dataDir);
    if (declaredBytes > free) {
      throw new AirlockError('INSUFFICIENT_STORAGE', `not enough free space in ${this.dataDir}: the bundle is ${formatBytes(declaredBytes)}, ${formatBytes(free)} is free (${formatBytes(declaredBytes - free)} missing)`);
    }
  }

  /**
   * Starts an import from `source`. Throws ImportBusy while another runs. `onSettled` runs after the pipeline
   * (for uploads: to drain what the pipeline did not read).
   */
  start(sourceLabel: string, totalBytes: number | null, source: ImportSource, onSettled?: () => void): { id: string; done: Promise<ImportOutcome> } {
    return this.begin(sourceLabel, totalBytes, (id) => runImport(this.ctx, id, source), onSettled);
  }

  /** Re-applies a bundle held on site (rollback), as one more entry of the history; same one-at-a-time rule. */
  reapply(rootDigest: string): { id: string; done: Promise<ImportOutcome> } {
    const dropped = this.ctx.state.droppedBundle(rootDigest);
    if (dropped) throw new AirlockError('NOT_FOUND', `bundle ${rootDigest} (channel ${dropped.channel}, sequence ${dropped.sequence}) is no longer held: retention dropped it on ${dropped.droppedAt} (appliance serve --keep); bring a newer release`);
    if (!this.ctx.state.heldBundleRecord(rootDigest)) throw new AirlockError('NOT_FOUND', `no bundle ${rootDigest} was ever applied here`);
    return this.begin(`reapply:${rootDigest}`, null, (id) => reapplyBundle(this.ctx, id, rootDigest));
  }

  private begin(sourceLabel: string, totalBytes: number | null, work: (id: string) => Promise<ImportOutcome>, onSettled?: () => void): { id: string; done: Promise<ImportOutcome> } {
    if (this.running) throw new ImportBusy(this.running.id);
    const id = `imp-${this.ctx.now().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
    this.ctx.state.createImport(id, sourceLabel, totalBytes, this.ctx.now());
    this.ctx.log.info('import started', { id, source: sourceLabel, totalBytes });
    const outcome = this.collecting.then(() => work(id));
    const done = outcome.finally(() => {
      this.running = undefined;
      onSettled?.();
    });
    void outcome.then((o) => {
      if (o.state === 'applied' && !o.idempotent && this.afterApplied) this.collecting = this.collecting.then(this.afterApplied).catch(() => undefined);
    }, () => undefined);
    this.running = { id, done };
    return this.running;
  }

  /**
   * Runs `work` (garbage collection) while no import runs: ImportBusy while one does; an import started meanwhile
   * waits for it.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.running) throw new ImportBusy(this.running.id);
    const result = this.collecting.then(work);
    this.collecting = result.catch(() => undefined);
    return result;
  }

  /** Resolves when the running import (if any) and garbage collection have settled. */
  async idle(): Promise<void> {
    await this.running?.done;
    await this.collecting;
  }
}
