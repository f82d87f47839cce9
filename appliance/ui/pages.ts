/** The bodies of the UI's pages, each rendered from the state in one pass (one round trip to show a page). */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PARTS_INDEX_SUFFIX } from '../../src/bundle/parts.js';
import type { ApplianceContext } from '../context.js';
import { verificationReport } from '../report.js';
import type { ImportRecord } from '../state/store.js';
import { channelStatus } from '../status.js';
import { type Html, badge, html, short } from './html.js';
import { clusterPage, placementsTable } from './cluster-page.js';

export function overview(ctx: ApplianceContext, lastImport: ImportRecord | undefined): Html {
  const channels = channelStatus(ctx);
  const cards = channels.map((c) => {
    const held = ctx.state.heldBundleRecord(c.rootDigest);
    return html`<section class="card"><h2>Channel ${c.channel}</h2><table>
      <tr><th>Bundle in force</th><td>${c.name} <span class="mono">${short(c.rootDigest)}</span></td></tr>
      <tr><th>Sequence</th><td>${c.sequence}</td></tr>
      <tr><th>Signed by</th><td>${(held?.summary.signers ?? []).map((k) => html`<div class="mono">${short(k)} ${ctx.trust.keys[k]?.name ?? ''}</div>`)}</td></tr>
      <tr><th>Applied at</th><td>${c.appliedAt}</td></tr>
      <tr><th>Cluster</th><td>${badge(c.sync)} ${badge(c.health)} ${c.drifted ? html`<a href="/ui/cluster">${c.drifted} drifted</a>` : ''} ${c.reason ? html`<div class="muted">${c.reason}</div>` : ''}</td></tr>
    </table></section>`;
  });
  return html`${channels.length ? html`<div class="cards">${cards}</div>` : html`<p class="card">No bundle imported yet. <a href="/ui/import">Import one</a>.</p>`}
    ${placementsTable(ctx)}
    <h2>Last import</h2>${lastImport ? importRow(lastImport, true) : html`<p class="muted">none</p>`}`;
}

function importRow(r: ImportRecord, alone = false): Html {
  const row = html`<tr><td><a href="/ui/imports/${r.id}">${r.id}</a></td><td>${badge(r.state)}${r.idempotent ? html` <span class="muted">already in force</span>` : ''}</td><td>${r.name ?? ''}</td><td>${r.channel ?? ''}</td><td>${r.sequence ?? ''}</td><td class="mono">${r.source}</td><td>${r.startedAt}</td><td class="error">${r.error ? `${r.error.code}: ${r.error.message}` : ''}</td></tr>`;
  return alone ? html`<table>${importHead()}${row}</table>` : row;
}

function importHead(): Html {
  return html`<tr><th>Import</th><th>Outcome</th><th>Bundle</th><th>Channel</th><th>Sequence</th><th>Source</th><th>Started</th><th>Error</th></tr>`;
}

export async function importPage(media: string | undefined): Promise<Html> {
  const files = media ? await bundlesUnder(media) : [];
  return html`<section class="card"><h2>Upload a bundle</h2>
    <form id="upload"><input type="file" name="bundle" accept=".airlock" required> <button>Upload and import</button></form>
    <progress id="upload-progress" value="0" max="1"></progress><div id="upload-note" class="muted"></div></section>
    <section class="card"><h2>From the media directory</h2>
    ${media
      ? files.length
        ? html`<form id="media"><select name="path">${files.map((f) => html`<option>${f}</option>`)}</select> <button>Import</button></form><div id="media-note" class="muted"></div>`
        : html`<p class="muted">No bundles (*.airlock or *${PARTS_INDEX_SUFFIX}) under ${media}.</p>`
      : html`<p class="muted">The appliance was started without --media.</p>`}</section>`;
}

/** Bundle files and parts indexes under the media directory, two levels deep, as paths relative to it. */
async function bundlesUnder(media: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, e.name);
      if (e.isDirectory() && depth < 2) await walk(path, depth + 1);
      else if (e.isFile() && (e.name.endsWith('.airlock') || e.name.endsWith(PARTS_INDEX_SUFFIX))) out.push(relative(media, path));
    }
  };
  await walk(media, 0);
  return out.sort();
}

