/** The Overview's depot card (`--depot`): where releases come from, last contact, last error, next poll, the last release and bytes saved, receipts. */
import { formatBytes } from '../../src/units.js';
import { type Html, badge, digest, facts, html, notice, when } from '../../src/ui/html.js';
import type { DepotView } from './start.js';

export function depotCard(view: DepotView, now: Date): { card: Html; notices: Html[] } {
  const notices: Html[] = [];
  const last = view.lastRelease;
  if (view.lastError) notices.push(notice(view.consecutiveFailures > 0 ? 'warn' : 'error', `Depot ${view.url}: ${view.lastError.code}: ${view.lastError.message}`, 'depot-error'));
  const card = html`<section class="card" id="depot"><h2>Depot</h2>${facts([
    ['Source', html`<span class="mono">${view.url}</span> channel ${view.channel}${view.rateBytesPerSecond ? html` · at most ${formatBytes(view.rateBytesPerSecond)}/s` : ''}`],
    ['Last contact', view.lastContact ? when(view.lastContact, now) : html`<span class="warn">never</span>`],
    ['Last error', view.lastError ? html`<span class="error">${view.lastError.code}</span> ${when(view.lastError.at, now)}${view.consecutiveFailures ? html` (${view.consecutiveFailures} failed polls in a row)` : ''}` : html`<span class="muted">none</span>`],
    ['Next poll', view.nextPoll ? when(view.nextPoll, now) : html`<span class="muted">—</span>`],
    ['Target', view.target ? (view.target.root ? html`${digest(view.target.root)}${view.target.wave ? html` · wave ${view.target.wave} (plan ${view.target.planSerial ?? ''})` : ''}` : html`<span class="muted">${view.target.reason ?? 'nothing'}</span>`) : html`<span class="muted">not known yet</span>`],
    [
      'Last release',
      last
        ? html`${badge(last.state, 'Outcome')} sequence ${last.sequence} <a href="/ui/imports/${last.importId}">${last.importId}</a>
          <div class="muted">fetched ${formatBytes(last.fetchedBytes)} of ${formatBytes(last.missingBytes)} missing · saved ${formatBytes(last.savedBytes)} already held${last.resumedBytes ? html` · ${formatBytes(last.resumedBytes)} resumed` : ''}</div>`
        : html`<span class="muted">none yet</span>`,
    ],
    ['Receipts', html`<span class="mono">${view.report.repository}:latest</span> ${view.report.lastPush ? html`pushed ${when(view.report.lastPush, now)}` : html`<span class="muted">not pushed yet</span>`}${view.report.lastError ? html` <span class="warn">(${view.report.lastError.code})</span>` : ''}`],
  ])}</section>`;
  return { card, notices };
}
