/**
 * Status back, outbound only: the appliance pushes its signed receipt to the depot at `REPO/sites/SITE:latest`
 * (contract B, ADR 016) after each release applied and every `--report-interval`. Headquarters never connects to a
 * site. A push that fails is tried again at the next turn; nothing on site waits for it.
 */
import { Readable } from 'node:stream';
import { MediaType } from '../../src/descriptor.js';
import { errorMessage, isAirlockError } from '../../src/errors.js';
import { descriptorOf } from '../../src/depot/layout.js';
import { RegistryRepository } from '../../src/registry/repository.js';
import { RECEIPT_PAYLOAD_TYPE } from '../../keys/receipt.js';
import type { ApplianceContext } from '../context.js';

export const EMPTY_CONFIG_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const RECEIPT_TAG = 'latest';

export interface ReportStatus {
  repository: string;
  site: string;
  intervalSeconds: number;
  lastPush: string | null;
  lastReceipt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  nextPush: string | null;
}

/** The repository of a site's receipts below the depot repository. */
export function siteRepository(depotRepo: string, site: string): string {
  return `${depotRepo}/sites/${site}`;
}

/**
 * Receipts up to this size also travel inside their manifest (the layer descriptor's `data`, OCI image-spec 1.1),
 * so headquarters reads a site with one request. A larger receipt (a site holding tens of thousands of blobs) is
 * only the blob: a manifest stays small (the distribution spec asks registries to accept manifests of 4 MiB, no more).
 */
export const INLINE_RECEIPT_LIMIT = 256 * 1024;

/**
 * The manifest that carries a receipt: empty config, the receipt as its one layer, created as an annotation. The
 * layer descriptor embeds the receipt's bytes (`data`, base64) when they are at most `inlineLimit`; the blob is
 * pushed all the same, so any OCI client reads the layer the usual way.
 */
export function receiptManifest(receipt: Buffer, created: string, inlineLimit = INLINE_RECEIPT_LIMIT): Buffer {
  const empty = descriptorOf(Buffer.from('{}'), EMPTY_CONFIG_MEDIA_TYPE);
  const layer = descriptorOf(receipt, RECEIPT_PAYLOAD_TYPE);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: RECEIPT_PAYLOAD_TYPE,
      config: empty,
      layers: [receipt.length <= inlineLimit ? { ...layer, data: receipt.toString('base64') } : layer],
      annotations: { 'org.opencontainers.image.created': created },
    }),
  );
}

/** Pushes one signed receipt (the text signReceipt returns) as `REPO/sites/SITE:latest`. */
export async function pushReceipt(repo: RegistryRepository, text: string, created: string, inlineLimit = INLINE_RECEIPT_LIMIT): Promise<string> {
  const bytes = Buffer.from(text);
  const empty = Buffer.from('{}');
  await repo.push(descriptorOf(empty, EMPTY_CONFIG_MEDIA_TYPE), Readable.from([empty]));
  await repo.push(descriptorOf(bytes, RECEIPT_PAYLOAD_TYPE), Readable.from([bytes]));
  const manifest = receiptManifest(bytes, created, inlineLimit);
  const desc = descriptorOf(manifest, MediaType.ociManifest);
  await repo.putManifest(desc, manifest, RECEIPT_TAG);
  return desc.digest;
}

export interface ReporterOptions {
  ctx: ApplianceContext;
  depotRepo: RegistryRepository;
  site: string;
  intervalMs: number;
  /** The signed receipt text (appliance/receipt.ts siteReceipt). */
  receipt: () => Promise<string>;
}

export class ReceiptReporter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failed = false;
  private stopped = false;
  private lastApplied: string | undefined;
  private readonly repo: RegistryRepository;
  readonly status: ReportStatus;

  constructor(private readonly opts: ReporterOptions) {
    this.repo = new RegistryRepository(opts.depotRepo.client, siteRepository(opts.depotRepo.name, opts.site));
    this.status = { repository: `${opts.depotRepo.client.registry}/${this.repo.name}`, site: opts.site, intervalSeconds: opts.intervalMs / 1000, lastPush: null, lastReceipt: null, lastError: null, nextPush: null };
  }

  start(): void {
    this.lastApplied = this.latestApplied();
    this.kick();
  }

  /** Pushes now (after an apply), or right after the push under way. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.push().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      } else this.schedule();
    });
  }

  /** Called on every depot poll: a release applied by any means (stick, upload, depot, rollback) is reported at once. */
  noticeApplied(): void {
    const latest = this.latestApplied();
    if (latest !== this.lastApplied) {
      this.lastApplied = latest;
      this.kick();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private latestApplied(): string | undefined {
    const last = this.opts.ctx.state.listImports(20).find((r) => r.state === 'applied' && !r.idempotent);
    return last?.id;
  }

  private schedule(): void {
    if (this.stopped) return;
    // after a failed push, sooner than the interval (at most a minute later)
    const ms = this.failed ? Math.min(this.opts.intervalMs, 60_000) : this.opts.intervalMs;
    this.failed = false;
    this.status.nextPush = new Date(this.opts.ctx.now().getTime() + ms).toISOString();
    this.timer = setTimeout(() => this.kick(), ms);
    this.timer.unref();
  }

  private async push(): Promise<void> {
    const { ctx } = this.opts;
    try {
      const text = await this.opts.receipt();
      const created = receiptCreated(text) ?? ctx.now().toISOString();
      const digest = await pushReceipt(this.repo, text, created);
      this.status.lastPush = ctx.now().toISOString();
      this.status.lastReceipt = digest;
      this.status.lastError = null;
    } catch (err) {
      const code = isAirlockError(err) ? err.code : 'INTERNAL';
      this.status.lastError = { code, message: errorMessage(err), at: ctx.now().toISOString() };
      ctx.log.warn('receipt push to the depot failed; tried again later', { repository: this.status.repository, code, message: errorMessage(err) });
      this.failed = true;
    }
  }
}

/** `created` of a signed receipt (the envelope's payload), for the manifest's annotation. */
function receiptCreated(text: string): string | undefined {
  try {
    const envelope = JSON.parse(text) as { payload?: string };
    const receipt = JSON.parse(Buffer.from(envelope.payload ?? '', 'base64').toString('utf8')) as { created?: unknown };
    return typeof receipt.created === 'string' ? receipt.created : undefined;
  } catch {
    return undefined;
  }
}
