/**
 * `--depot oci://HOST/REPO`: the appliance polls its channel's release in a registry headquarters runs, and takes a
 * new one through the import pipeline (fetch.ts). One request per idle poll (HEAD of the channel tag, plus the
 * plan tag where the target resolver reads plans). Failures back off with jitter; a depot that is down only shows in
 * status (last contact, last error, next poll): reconcile and everything else on site go on without it.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest } from '../../src/descriptor.js';
import { AirlockError, errorMessage, isAirlockError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/fs-atomic.js';
import type { RegistryRepository } from '../../src/registry/repository.js';
import { MANIFEST_ACCEPT } from '../../src/registry/repository.js';
import type { ApplianceContext } from '../context.js';
import { ImportBusy, type ImportManager } from '../import/manager.js';
import { POLICY_CODES, checkRelease, startRelease } from './fetch.js';

/** What to take: a channel tag or a root digest; null: take nothing now (`reason` says why). */
export type DepotTarget = { reference: string; wave?: string; serial?: number } | { reference: null; reason: string };

/**
 * Finds the release this site should run. `state` persists across restarts (the highest plan serial accepted);
 * the resolver may read and change it.
 */
export type ResolveTarget = (repo: RegistryRepository, channel: string, state: DepotState) => Promise<DepotTarget>;

export interface DepotState {
  planSerial?: number;
  lastRelease?: LastRelease;
}

export interface LastRelease {
  importId: string;
  root: string;
  sequence: number;
  state: 'running' | 'applied' | 'failed';
  totalBlobBytes: number;
  savedBytes: number;
  missingBytes: number;
  resumedBytes: number;
  fetchedBytes: number;
  startedAt: string;
  error?: { code: string; message: string };
}

export interface DepotStatus {
  url: string;
  channel: string;
  intervalSeconds: number;
  rateBytesPerSecond: number | null;
  lastPoll: string | null;
  lastContact: string | null;
  lastError: { code: string; message: string; at: string } | null;
  consecutiveFailures: number;
  nextPoll: string | null;
  /** The wait chosen before the next poll: the interval with jitter, or the back-off after failures. */
  nextDelaySeconds: number | null;
  target: { reference: string | null; root: string | null; wave?: string; planSerial?: number; reason?: string } | null;
  /** The release in force on the channel and its expiry: a depot frozen on an old release shows here once it expires. */
  inForce: { root: string; sequence: number; expires: string | null; expired: boolean } | null;
  lastRelease: LastRelease | null;
}

export interface PollerOptions {
  ctx: ApplianceContext;
  imports: ImportManager;
  repo: RegistryRepository;
  url: string;
  channel: string;
  dataDir: string;
  intervalMs: number;
  rate?: number;
  readTimeoutMs?: number;
  /** Attempts without progress on one blob before the import gives up (the next poll resumes). */
  blobAttempts?: number;
  resolveTarget?: ResolveTarget;
  /** After every poll (the reporter looks for a release applied since its last push). */
  onPolled?: () => void;
  random?: () => number;
}

/** The default target: the channel tag. */
export const channelTag: ResolveTarget = async (_repo, channel) => ({ reference: channel });

