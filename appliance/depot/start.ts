/**
 * The appliance's depot side (`--depot`): connect to the registry (Docker credentials, proxy variables, the
 * `--depot-*` TLS flags), poll for releases, and push receipts back. Nothing here can stop the appliance: every
 * failure is logged and shown in status.
 */
import type { CredentialLookup } from '../../src/registry/credentials.js';
import { connectDepot } from '../../src/depot/connect.js';
import { parseDepotRef } from '../../src/depot/layout.js';
import type { ApplianceContext } from '../context.js';
import type { ImportManager } from '../import/manager.js';
import { receiptSiteName, siteReceipt } from '../receipt.js';
import { type DepotStatus, DepotPoller, type ResolveTarget } from './poller.js';
import { planTarget } from './plan-target.js';
import { type ReportStatus, ReceiptReporter } from './report.js';

export interface DepotConfig {
  /** `oci://HOST/REPO`. */
  url: string;
  intervalMs: number;
  /** Bytes per second for blob downloads (metered links). */
  rate?: number;
  reportIntervalMs: number;
  plainHttp?: boolean;
  cacerts?: string[];
  insecure?: boolean;
  credentials?: CredentialLookup;
  env?: NodeJS.ProcessEnv;
  /** A stalled download (no byte for this long) is cut and resumed (default 30 s). */
  readTimeoutMs?: number;
  blobAttempts?: number;
  /** How the release to take is found (default: the channel's release plan where there is one, else its tag). */
  resolveTarget?: ResolveTarget;
}

export type DepotView = DepotStatus & { report: ReportStatus };

export interface RunningDepot {
  poller: DepotPoller;
  reporter: ReceiptReporter;
  view(): DepotView;
  stop(): Promise<void>;
}

export async function startDepot(ctx: ApplianceContext, imports: ImportManager, dataDir: string, config: DepotConfig): Promise<RunningDepot> {
  const ref = parseDepotRef(config.url);
  const channel = ctx.channel;
  if (!channel) throw new Error('startDepot: the depot needs the channel the appliance follows');
  const { repo, close } = await connectDepot({
    ref,
    ...(config.credentials ? { credentials: config.credentials } : {}),
    ...(config.cacerts ? { cacerts: config.cacerts } : {}),
    insecure: config.insecure === true,
    plainHttp: config.plainHttp === true,
    env: config.env ?? {},
  });
  const reporter = new ReceiptReporter({ ctx, depotRepo: repo, site: receiptSiteName(ctx), intervalMs: config.reportIntervalMs, receipt: () => siteReceipt(ctx) });
  const poller = new DepotPoller({
    ctx,
    imports,
    repo,
    url: `oci://${ref.registry}/${ref.repository}`,
    channel,
    dataDir,
    intervalMs: config.intervalMs,
    ...(config.rate ? { rate: config.rate } : {}),
    ...(config.readTimeoutMs ? { readTimeoutMs: config.readTimeoutMs } : {}),
    ...(config.blobAttempts ? { blobAttempts: config.blobAttempts } : {}),
    resolveTarget: config.resolveTarget ?? planTarget(() => ctx.site?.labels ?? {}, () => ctx.trust),
    onPolled: () => reporter.noticeApplied(),
  });
  await poller.start();
  reporter.start();
  ctx.log.info('following the depot', { depot: config.url, channel, intervalMs: config.intervalMs, rate: config.rate ?? null, receipts: reporter.status.repository });
  return {
    poller,
    reporter,
    view: () => ({ ...poller.view(), report: { ...reporter.status } }),
    async stop() {
      await poller.stop();
      await reporter.stop();
      close();
    },
  };
}
