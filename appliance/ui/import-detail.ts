/**
 * One import's page: live progress while it runs; then, for an applied import, its verification report; for a
 * failed one, the failure (code, message, the stage it stopped at), what the bundle said if it got that far, and
 * what stays in force — a failed import changes nothing.
 */
import type { ApplianceContext } from '../context.js';
import { type ClusterPlan, verificationReport } from '../report.js';
import type { ImportRecord } from '../state/store.js';
import { channelStatus } from '../status.js';
import { formatBytes } from '../../src/units.js';
import { relative } from '../../src/ui/format.js';
import { type Html, at, badge, digest, facts, html, when } from '../../src/ui/html.js';
import { source } from './imports.js';

export async function importDetail(ctx: ApplianceContext, r: ImportRecord): Promise<Html> {
  const now = ctx.now();
  const live = html`<section class="card" id="live" data-id="${r.id}" data-state="${r.state}">
    <p>${badge(r.state, 'Outcome')} stage <strong id="live-stage">${r.stage}</strong> · started ${when(r.startedAt, now)}${r.finishedAt ? html`, ended ${when(r.finishedAt, now)}` : ''}</p>
    <p>source ${source(r.source)}</p>
    <progress id="live-progress" value="${r.progress.bytes}" max="${r.progress.totalBytes ?? Math.max(1, r.progress.bytes)}"></progress>
    <ol class="stages" id="live-stages">${r.stages.map((s, i) => {
      const failedHere = r.state === 'failed' && i === r.stages.length - 1;
      return html`<li class="${failedHere ? 'error' : ''}">${s.stage}${s.ms !== undefined ? ` (${s.ms} ms)` : failedHere ? ' — failed here' : ' …'}</li>`;
    })}</ol></section>`;
  if (r.state === 'running') return live;
  if (r.state === 'failed') return html`${failure(r)}${live}${statement(ctx, r)}${inForce(ctx, r)}`;
  return html`${live}${await report(ctx, r)}`;
}

function failure(r: ImportRecord): Html {
  const code = r.error?.code ?? 'UNKNOWN';
  return html`<section class="card failure" id="failure" role="alert"><h2>This import failed at the ${r.stage} stage</h2>${facts([
    ['Code', html`<strong class="mono">${code}</strong>`],
    ['Reason', r.error?.message ?? 'no reason was recorded'],
    ['Stage', r.stage],
    ...(r.progress.bytes > 0 ? ([['Read', `${formatBytes(r.progress.bytes)}${r.progress.totalBytes ? ` of ${formatBytes(r.progress.totalBytes)}` : ''}`]] as [string, string][]) : []),
  ])}<p class="muted">Nothing of this import was published: the registry, the Git mirror and the cluster still serve what was in force before it.</p></section>`;
}

/** What the signed statement said, when the import got as far as reading it. */
function statement(ctx: ApplianceContext, r: ImportRecord): Html {
  if (!r.name && !r.rootDigest) return html`<section class="card" id="report"><h2>The bundle</h2><p class="muted">The import stopped before the bundle's signed statement was accepted, so nothing about the bundle was recorded; the reason above says what was wrong with it.</p></section>`;
  return html`<section class="card" id="report"><h2>The bundle (as its statement says)</h2>${facts([
    ['Signed by', r.signers.length ? html`${r.signers.map((k) => html`<div>${digest(k)} ${ctx.trust.keys[k]?.name ?? ''}</div>`)}` : html`<span class="muted">no valid signature</span>`],
    ['Bundle', `${r.name ?? ''} on channel ${r.channel ?? ''}, sequence ${r.sequence ?? ''}`],
    ['Root', html`<span class="mono">${r.rootDigest ?? ''}</span>`],
  ])}</section>`;
}

/** What stays in force: the bundle in force on the import's channel, or on every channel when it is not known. */
function inForce(ctx: ApplianceContext, r: ImportRecord): Html {
  const all = channelStatus(ctx);
  const channels = r.channel ? all.filter((c) => c.channel === r.channel) : all;
  const now = ctx.now();
  return html`<section class="card" id="in-force"><h2>What stays in force</h2>${
    channels.length
      ? channels.map((c) => facts([
          ['Channel', c.channel],
          ['Bundle', html`${c.name} ${digest(c.rootDigest)}`],
          ['Sequence', c.sequence],
          ['Applied', when(c.appliedAt, now)],
        ]))
      : html`<p>No bundle was in force${r.channel ? html` on channel ${r.channel}` : ''}, and none is now.</p>`
  }</section>`;
}

async function report(ctx: ApplianceContext, r: ImportRecord): Promise<Html> {
  const report = await verificationReport(ctx, r);
  const now = ctx.now();
  const list = (items: string[]) => (items.length ? html`<ul>${items.map((i) => html`<li class="mono">${i}</li>`)}</ul>` : html`<span class="muted">none</span>`);
  const changes = report.changes;
  return html`<section class="card" id="report"><h2>Verification report</h2>${facts([
    ['Signed by', html`${report.signers.map((s) => html`<div><span class="mono">${s.keyid}</span> ${s.name ?? ''}</div>`)}`],
    ['Bundle', `${report.name ?? ''} on channel ${report.channel ?? ''}, sequence ${report.sequence ?? ''}`],
    ['Created', report.created ? at(report.created, now) : ''],
    ['Expires', report.expires ? html`${at(report.expires, now)} (${relative(new Date(report.expires), now)})` : 'never'],
    ['Root', html`<span class="mono">${report.rootDigest ?? ''}</span>`],
    ['Against', report.previousRoot ? html`<span class="mono">${report.previousRoot}</span>` : 'nothing in force before'],
    ...(changes
      ? ([
          ['Images added', list(changes.imagesAdded)],
          ['Images removed', list(changes.imagesRemoved)],
          ['Git', list(changes.git.map((g) => `${g.name}: ${g.from ? `${g.from.slice(0, 12)} → ` : ''}${g.to.slice(0, 12)}`))],
          ['Objects added', list(changes.objectsAdded)],
          ['Objects changed', list(changes.objectsChanged)],
          ['Objects removed', list(changes.objectsRemoved)],
        ] as [string, Html][])
      : []),
  ])}</section>${report.clusters ? clusterPlans(report.clusters) : ''}`;
}

/** Per cluster of the site: what the bundle places there, or why its render fails there. */
function clusterPlans(plans: ClusterPlan[]): Html {
  const list = (items: string[]) => (items.length ? html`<ul>${items.map((i) => html`<li class="mono">${i}</li>`)}</ul>` : html`<span class="muted">none</span>`);
  return html`<section class="card" id="placements-plan"><h2>Per cluster</h2>${plans.map(
    (p) => html`<section class="cluster-plan" data-cluster="${p.cluster}" data-ok="${String(p.ok)}"><h3>Cluster ${p.cluster} ${badge(p.ok ? 'Rendered' : 'Degraded', 'Render')}${p.reconcile === 'none' ? html` <span class="muted">(rendered to its branch only)</span>` : ''}</h3>${
      p.ok
        ? facts([
            ['Sources placed', list(p.placed)],
            ['Not placed', list(p.notPlaced)],
            ['Objects', String(p.objects)],
            ['Overrides applied', list(p.overrides)],
            ['Values', list(p.values)],
            ...(p.warnings.length ? ([['Warnings', list(p.warnings)]] as [string, Html][]) : []),
          ])
        : html`<div class="error render-errors" role="alert"><p>The render fails on this cluster: nothing of this bundle will be applied there (what is in force stays); the other clusters proceed.</p>${list(p.errors)}</div>`
    }</section>`,
  )}</section>`;
}