export async function importDetail(ctx: ApplianceContext, r: ImportRecord): Promise<Html> {
  const live = html`<section class="card" id="live" data-id="${r.id}" data-state="${r.state}">
    <p>${badge(r.state)} stage <strong id="live-stage">${r.stage}</strong> · source <span class="mono">${r.source}</span></p>
    <progress id="live-progress" value="${r.progress.bytes}" max="${r.progress.totalBytes ?? Math.max(1, r.progress.bytes)}"></progress>
    <ol class="stages" id="live-stages">${r.stages.map((s) => html`<li>${s.stage}${s.ms !== undefined ? ` (${s.ms} ms)` : ' …'}</li>`)}</ol>
    ${r.error ? html`<p class="error">${r.error.code}: ${r.error.message}</p>` : ''}</section>`;
  if (r.state === 'running') return live;
  const report = await verificationReport(ctx, r);
  const list = (items: string[]) => (items.length ? html`<ul>${items.map((i) => html`<li class="mono">${i}</li>`)}</ul>` : html`<span class="muted">none</span>`);
  return html`${live}<section class="card" id="report"><h2>Verification report</h2><table>
    <tr><th>Signed by</th><td>${report.signers.map((s) => html`<div><span class="mono">${s.keyid}</span> ${s.name ?? ''}</div>`)}</td></tr>
    <tr><th>Bundle</th><td>${report.name ?? ''} on channel ${report.channel ?? ''}, sequence ${report.sequence ?? ''}</td></tr>
    <tr><th>Created</th><td>${report.created ?? ''}</td></tr><tr><th>Expires</th><td>${report.expires ?? 'never'}</td></tr>
    <tr><th>Root</th><td class="mono">${report.rootDigest ?? ''}</td></tr>
    <tr><th>Against</th><td class="mono">${report.previousRoot ?? 'nothing in force before'}</td></tr>
    ${report.changes
      ? html`<tr><th>Images added</th><td>${list(report.changes.imagesAdded)}</td></tr><tr><th>Images removed</th><td>${list(report.changes.imagesRemoved)}</td></tr>
        <tr><th>Git</th><td>${list(report.changes.git.map((g) => `${g.name}: ${g.from ? `${g.from.slice(0, 12)} → ` : ''}${g.to.slice(0, 12)}`))}</td></tr>
        <tr><th>Objects added</th><td>${list(report.changes.objectsAdded)}</td></tr><tr><th>Objects changed</th><td>${list(report.changes.objectsChanged)}</td></tr>
        <tr><th>Objects removed</th><td>${list(report.changes.objectsRemoved)}</td></tr>`
      : ''}
  </table></section>`;
}

export function history(ctx: ApplianceContext, canApply: boolean, csrf: string): Html {
  const imports = ctx.state.listImports();
  const inForce = new Set(ctx.state.status().map((c) => c.rootDigest));
  const held = [...new Map(imports.filter((r) => r.state === 'applied' && r.rootDigest).map((r) => [r.rootDigest ?? '', r])).values()];
  return html`<h2>Bundles held on site</h2><table><tr><th>Bundle</th><th>Channel</th><th>Sequence</th><th>Root</th><th></th></tr>
    ${held.map(
      (r) => html`<tr><td>${r.name ?? ''}</td><td>${r.channel ?? ''}</td><td>${r.sequence ?? ''}</td><td class="mono">${short(r.rootDigest)}</td><td>${
        inForce.has(r.rootDigest ?? '')
          ? html`<span class="muted">in force</span>`
          : canApply
            ? html`<form method="post" action="/ui/bundles/${r.rootDigest ?? ''}/apply" data-confirm="Re-apply ${r.name ?? ''} sequence ${r.sequence ?? ''} to channel ${r.channel ?? ''}? The cluster will be synced to it."><input type="hidden" name="_csrf" value="${csrf}"><button class="secondary">Re-apply</button></form>`
            : ''
      }</td></tr>`,
    )}</table>
    <h2>Every import</h2><table>${importHead()}${imports.map((r) => importRow(r))}</table>`;
}

