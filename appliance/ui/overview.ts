/**
 * The Overview: what is in force per channel (with its expiry), how the cluster stands, the data disk, the last
 * import and how long ago it was, and the trust root's expiry — warnings 30 days before, errors past it.
 */
import { dirname } from 'node:path';
import { formatBytes } from '../../src/units.js';
import type { ApplianceContext } from '../context.js';
import { type DiskUsage, diskUsage } from '../disk-usage.js';
import type { ImportRecord } from '../state/store.js';
import { channelStatus } from '../status.js';
import { type Expiry, diskLevel, expiry, sentence } from '../../src/ui/format.js';
import { type Html, badge, digest, facts, html, notice, when } from '../../src/ui/html.js';
import { importRows } from './imports.js';
import { placementsTable } from './cluster-page.js';
import { depotCard } from '../depot/overview-card.js';
import type { DepotView } from '../depot/start.js';

export interface OverviewData {
  lastImport: ImportRecord | undefined;
  /** The data directory and its file system; undefined when statfs failed (the reason). */
  disk: { dir: string; usage?: DiskUsage; problem?: string };
}

/** The data directory is the parent of the blob store. */
export async function overviewData(ctx: ApplianceContext): Promise<OverviewData> {
  const dir = dirname(ctx.cas.dir);
  const disk: OverviewData['disk'] = { dir };
  try {
    disk.usage = await diskUsage(dir);
  } catch (err) {
    disk.problem = err instanceof Error ? err.message : String(err);
  }
  return { lastImport: ctx.state.listImports(1)[0], disk };
}

export function trustExpiry(ctx: ApplianceContext): Expiry {
  return expiry('the trust root', ctx.trust.expires, ctx.now(), 'new imports are refused until a new trust root is installed', 'install its successor before then');
}

export function overview(ctx: ApplianceContext, data: OverviewData): Html {
  const now = ctx.now();
  const trust = trustExpiry(ctx);
  const notices: Html[] = [];
  if (trust.level !== 'ok') notices.push(notice(trust.level, html`${sentence(trust.text)} (<a href="/ui/trust">trust root</a>).`, 'trust-expiry'));
  const channels = channelStatus(ctx);
  const cards = channels.map((c) => {
    const held = ctx.state.heldBundleRecord(c.rootDigest);
    const exp = expiry('the bundle in force', held?.expires, now, 'import a newer one', 'import a newer one before then');
    if (exp.level !== 'ok') notices.push(notice(exp.level, `Channel ${c.channel}: ${exp.text}.`));
    return html`<section class="card"><h2>Channel ${c.channel}</h2>${facts([
      ['Bundle in force', html`${c.name} ${digest(c.rootDigest)}`],
      ['Sequence', c.sequence],
      ['Signed by', html`${(held?.summary.signers ?? []).map((k) => html`<div>${digest(k)} ${ctx.trust.keys[k]?.name ?? ''}</div>`)}`],
      ['Applied', when(c.appliedAt, now)],
      ['Expires', html`<span class="${exp.level}">${held?.expires ? html`${when(held.expires, now)}${exp.level === 'error' ? ' (expired)' : ''}` : 'never'}</span>`],
      [
        'Cluster',
        html`${badge(c.sync, 'Sync')} ${badge(c.health, 'Health')} ${c.drifted ? html`<a href="/ui/cluster">${c.drifted} drifted</a>` : ''} ${c.reason ? html`<div class="muted">${c.reason}</div>` : ''}`,
      ],
    ])}</section>`;
  });
  const disk = data.disk;
  const diskLine = disk.usage
    ? html`<div class="${diskLevel(disk.usage)}"><strong>${formatBytes(disk.usage.freeBytes)}</strong> free of ${formatBytes(disk.usage.totalBytes)}</div>
      <meter id="disk-meter" min="0" max="${disk.usage.totalBytes}" low="${disk.usage.totalBytes * 0.9}" high="${disk.usage.totalBytes * 0.98}" optimum="0" value="${disk.usage.usedBytes}" title="${Math.round((100 * disk.usage.usedBytes) / Math.max(1, disk.usage.totalBytes))}% used">${formatBytes(disk.usage.usedBytes)} used</meter>
      <div class="muted">${formatBytes(disk.usage.usedBytes)} used (${Math.round((100 * disk.usage.usedBytes) / Math.max(1, disk.usage.totalBytes))}%) · <span class="mono">${disk.dir}</span></div>`
    : html`<span class="error">cannot read (${disk.problem ?? 'unknown'})</span>`;
  if (disk.usage && diskLevel(disk.usage) !== 'ok') notices.push(notice(diskLevel(disk.usage), `The data disk has ${formatBytes(disk.usage.freeBytes)} free: imports that do not fit are refused.`));
  const depot = ctx.depot ? depotCard(ctx.depot.view() as DepotView, now) : undefined;
  if (depot) notices.push(...depot.notices);
  const last = data.lastImport;
  const site = html`<section class="card" id="site"><h2>This appliance</h2>${facts([
    ['Data disk', diskLine],
    [
      'Last import',
      last
        ? html`<span id="last-import-age">${when(last.finishedAt ?? last.startedAt, now)}</span> ${badge(last.state, 'Outcome')} <a href="/ui/imports/${last.id}">${last.id}</a>`
        : html`<span class="muted">none yet</span>`,
    ],
    ['Trust root', html`<span class="${trust.level}" id="trust-countdown">version ${ctx.trust.version}, ${trust.text.replace(/^the trust root /, '')}</span>`],
  ])}</section>${depot?.card ?? ''}`;
  return html`${notices}${channels.length ? html`<div class="cards">${cards}${site}</div>` : html`<p class="card">No bundle imported yet. <a href="/ui/import">Import one</a>.</p>${site}`}
    ${placementsTable(ctx)}
    <h2>Last import</h2>${last ? importRows([last], now) : html`<p class="muted">none</p>`}`;
}
