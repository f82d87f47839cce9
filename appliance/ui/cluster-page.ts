/**
 * The UI's placement views: the table of every placement on the Overview, and the Cluster page, one view per
 * cluster of the site (tabs), each with its placements (channel, sync, health, last sync, reason) and objects.
 */
import type { ApplianceContext } from '../context.js';
import type { BranchStatus } from '../reconcile/reconciler.js';
import { placementStatus } from '../status.js';
import { type Html, badge, digest, facts, html, rows as table } from '../../src/ui/html.js';

/** Every placement, one row each (Overview). */
export function placementsTable(ctx: ApplianceContext): Html {
  const rows = placementStatus(ctx);
  if (!ctx.reconciler || !rows.length) return html``;
  return html`<h2>Placements</h2>${table(
    ['Cluster', 'Channel', 'Sync', 'Health', 'Drifted', 'Last sync', 'Reason'],
    rows.map((p) => [
      html`<a href="/ui/cluster?name=${encodeURIComponent(p.cluster)}">${p.cluster}</a>`,
      p.channel,
      badge(p.sync),
      badge(p.health),
      p.drifted,
      lastSyncText(p.lastSync),
      html`<span class="muted">${p.reason ?? ''}</span>`,
    ]),
    { className: 'placements' },
  )}`;
}

function lastSyncText(last: unknown): string {
  const l = last as { at?: string; ok?: boolean } | null;
  return l?.at ? `${l.at}${l.ok ? '' : ' (failed)'}` : 'never';
}

/** The Cluster page: tabs for the site's clusters, then the chosen cluster's placements and objects. */
export function clusterPage(ctx: ApplianceContext, wanted: string | undefined): Html {
  const r = ctx.reconciler;
  if (!r) return html`<p class="card muted">${ctx.reconcileDisabled ?? 'The cluster is not reconciled.'}</p>`;
  const clusters = r.opts.clusters;
  const chosen = clusters.find((c) => c.name === wanted) ?? clusters[0];
  if (!chosen) return html`<p class="card muted">The site has no clusters.</p>`;
  const tabs = html`<nav class="tabs">${clusters.map(
    (c) => html`<a href="/ui/cluster?name=${encodeURIComponent(c.name)}"${c.name === chosen.name ? html` aria-current="page" class="current"` : ''}>${c.name}</a> `,
  )}</nav>`;
  const labels = Object.entries(chosen.labels).map(([k, v]) => `${k}=${v}`).join(', ');
  const head = html`<section class="card cluster" data-cluster="${chosen.name}"><h2>Cluster ${chosen.name}</h2>${facts([
    ['API server', html`<span class="mono">${chosen.api.server}</span>`],
    ['Labels', html`<span class="mono">${labels || 'none'}</span>`],
    ['Reconcile', chosen.reconcile === 'airlock' ? 'airlock' : 'none (listed only)'],
  ])}</section>`;
  const placements = r.placements().filter((p) => p.cluster === chosen.name);
  const branches = branchesCard(r.branches().filter((b) => b.cluster === chosen.name));
  if (!placements.length) return html`${tabs}${head}${branches}<p class="card muted">${chosen.reconcile === 'none' ? 'airlock only renders this cluster\'s branches; it applies nothing here.' : 'Nothing synced on this cluster yet.'}</p>`;
  return html`${tabs}${head}${branches}${placements.map(
    (p) => html`<section class="placement" data-channel="${p.channel}"><h2>Channel ${p.channel} on ${p.cluster} ${badge(p.sync, 'Sync')} ${badge(p.health, 'Health')}</h2>
      <p class="muted">Last sync: ${lastSyncText(p.lastSync ?? null)}${p.checkedAt ? ` · checked ${p.checkedAt}` : ''}${p.drifted ? ` · ${p.drifted} drifted` : ''}</p>
      ${p.renderErrors?.length
        ? html`<div class="error render-errors" role="alert"><p>The render of the bundle in force failed for this cluster: nothing of it was applied, the objects below stay as they were.</p><ul>${p.renderErrors.map((e) => html`<li class="mono">${e}</li>`)}</ul></div>`
        : p.reason ? html`<p class="error">${p.reason}</p>` : ''}
      ${table(
        ['Object', 'Sync', 'Health', 'From'],
        p.objects.map((o) => [
          html`${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}${o.diff ? html`<pre class="diff">${o.diff}</pre>` : ''}`,
          badge(o.sync),
          html`${badge(o.health)}${o.healthMessage ? html`<div class="muted">${o.healthMessage}</div>` : ''}`,
          html`<span class="mono">${o.origin}</span>`,
        ]),
      )}</section>`,
  )}`;
}

/** The cluster's rendered branches (`/git/rendered.git`, one per channel): the tip and the bundle it renders. */
function branchesCard(branches: BranchStatus[]): Html {
  if (!branches.length) return html``;
  return html`<section class="card branches"><h2>Rendered branches</h2>${table(
    ['Branch', 'Commit', 'Bundle root', 'Render'],
    branches.map((b) => [
      html`<span class="mono">${b.branch}</span>`,
      html`<span class="mono">${b.commit?.slice(0, 12) ?? 'none yet'}</span>`,
      b.rootDigest ? digest(b.rootDigest) : '',
      b.errors?.length ? html`<ul class="error">${b.errors.map((e) => html`<li class="mono">${e}</li>`)}</ul>` : 'ok',
    ]),
    { className: 'branches' },
  )}<p class="muted">git clone -b BRANCH …/git/rendered.git</p></section>`;
}