export function cluster(ctx: ApplianceContext, name?: string): Html {
  return clusterPage(ctx, name);
}

export function registry(ctx: ApplianceContext, host: string): Html {
  const repos = ctx.state.repositories();
  return html`<p class="muted">Pull from <span class="mono">${host}/REPOSITORY:TAG</span>.</p><table><tr><th>Repository</th><th>Tags</th></tr>
    ${repos.map((r) => html`<tr><td class="mono">${r}</td><td>${ctx.state.tagsOf(r).join(', ')}</td></tr>`)}</table>`;
}

export function trust(ctx: ApplianceContext): Html {
  const t = ctx.trust;
  const role = (name: 'root' | 'release') => html`<h2>${name} keys: ${t.roles[name].threshold} of ${t.roles[name].keyids.length} must sign</h2>
    <table><tr><th>Key id</th><th>Name</th></tr>${t.roles[name].keyids.map((k) => html`<tr><td class="mono">${k}</td><td>${t.keys[k]?.name ?? ''}</td></tr>`)}</table>`;
  return html`<p>Trust root version <strong>${t.version}</strong>, expires <strong>${t.expires}</strong>.</p>${role('root')}${role('release')}
    <h2>This appliance</h2><p>Site receipts are signed with key <span class="mono">${ctx.siteKey.keyid}</span>. <a href="/api/v1/receipt">Download the site receipt</a> · <a href="/api/v1/receipt/key">its public key</a></p>`;
}

export function audit(ctx: ApplianceContext): Html {
  return html`<table><tr><th>At</th><th>Who</th><th>What</th><th>Detail</th></tr>${ctx.state
    .auditLog()
    .map((a) => html`<tr><td>${a.at}</td><td>${a.actor}</td><td>${a.action}</td><td class="mono">${JSON.stringify(a.detail)}</td></tr>`)}</table>`;
}

export function users(ctx: ApplianceContext, isAdmin: boolean, csrf: string, message = ''): Html {
  const list = ctx.state.accounts.users();
  return html`${message ? html`<p class="card">${message}</p>` : ''}<table><tr><th>Name</th><th>Role</th><th>Since</th><th></th></tr>${list.map(
    (u) => html`<tr><td>${u.name}</td><td>${u.role}</td><td>${u.createdAt}</td><td>${
      isAdmin && u.name !== 'admin'
        ? html`<form method="post" action="/ui/users/${u.name}/delete" data-confirm="Delete the account ${u.name}?"><input type="hidden" name="_csrf" value="${csrf}"><button class="secondary">Delete</button></form>`
        : ''
    }</td></tr>`,
  )}</table>
  ${isAdmin
    ? html`<section class="card"><h2>Add or change an account</h2><form method="post" action="/ui/users"><input type="hidden" name="_csrf" value="${csrf}">
      <label for="u-name">Name</label><input id="u-name" name="name" required pattern="[a-z0-9._-]{1,64}">
      <label for="u-role">Role</label><select id="u-role" name="role"><option>viewer</option><option>operator</option><option>admin</option></select>
      <label for="u-password">Password (at least 10 characters)</label><input id="u-password" name="password" type="password" required minlength="10">
      <p><button>Save</button></p></form></section>`
    : html`<p class="muted">Only an admin manages accounts.</p>`}`;
}

export function login(message = '', status = ''): Html {
  return html`<section class="card"><form method="post" action="/ui/login">
    ${message ? html`<p class="error" role="alert">${message}</p>` : ''}${status ? html`<p class="muted">${status}</p>` : ''}
    <label for="name">Name</label><input id="name" name="name" autocomplete="username" required>
    <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
    <p><button>Sign in</button></p></form></section>`;
}

export function setup(token: string, message = ''): Html {
  return html`<section class="card"><p>Choose the password of the <strong>admin</strong> account. This link works once.</p>
    <form method="post" action="/ui/setup">${message ? html`<p class="error">${message}</p>` : ''}<input type="hidden" name="token" value="${token}">
    <label for="password">Password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
    <p><button>Create the admin account</button></p></form></section>`;
}