export class DepotPoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeSleepers = new Set<() => void>();
  private readonly refused = new Map<string, number>(); // root → trust root version it was refused under
  private state: DepotState = {};
  private readonly stateFile: string;
  readonly status: DepotStatus;

  constructor(private readonly opts: PollerOptions) {
    this.stateFile = join(opts.dataDir, 'depot', 'state.json');
    this.status = {
      url: opts.url,
      channel: opts.channel,
      intervalSeconds: opts.intervalMs / 1000,
      rateBytesPerSecond: opts.rate ?? null,
      lastPoll: null,
      lastContact: null,
      lastError: null,
      consecutiveFailures: 0,
      nextPoll: null,
      nextDelaySeconds: null,
      target: null,
      inForce: null,
      lastRelease: null,
    };
  }

  async start(): Promise<void> {
    await mkdir(join(this.opts.dataDir, 'depot', 'ingest'), { recursive: true });
    try {
      this.state = JSON.parse(await readFile(this.stateFile, 'utf8')) as DepotState;
    } catch {
      this.state = {};
    }
    this.status.lastRelease = this.state.lastRelease ?? null;
    this.schedule(0);
  }

  /** Status as `GET /api/v1/status` shows it under `depot`. */
  view(): DepotStatus {
    const { ctx, channel } = this.opts;
    const accepted = ctx.state.lastAccepted(channel);
    const held = accepted ? ctx.state.heldBundleRecord(accepted.rootDigest) : undefined;
    this.status.inForce = accepted && held ? { root: accepted.rootDigest, sequence: accepted.sequence, expires: held.expires, expired: held.expires !== null && Date.parse(held.expires) <= ctx.now().getTime() } : null;
    return { ...this.status };
  }

  /** Polls now (tests; the UI's "check now"). */
  pollNow(): Promise<void> {
    if (this.running) return this.running;
    clearTimeout(this.timer);
    return this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const wake of this.wakeSleepers) wake();
    await this.running?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.status.nextPoll = new Date(this.opts.ctx.now().getTime() + ms).toISOString();
    this.status.nextDelaySeconds = ms / 1000;
    this.timer = setTimeout(() => void this.run(), ms);
    this.timer.unref();
  }

  private run(): Promise<void> {
    this.running = this.poll()
      .catch((err: unknown) => this.opts.ctx.log.error('depot poll failed unexpectedly', { message: errorMessage(err) }))
      .finally(() => {
        this.running = undefined;
        this.opts.onPolled?.();
        this.schedule(this.delay());
      });
    return this.running;
  }

  /** The interval ±10%; after failures, a growing back-off (capped at 4 intervals) with jitter. */
  private delay(): number {
    const random = this.opts.random ?? Math.random;
    const interval = this.opts.intervalMs;
    const f = this.status.consecutiveFailures;
    if (f === 0) return Math.round(interval * (0.9 + 0.2 * random()));
    const base = Math.min(interval, 30_000);
    const cap = Math.min(base * 2 ** (f - 1), 4 * interval);
    return Math.round(cap * (0.5 + 0.5 * random()));
  }

  private fail(err: unknown): void {
    const { ctx } = this.opts;
    const code = isAirlockError(err) ? err.code : 'INTERNAL';
    this.status.lastError = { code, message: errorMessage(err), at: ctx.now().toISOString() };
    this.status.consecutiveFailures++;
    ctx.log.warn('depot unavailable; trying again later', { depot: this.opts.url, code, message: errorMessage(err), failures: this.status.consecutiveFailures });
  }

  private refuse(root: string, err: unknown): void {
    const { ctx } = this.opts;
    const code = isAirlockError(err) ? err.code : 'INTERNAL';
    this.refused.set(root, ctx.trust.version);
    this.status.lastError = { code, message: errorMessage(err), at: ctx.now().toISOString() };
    ctx.log.warn('depot release refused', { depot: this.opts.url, root, code, message: errorMessage(err) });
  }

  private async saveState(): Promise<void> {
    await writeFileAtomic(this.stateFile, `${JSON.stringify(this.state)}\n`);
  }

  private async poll(): Promise<void> {
    const { ctx, repo, channel } = this.opts;
    this.status.lastPoll = ctx.now().toISOString();
    const serialBefore = this.state.planSerial;
    let target: DepotTarget;
    let root: string;
    try {
      target = await (this.opts.resolveTarget ?? channelTag)(repo, channel, this.state);
      if (this.state.planSerial !== serialBefore) await this.saveState();
      if (target.reference === null) {
        this.contact();
        this.status.target = { reference: null, root: null, reason: target.reason };
        return;
      }
      root = isDigest(target.reference) ? target.reference : await headDigest(repo, target.reference);
      this.contact();
      this.status.target = { reference: target.reference, root, ...(target.wave ? { wave: target.wave } : {}), ...(target.serial !== undefined ? { planSerial: target.serial } : {}) };
    } catch (err) {
      if (isAirlockError(err) && (POLICY_CODES.has(err.code) || err.code === 'MANIFEST_UNKNOWN')) {
        // no release there yet, or a plan the policy refuses: the depot answered, the site stays where it is
        this.contact();
        this.status.lastError = { code: err.code, message: errorMessage(err), at: ctx.now().toISOString() };
        return;
      }
      this.fail(err);
      return;
    }
    if (ctx.state.lastAccepted(channel)?.rootDigest === root) {
      this.status.lastError = null;
      return;
    }
    if (this.refused.get(root) === ctx.trust.version) return; // refused already: not fetched again until the tag moves
    if (this.opts.imports.current) return; // a stick import runs: the next poll
    await this.take(root);
  }

  private contact(): void {
    this.status.lastContact = this.opts.ctx.now().toISOString();
    this.status.consecutiveFailures = 0;
  }

  private async take(rootDigest: string): Promise<void> {
    const { ctx, imports, repo } = this.opts;
    const deps = {
      ctx,
      imports,
      repo,
      ingest: {
        dir: join(this.opts.dataDir, 'depot', 'ingest'),
        readTimeoutMs: this.opts.readTimeoutMs ?? 30_000,
        attempts: this.opts.blobAttempts ?? 6,
        sleep: (ms: number) => this.sleep(ms),
        stopping: () => this.stopped,
        ...(this.opts.rate ? { rate: this.opts.rate } : {}),
        onFetched: (n: number) => {
          if (this.status.lastRelease?.state === 'running') this.status.lastRelease.fetchedBytes += n;
        },
        onRetry: (err: unknown, offset: number) => ctx.log.warn('depot blob cut off; resuming', { message: errorMessage(err), offset }),
      },
    };
    let checked;
    try {
      checked = await checkRelease(deps, rootDigest);
    } catch (err) {
      if (isAirlockError(err) && POLICY_CODES.has(err.code)) this.refuse(rootDigest, err);
      else this.fail(err);
      return;
    }
    if (checked.verified.sameAsAccepted) return;
    let started;
    try {
      started = await startRelease(deps, checked);
    } catch (err) {
      if (err instanceof ImportBusy) return;
      this.fail(err);
      return;
    }
    const release: LastRelease = {
      importId: started.importId,
      root: started.root,
      sequence: started.sequence,
      state: 'running',
      totalBlobBytes: started.totalBlobBytes,
      savedBytes: started.savedBytes,
      missingBytes: started.missingBytes,
      resumedBytes: started.resumedBytes,
      fetchedBytes: 0,
      startedAt: ctx.now().toISOString(),
    };
    this.status.lastRelease = release;
    ctx.log.info('depot release found; importing', { depot: this.opts.url, id: started.importId, root: started.root, sequence: started.sequence, missingBytes: started.missingBytes, savedBytes: started.savedBytes, resumedBytes: started.resumedBytes });
    const outcome = await started.done;
    release.state = outcome.state;
    const record = ctx.state.getImport(started.importId);
    if (outcome.state === 'applied') {
      this.status.lastError = null;
    } else {
      const error = record?.error ?? { code: 'INTERNAL', message: 'the import failed' };
      release.error = error;
      const err = new AirlockError(error.code as never, error.message);
      // a blob that does not match its digest, or a release the pipeline refuses: not fetched again until the tag moves
      if (error.code === 'DIGEST_MISMATCH' || POLICY_CODES.has(error.code)) this.refuse(started.root, err);
      else this.fail(err);
    }
    this.state.lastRelease = release;
    await this.saveState().catch((err: unknown) => ctx.log.warn('could not save the depot state', { message: errorMessage(err) }));
  }

  /** A sleep that ends early (with an error) when the poller stops. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.stopped) return reject(new AirlockError('REGISTRY_UNREACHABLE', 'the appliance is stopping'));
      const wake = () => {
        clearTimeout(timer);
        this.wakeSleepers.delete(wake);
        reject(new AirlockError('REGISTRY_UNREACHABLE', 'the appliance is stopping'));
      };
      const timer = setTimeout(() => {
        this.wakeSleepers.delete(wake);
        resolve();
      }, ms);
      this.wakeSleepers.add(wake);
    });
  }
}

/** The digest a tag names, by HEAD (one request per idle poll); a missing tag says what to push. */
export async function headDigest(repo: RegistryRepository, tag: string): Promise<string> {
  const where = `${repo.client.registry}/${repo.name}:${tag}`;
  const res = await repo.client.request('HEAD', `/v2/${repo.name}/manifests/${tag}`, { scopes: [`repository:${repo.name}:pull`], what: where, headers: { accept: MANIFEST_ACCEPT }, accept: [404] });
  if (res.status === 404) throw new AirlockError('MANIFEST_UNKNOWN', `${where}: the depot has no such channel tag yet; push a release with airlock bundle push`);
  const digest = res.headers.get('docker-content-digest');
  if (digest && isDigest(digest)) return digest;
  return (await repo.getManifest(tag)).desc.digest;
}
