/**
 * The bodies of the UI's pages, each rendered from the state in one pass (one round trip to show a page). The
 * Overview is in overview.ts, an import's page in import-detail.ts.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PARTS_INDEX_SUFFIX } from '../../src/bundle/parts.js';
import type { ApplianceContext } from '../context.js';
import { type Expiry, sentence } from '../../src/ui/format.js';
import { type Html, at, digest, html, notice, rows, when } from '../../src/ui/html.js';
import { importRows } from './imports.js';
import { trustExpiry } from './overview.js';
import { clusterPage } from './cluster-page.js';

export async function importPage(media: string | undefined, trustRoot: Expiry): Promise<Html> {
  const files = media ? await bundlesUnder(media) : [];
  return html`${trustRoot.level !== 'ok' ? notice(trustRoot.level, `${sentence(trustRoot.text)}.`, 'trust-expiry') : ''}<section class="card"><h2>Upload a bundle</h2>
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

export const HISTORY_PAGE = 25;

/** Bundles held (to re-apply), then every import, newest first, HISTORY_PAGE a page (`?page=N`, from 1). */
export function history(ctx: ApplianceContext, canApply: boolean, csrf: string, pageNumber = 1): Html {
  const now = ctx.now();
  const imports = ctx.state.listImports(10_000);
  const n = pageOf(pageNumber);
  const skip = (n - 1) * HISTORY_PAGE;
  const shown = imports.slice(skip, skip + HISTORY_PAGE);
  const inForce = new Set(ctx.state.status().map((c) => c.rootDigest));
  const held = [...new Map(imports.filter((r) => r.state === 'applied' && r.rootDigest).map((r) => [r.rootDigest ?? '', r])).values()];
  return html`<h2>Bundles held on site</h2>${rows(
    ['Bundle', 'Channel', 'Sequence', 'Root', ''],
    held.map((r) => [
      r.name ?? '',
      r.channel ?? '',
      r.sequence ?? '',
      digest(r.rootDigest),
      inForce.has(r.rootDigest ?? '')
        ? html`<span class="muted">in force</span>`
        : canApply
          ? html`<form method="post" action="/ui/bundles/${r.rootDigest ?? ''}/apply" data-confirm="Re-apply ${r.name ?? ''} sequence ${r.sequence ?? ''} to channel ${r.channel ?? ''}? The cluster will be synced to it."><input type="hidden" name="_csrf" value="${csrf}"><button class="secondary">Re-apply</button></form>`
          : html``,
    ]),
    { empty: 'No bundle applied yet.' },
  )}
    <h2>Every import</h2>${pager('/ui/history', 'Import history pages', n, skip, shown.length, imports.length > skip + HISTORY_PAGE)}${importRows(shown, now, n > 1 ? 'No older imports.' : 'No import yet.')}`;
}

export function cluster(ctx: ApplianceContext, name?: string): Html {
  return clusterPage(ctx, name);
}

export function registry(ctx: ApplianceContext, host: string): Html {
  const repos = ctx.state.repositories();
  return html`<p class="muted">Pull from <span class="mono">${host}/REPOSITORY:TAG</span>.</p>${rows(
    ['Repository', 'Tags'],
    repos.map((r) => [html`<span class="mono">${r}</span>`, ctx.state.tagsOf(r).join(', ')]),
    { empty: 'No image is served yet.' },
  )}`;
}

export function trust(ctx: ApplianceContext): Html {
  const t = ctx.trust;
  const exp = trustExpiry(ctx);
  const role = (name: 'root' | 'release') => html`<h2>${name} keys: ${t.roles[name].threshold} of ${t.roles[name].keyids.length} must sign</h2>
    ${rows(['Key id', 'Name'], t.roles[name].keyids.map((k) => [html`<span class="mono">${k}</span>`, t.keys[k]?.name ?? '']))}`;
  return html`${exp.level !== 'ok' ? notice(exp.level, `${sentence(exp.text)}.`, 'trust-expiry') : ''}<p>Trust root version <strong>${t.version}</strong>, expires <strong>${when(t.expires, ctx.now())}</strong> (${t.expires}).</p>${role('root')}${role('release')}
    <h2>This appliance</h2><p>Site receipts are signed with key <span class="mono">${ctx.siteKey.keyid}</span>. <a href="/api/v1/receipt">Download the site receipt</a> · <a href="/api/v1/receipt/key">its public key</a></p>`;
}

export const AUDIT_PAGE = 25;

/** The audit log, newest first, AUDIT_PAGE entries a page (`?page=N`, from 1). */
export function audit(ctx: ApplianceContext, pageNumber: number): Html {
  const n = pageOf(pageNumber);
  const skip = (n - 1) * AUDIT_PAGE;
  const entries = ctx.state.auditLog(skip + AUDIT_PAGE + 1).slice(skip);
  const more = entries.length > AUDIT_PAGE;
  const now = ctx.now();
  const nav = pager('/ui/audit', 'Audit log pages', n, skip, Math.min(AUDIT_PAGE, entries.length), more);
  return html`${nav}${rows(
    ['At', 'Who', 'What', 'Detail'],
    entries.slice(0, AUDIT_PAGE).map((a) => [at(a.at, now), a.actor, a.action, html`<span class="mono">${JSON.stringify(a.detail)}</span>`]),
    { empty: n > 1 ? 'No older entries.' : 'Nothing recorded yet.' },
  )}${entries.length > 10 ? nav : ''}`;
}

/** Newer and Older links around page `n` of a list (`?page=N`). */
function pager(path: string, label: string, n: number, skip: number, count: number, more: boolean): Html {
  if (n === 1 && !more) return html``;
  return html`<nav class="pager" aria-label="${label}">${n > 1 ? html`<a href="${path}?page=${n - 1}" rel="prev">← Newer</a>` : ''}<span>Page ${n}${count ? ` · ${skip + 1}–${skip + count}` : ''}</span>${more ? html`<a href="${path}?page=${n + 1}" rel="next">Older →</a>` : ''}</nav>`;
}

/** A page number from the query: 1 unless it is a whole number from 1 to 100,000. */
function pageOf(value: number): number {
  return Number.isSafeInteger(value) && value >= 1 && value <= 100_000 ? value : 1;
}
